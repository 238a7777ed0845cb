// Evaluation of verified SEV-SNP and TPM claims: each check of the sections, rule order,
// identities, and the development-only none section.

#include "attest/policy/evaluate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "attest/policy/defaults.h"
#include "tests/attest/policy/policy_test_support.h"

namespace cloak::attest::policy {
namespace {

using testing::Array;
using testing::BaseDocument;
using testing::Bytes;
using testing::Fill;
using testing::GoodSnpClaims;
using testing::GoodTpmClaims;
using ::testing::HasSubstr;
using testing::MustParse;

constexpr std::uint64_t kDebugBit = 1ull << 19;

// One evaluation: a document (empty: BaseDocument()), a change to good claims, and the
// exact refusal (empty: accepted).
template <typename Claims>
struct EvalCase {
  std::string name;
  std::string document;
  std::function<void(Claims&)> change;
  std::string error;
};
using SnpCase = EvalCase<SnpClaims>;
using TpmCase = EvalCase<TpmClaims>;

template <typename Claims, typename Evaluate>
void RunCases(const std::vector<EvalCase<Claims>>& cases, Claims (*good)(), Evaluate evaluate) {
  for (const EvalCase<Claims>& c : cases) {
    const AttestationPolicy policy = MustParse(c.document.empty() ? BaseDocument() : c.document);
    Claims claims = good();
    c.change(claims);
    absl::StatusOr<PolicyDecision> decision = evaluate(policy, claims);
    if (c.error.empty()) {
      EXPECT_TRUE(decision.ok()) << c.name << ": " << decision.status();
    } else {
      ASSERT_FALSE(decision.ok()) << c.name;
      EXPECT_EQ(decision.status().code(), absl::StatusCode::kPermissionDenied) << c.name;
      EXPECT_EQ(decision.status().message(), c.error) << c.name;
    }
  }
}

std::string SnpDocument(const std::string& section) {
  return Fill("version: 1\nsev-snp: {measurements: [{M1}, {M2}]" + section +
              "}\nrules: [{name: w, role: node}]\n");
}

TEST(EvaluateSnpTest, EachCheckOfTheSection) {
  const std::vector<SnpCase> cases = {
      {"good claims", "", [](SnpClaims&) {}, ""},
      {"debug refused by default", "", [](SnpClaims& c) { c.guest_policy |= kDebugBit; },
       "sev-snp.allow_debug: the report's guest policy allows debugging"},
      {"debug allowed explicitly", SnpDocument(", allow_debug: true"),
       [](SnpClaims& c) { c.guest_policy |= kDebugBit; }, ""},
      {"vmpl 1 refused", "", [](SnpClaims& c) { c.vmpl = 1; },
       "sev-snp.max_vmpl: the report was made at VMPL 1; the policy allows at most 0"},
      {"vmpl 2 within max", SnpDocument(", max_vmpl: 2"), [](SnpClaims& c) { c.vmpl = 2; }, ""},
      {"vmpl 3 over max", SnpDocument(", max_vmpl: 2"), [](SnpClaims& c) { c.vmpl = 3; },
       "sev-snp.max_vmpl: the report was made at VMPL 3; the policy allows at most 2"},
      {"measurement not allowed", "", [](SnpClaims& c) { c.measurement = Array<48>(testing::kM3); },
       "sev-snp.measurements: launch measurement " + testing::kM3 + " is not in the allow-list"},
      {"bootloader too old", "", [](SnpClaims& c) { c.reported_tcb.bootloader = 1; },
       "sev-snp.min_tcb.bootloader: reported 1 < 2"},
      {"tee too old", SnpDocument(", min_tcb: {tee: 1}"),
       [](SnpClaims& c) { c.reported_tcb.tee = 0; }, "sev-snp.min_tcb.tee: reported 0 < 1"},
      {"snp too old", "", [](SnpClaims& c) { c.reported_tcb.snp = 3; },
       "sev-snp.min_tcb.snp: reported 3 < 5"},
      {"microcode too old", "", [](SnpClaims& c) { c.reported_tcb.microcode = 67; },
       "sev-snp.min_tcb.microcode: reported 67 < 68"},
      {"newer tcb accepted", "",
       [](SnpClaims& c) {
         c.reported_tcb = {
             .fmc = 0, .bootloader = 9, .tee = 9, .snp = 9, .microcode = 200, .raw = 0};
       },
       ""},
      {"current tcb is not what is judged", "",
       [](SnpClaims& c) {
         c.current_tcb.snp = 9;
         c.reported_tcb.snp = 4;
       },
       "sev-snp.min_tcb.snp: reported 4 < 5"},
      {"fmc judged on turin", SnpDocument(", min_tcb: {fmc: 2}"),
       [](SnpClaims& c) {
         c.product = SnpProduct::kTurin;
         c.reported_tcb.fmc = 1;
       },
       "sev-snp.min_tcb.fmc: reported 1 < 2"},
      {"fmc not judged on milan", SnpDocument(", min_tcb: {fmc: 2}"), [](SnpClaims&) {}, ""},
      {"chip not allowed", SnpDocument(", chip_ids: [{CHIP2}]"), [](SnpClaims&) {},
       "sev-snp.chip_ids: chip " + testing::kChip1 + " is not in the allow-list"},
      {"chip allowed", SnpDocument(", chip_ids: [{CHIP2}, {CHIP1}]"), [](SnpClaims&) {}, ""},
      {"host data not allowed", SnpDocument(", host_data: [{HOST2}]"), [](SnpClaims&) {},
       "sev-snp.host_data: HOST_DATA " + testing::kHost1 + " is not in the allow-list"},
      {"host data allowed", SnpDocument(", host_data: [{HOST1}]"), [](SnpClaims&) {}, ""},
      {"product not allowed", SnpDocument(", products: [genoa, turin]"), [](SnpClaims&) {},
       "sev-snp.products: the report was signed by a milan chip, which the policy does not list"},
      {"product allowed", SnpDocument(", products: [genoa]"),
       [](SnpClaims& c) { c.product = SnpProduct::kGenoa; }, ""},
      {"no sev-snp section",
       Fill("version: 1\ntpm: {pcrs: {0: [{PCR0}]}, allow_ek_ca: true}\nrules: []\n"),
       [](SnpClaims&) {},
       "sev-snp: the policy has no sev-snp section, so SEV-SNP guests are refused"},
  };
  RunCases(cases, GoodSnpClaims,
           [](const AttestationPolicy& p, const SnpClaims& c) { return EvaluateSnp(p, c); });
}

TEST(EvaluateSnpTest, FirstMatchingRuleDecidesRoleIdentityAndSelector) {
  const AttestationPolicy policy = MustParse(BaseDocument());
  SnpClaims claims = GoodSnpClaims();
  absl::StatusOr<PolicyDecision> worker = EvaluateSnp(policy, claims);
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_EQ(worker->tee, Tee::kSevSnp);
  EXPECT_EQ(worker->rule, "workers");
  EXPECT_EQ(worker->role, Role::kNode);
  EXPECT_EQ(worker->identity, "node/workers@c1c1c1c1c1c1c1c1");
  EXPECT_EQ(worker->volume_labels.at("csi.storage.k8s.io/pvc/namespace"), "prod");

  // M2 matches the controller rule, which comes first.
  claims.measurement = Array<48>(testing::kM2);
  absl::StatusOr<PolicyDecision> provisioner = EvaluateSnp(policy, claims);
  ASSERT_TRUE(provisioner.ok()) << provisioner.status();
  EXPECT_EQ(provisioner->rule, "provisioner");
  EXPECT_EQ(provisioner->role, Role::kController);
  EXPECT_EQ(provisioner->identity, "controller/provisioner@c1c1c1c1c1c1c1c1");
  EXPECT_TRUE(provisioner->volume_labels.empty());
}

TEST(EvaluateSnpTest, RuleOrderMattersAndNoMatchIsRefused) {
  const std::string rules = R"(
  - {name: one, role: node, match: {chip_ids: [{CHIP2}]}}
  - {name: two, role: controller, match: {host_data: [{HOST1}]}}
  - {name: three, role: node}
)";
  const std::string head = "version: 1\nsev-snp: {measurements: [{M1}]}\nrules:";
  const AttestationPolicy policy = MustParse(Fill(head + rules));
  EXPECT_EQ(EvaluateSnp(policy, GoodSnpClaims())->rule, "two");
  SnpClaims other_host = GoodSnpClaims();
  other_host.host_data = Array<32>(testing::kHost2);
  EXPECT_EQ(EvaluateSnp(policy, other_host)->rule, "three");
  SnpClaims chip2 = GoodSnpClaims();
  chip2.chip_id = Array<64>(testing::kChip2);
  EXPECT_EQ(EvaluateSnp(policy, chip2)->rule, "one");

