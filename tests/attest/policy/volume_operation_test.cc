// AllowVolumeOperation: the fixed role rule (controllers never receive keys, whatever the
// document says), the rule's label selector, and rules that changed since attestation.

#include <gtest/gtest.h>

#include "attest/policy/evaluate.h"
#include "tests/attest/policy/policy_test_support.h"

namespace cloak::attest::policy {
namespace {

using testing::Fill;
using testing::MustParse;

using Labels = std::map<std::string, std::string>;

const std::string kDocument = Fill(R"(version: 1
sev-snp: {measurements: [{M1}]}
rules:
  - name: provisioner
    role: controller
    volumes: {labels: {tier: gold}}
  - name: workers
    role: node
    volumes:
      labels: {"csi.storage.k8s.io/pvc/namespace": prod, tier: gold}
  - name: anything
    role: node
)");

const Labels kProdGold = {{"csi.storage.k8s.io/pvc/namespace", "prod"}, {"tier", "gold"}};

TEST(AllowVolumeOperationTest, TheFixedRoleRuleHoldsWhateverTheDocumentSays) {
  const AttestationPolicy policy = MustParse(kDocument);
  struct Case {
    Role role;
    Operation operation;
    bool allowed;
  };
  const std::string controller_rule = "provisioner", node_rule = "workers";
  for (const Case& c : std::vector<Case>{{Role::kController, Operation::kCreateKey, true},
                                         {Role::kController, Operation::kDestroyKey, true},
                                         {Role::kController, Operation::kCloneKey, true},
                                         {Role::kController, Operation::kGetKey, false},
                                         {Role::kController, Operation::kReportState, false},
                                         {Role::kNode, Operation::kGetKey, true},
                                         {Role::kNode, Operation::kReportState, true},
                                         {Role::kNode, Operation::kCreateKey, false},
                                         {Role::kNode, Operation::kDestroyKey, false},
                                         {Role::kNode, Operation::kCloneKey, false}}) {
    const std::string& rule = c.role == Role::kController ? controller_rule : node_rule;
    const absl::Status status = AllowVolumeOperation(policy, rule, c.role, c.operation, kProdGold);
    EXPECT_EQ(status.ok(), c.allowed)
        << RoleName(c.role) << " " << OperationName(c.operation) << ": " << status;
    if (!c.allowed) {
      EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
    }
  }
  EXPECT_EQ(
      AllowVolumeOperation(policy, "provisioner", Role::kController, Operation::kGetKey, kProdGold)
          .message(),
      "role controller may not call GetVolumeKey: controllers manage keys but never "
      "receive them");
}

TEST(AllowVolumeOperationTest, AControllerRuleCannotBeUsedToReceiveKeys) {
  // The document's controller rule, presented as a node: the rule gives another role.
  const AttestationPolicy policy = MustParse(kDocument);
  EXPECT_EQ(AllowVolumeOperation(policy, "provisioner", Role::kNode, Operation::kGetKey,
                                 {{"tier", "gold"}})
                .message(),
            "rules[0]: rule provisioner now gives role controller, not node; attest again");
}

TEST(AllowVolumeOperationTest, LabelSelectorMustMatchEveryLabel) {
  const AttestationPolicy policy = MustParse(kDocument);
  EXPECT_TRUE(
      AllowVolumeOperation(policy, "workers", Role::kNode, Operation::kGetKey, kProdGold).ok());
  Labels extra = kProdGold;
  extra["app"] = "db";
  EXPECT_TRUE(AllowVolumeOperation(policy, "workers", Role::kNode, Operation::kGetKey, extra).ok());

  Labels dev = kProdGold;
  dev["csi.storage.k8s.io/pvc/namespace"] = "dev";
  EXPECT_EQ(AllowVolumeOperation(policy, "workers", Role::kNode, Operation::kGetKey, dev).message(),
            "rules[1].volumes.labels.csi.storage.k8s.io/pvc/namespace: the volume's label is "
            "\"dev\"; rule workers requires \"prod\"");
  EXPECT_EQ(AllowVolumeOperation(policy, "workers", Role::kNode, Operation::kReportState,
                                 {{"tier", "gold"}})
                .message(),
            "rules[1].volumes.labels.csi.storage.k8s.io/pvc/namespace: the volume has no label "
            "csi.storage.k8s.io/pvc/namespace; rule workers requires \"prod\"");
  EXPECT_FALSE(AllowVolumeOperation(policy, "provisioner", Role::kController, Operation::kCreateKey,
                                    {{"tier", "silver"}})
                   .ok());
  EXPECT_TRUE(AllowVolumeOperation(policy, "provisioner", Role::kController, Operation::kCloneKey,
                                   {{"tier", "gold"}})
                  .ok());
  // No selector: any volume.
  EXPECT_TRUE(AllowVolumeOperation(policy, "anything", Role::kNode, Operation::kGetKey, {}).ok());
}

TEST(AllowVolumeOperationTest, ARuleThatIsGoneRefuses) {
  const AttestationPolicy policy = MustParse(kDocument);
  EXPECT_EQ(AllowVolumeOperation(policy, "old-rule", Role::kNode, Operation::kGetKey, {}).message(),
            "rules: the policy has no rule \"old-rule\" (any more); attest again");
}

}  // namespace
}  // namespace cloak::attest::policy
