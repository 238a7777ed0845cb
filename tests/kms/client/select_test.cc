// SelectAttester: detection order (SEV-SNP, then TPM, else an error), explicit choices,
// and the development attester only with the insecure flag.

#include "kms/client/attesters/select.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tests/kms/crypto/temp_dir.h"

namespace cloak::kms::client {
namespace {

using ::testing::HasSubstr;

class SelectAttesterTest : public ::testing::Test {
 protected:
  // Nothing at any of the places detection looks.
  AttesterOptions Bare() const {
    AttesterOptions options;
    options.snp.configfs_root = dir_.File("tsm");
    options.snp.device = dir_.File("sev-guest");
    options.tpm_device = dir_.File("tpmrm0");
    return options;
  }
  kms_test::TempDir dir_;
};

TEST_F(SelectAttesterTest, AutoWithoutAnyTeeIsAnErrorNamingWhatWasLookedFor) {
  const AttesterOptions options = Bare();
  EXPECT_EQ(DetectTee(options), AttesterChoice::kNone);
  absl::StatusOr<std::unique_ptr<Attester>> attester = SelectAttester(options);
  ASSERT_EQ(attester.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(attester.status().message(), HasSubstr(options.tpm_device));
  EXPECT_THAT(attester.status().message(), HasSubstr(options.snp.device));
  EXPECT_THAT(attester.status().message(), HasSubstr("--attester"));
}

TEST_F(SelectAttesterTest, SevSnpIsPreferredOverATpm) {
  AttesterOptions options = Bare();
  // Character devices stand in for the TPM and for /dev/sev-guest; detection does not open
  // them. A regular file is neither.
  options.tpm_device = "/dev/null";
  std::ofstream(options.snp.device) << "";
  EXPECT_EQ(DetectTee(options), AttesterChoice::kTpm);
  options.snp.device = "/dev/zero";
  EXPECT_EQ(DetectTee(options), AttesterChoice::kSevSnp);
}

TEST_F(SelectAttesterTest, AnExplicitTpmThatIsNotThereIsRefused) {
  AttesterOptions options = Bare();
  options.choice = AttesterChoice::kTpm;
  std::ofstream(options.tpm_device) << "";  // a regular file is no TPM
  absl::StatusOr<std::unique_ptr<Attester>> attester = SelectAttester(options);
  EXPECT_EQ(attester.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(attester.status().message(), HasSubstr("is not a TPM device"));
}

TEST_F(SelectAttesterTest, NoneOnlyWithTheInsecureFlag) {
  AttesterOptions options = Bare();
  options.choice = AttesterChoice::kNone;
  options.none_identity = "node/dev";
  absl::StatusOr<std::unique_ptr<Attester>> refused = SelectAttester(options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("--insecure-allow-unattested"));
  options.insecure_allow_unattested = true;
  absl::StatusOr<std::unique_ptr<Attester>> none = SelectAttester(options);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ((*none)->type(), EvidenceType::kNone);
  // Auto never falls back to none, insecure flag or not.
  options.choice = AttesterChoice::kAuto;
  EXPECT_EQ(SelectAttester(options).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ParseAttesterChoiceTest, KnownNamesAndAnError) {
  EXPECT_EQ(ParseAttesterChoice("auto").value(), AttesterChoice::kAuto);
  EXPECT_EQ(ParseAttesterChoice("sev-snp").value(), AttesterChoice::kSevSnp);
  EXPECT_EQ(ParseAttesterChoice("tpm").value(), AttesterChoice::kTpm);
  EXPECT_EQ(ParseAttesterChoice("none").value(), AttesterChoice::kNone);
  absl::StatusOr<AttesterChoice> bad = ParseAttesterChoice("tdx");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("--attester"));
}

}  // namespace
}  // namespace cloak::kms::client