  // Without the catch-all, an unmatched guest is refused, naming what it was.
  const AttestationPolicy narrow = MustParse(
      Fill(head + "\n  - {name: one, role: node, match: {chip_ids: [{CHIP2}]}}\n"
                  "  - {name: tpm-only, role: node, match: {ak_fingerprints: [{AK1}]}}\n"));
  absl::StatusOr<PolicyDecision> refused = EvaluateSnp(narrow, GoodSnpClaims());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(refused.status().message(), "rules: no rule matches this sev-snp guest (measurement " +
                                            testing::kM1 + ", chip c1c1c1c1c1c1c1c1...)");
}

TEST(EvaluateSnpTest, EmptyAllowListNeedsTheOfflineOption) {
  const AttestationPolicy policy = PolicyDefault();
  absl::StatusOr<PolicyDecision> strict = EvaluateSnp(policy, GoodSnpClaims());
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().message(),
            "sev-snp.measurements: the policy lists no launch measurement, so no SEV-SNP guest "
            "is accepted");
  const EvaluationOptions offline{.require_allow_list = false, .allow_insecure_none = false};
  absl::StatusOr<PolicyDecision> accepted = EvaluateSnp(policy, GoodSnpClaims(), offline);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(accepted->identity, "node/default@c1c1c1c1c1c1c1c1");
  // The default still forbids debugging and VMPL > 0.
  SnpClaims debug = GoodSnpClaims();
  debug.guest_policy |= kDebugBit;
  EXPECT_THAT(EvaluateSnp(policy, debug, offline).status().message(),
              HasSubstr("sev-snp.allow_debug"));
  SnpClaims vmpl = GoodSnpClaims();
  vmpl.vmpl = 1;
  EXPECT_THAT(EvaluateSnp(policy, vmpl, offline).status().message(), HasSubstr("sev-snp.max_vmpl"));
  // --measurement narrows it; --allow-debug opens debugging.
  const AttestationPolicy narrowed =
      DefaultOfflinePolicy({Array<48>(testing::kM2)}, /*allow_debug=*/true);
  EXPECT_THAT(EvaluateSnp(narrowed, debug, offline).status().message(),
              HasSubstr("sev-snp.measurements: launch measurement " + testing::kM1));
  debug.measurement = Array<48>(testing::kM2);
  EXPECT_TRUE(EvaluateSnp(narrowed, debug, offline).ok());
}

TEST(EvaluateTpmTest, EachCheckOfTheSection) {
  const std::string ek_ca = Fill(
      "version: 1\ntpm: {pcrs: {7: [{PCR7A}]}, allow_ek_ca: true}\nrules: [{name: w, role: "
      "node}]\n");
  const std::vector<TpmCase> cases = {
      {"good claims", "", [](TpmClaims&) {}, ""},
      {"upper-case fingerprint from the verifier", "",
       [](TpmClaims& c) {
         for (char& ch : c.ak_fingerprint) ch = static_cast<char>(std::toupper(ch));
       },
       ""},
      {"pcr 7 mismatch", "", [](TpmClaims& c) { c.pcrs[7] = Bytes(testing::kPcr0); },
       "tpm.pcrs.7: PCR 7 is " + testing::kPcr0 + ", which is not an allowed value"},
      {"pcr 7 second allowed value", "", [](TpmClaims& c) { c.pcrs[7] = Bytes(testing::kPcr7b); },
       ""},
      {"pcr 0 not quoted", "", [](TpmClaims& c) { c.pcrs.erase(0); },
       "tpm.pcrs.0: the quote does not cover PCR 0"},
      {"pcr value of the wrong size", "",
       [](TpmClaims& c) { c.pcrs[0] = Bytes(testing::kPcr0.substr(2)); },
       "tpm.pcrs.0: PCR 0 is " + testing::kPcr0.substr(2) + ", which is not an allowed value"},
      {"untrusted ak", "", [](TpmClaims& c) { c.ak_fingerprint = testing::kAk2; },
       "tpm.trusted_aks: attestation key " + testing::kAk2 +
           " (trusted by pinning) is not pinned by the policy, and tpm.allow_ek_ca is false"},
      {"ek-ca ak without allow_ek_ca", "",
       [](TpmClaims& c) {
         c.ak_fingerprint = testing::kAk2;
         c.ak_trust = "ek-ca";
       },
       "tpm.trusted_aks: attestation key " + testing::kAk2 +
           " (trusted by the EK CA) is not pinned by the policy, and tpm.allow_ek_ca is false"},
      {"ek-ca ak with allow_ek_ca", ek_ca,
       [](TpmClaims& c) {
         c.ak_fingerprint = testing::kAk2;
         c.ak_trust = "ek-ca";
       },
       ""},
      {"pinned-by-verifier ak not in an ek-ca-only policy", ek_ca,
       [](TpmClaims& c) { c.ak_fingerprint = testing::kAk2; },
       "tpm.trusted_aks: attestation key " + testing::kAk2 +
           " (trusted by pinning) is not pinned by the policy"},
      {"malformed fingerprint", "", [](TpmClaims& c) { c.ak_fingerprint = "e1e1"; },
       "tpm.trusted_aks: the verified quote carries no valid AK fingerprint"},
      {"no tpm section", Fill("version: 1\nsev-snp: {measurements: [{M1}]}\nrules: []\n"),
       [](TpmClaims&) {}, "tpm: the policy has no tpm section, so TPM guests are refused"},
  };
  RunCases(cases, GoodTpmClaims,
           [](const AttestationPolicy& p, const TpmClaims& c) { return EvaluateTpm(p, c); });
}

TEST(EvaluateTpmTest, RulesNarrowByPcrsAndAkAndGiveIdentities) {
  const AttestationPolicy policy = MustParse(Fill(R"(version: 1
tpm:
  pcrs: {7: [{PCR7A}, {PCR7B}]}
  trusted_aks: [{AK1}, {AK2}]
rules:
  - {name: ops, role: controller, match: {tee: [tpm], ak_fingerprints: [{AK2}]}}
  - {name: new-image, role: node, match: {pcrs: {7: [{PCR7B}]}}}
  - {name: snp-only, role: node, match: {measurements: [{M1}]}}
)"));
  TpmClaims claims = GoodTpmClaims();
  absl::StatusOr<PolicyDecision> refused = EvaluateTpm(policy, claims);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "rules: no rule matches this tpm guest (attestation key " + testing::kAk1 + ")");
  claims.pcrs[7] = Bytes(testing::kPcr7b);
  absl::StatusOr<PolicyDecision> node = EvaluateTpm(policy, claims);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(node->identity, "node/new-image@e1e1e1e1e1e1e1e1");
  EXPECT_EQ(node->tee, Tee::kTpm);
  claims.ak_fingerprint = testing::kAk2;
  absl::StatusOr<PolicyDecision> controller = EvaluateTpm(policy, claims);
  ASSERT_TRUE(controller.ok()) << controller.status();
  EXPECT_EQ(controller->identity, "controller/ops@e2e2e2e2e2e2e2e2");
}

TEST(EvaluateNoneTest, RefusedWithoutTheInsecureFlag) {
  const AttestationPolicy policy = MustParse(
      "version: 1\nnone: {}\nrules:\n  - {name: any, role: node}\n"
      "  - {name: dev, role: node, match: {tee: [none]}}\n");
  absl::StatusOr<PolicyDecision> refused = EvaluateNone(policy, "node/worker-1");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(refused.status().message(),
            "none: unattested guests are refused; only a development key service started with "
            "the insecure flag accepts them");

  const EvaluationOptions insecure{.require_allow_list = true, .allow_insecure_none = true};
  absl::StatusOr<PolicyDecision> dev = EvaluateNone(policy, "node/worker-1", insecure);
  ASSERT_TRUE(dev.ok()) << dev.status();
  // A rule without a tee list never takes an unattested guest; `dev` names none.
  EXPECT_EQ(dev->rule, "dev");
  EXPECT_EQ(dev->tee, Tee::kNone);
  EXPECT_THAT(dev->identity, ::testing::MatchesRegex("node/dev@[0-9a-f]{16}"));
  EXPECT_NE(EvaluateNone(policy, "node/worker-2", insecure)->identity, dev->identity);

  // Even with the flag, a policy without a none section or a none rule refuses.
  EXPECT_EQ(EvaluateNone(MustParse(BaseDocument()), "n", insecure).status().message(),
            "none: the policy has no none section");
  EXPECT_EQ(EvaluateNone(MustParse("version: 1\nnone: {}\nrules: [{name: a, role: node}]\n"), "n",
                         insecure)
                .status()
                .message(),
            "rules: no rule lists tee: [none], so no unattested guest is accepted");
}

TEST(PolicyIdentityTest, RoundTripsAndRefusesMalformed) {
  absl::StatusOr<ParsedIdentity> parsed =
      ParsePolicyIdentity("controller/provisioner@c1c1c1c1c1c1c1c1");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->role, Role::kController);
  EXPECT_EQ(parsed->rule, "provisioner");
  EXPECT_EQ(parsed->suffix, "c1c1c1c1c1c1c1c1");
  for (const char* bad : {"", "node/worker-1", "admin/x@c1c1c1c1c1c1c1c1", "node/@c1c1c1c1c1c1c1c1",
                          "node/x@c1c1", "node/x@zzzzzzzzzzzzzzzz"}) {
    EXPECT_EQ(ParsePolicyIdentity(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace cloak::attest::policy
