// The real Milan report from testdata/attestation/snp, verified with its VCEK and AMD's
// Milan roots at a pinned time.

#include <chrono>

#include "attest/proto/evidence.pb.h"
#include "attest/snp/cert_table.h"
#include "attest/snp/reference_values.h"
#include "attest/snp/snp_report.h"
#include "attest/snp/verifier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/attest/snp/test_files.h"

namespace cloak::attest::snp {
namespace {

using ::testing::HasSubstr;

const absl::Time kPinned = absl::FromCivil(absl::CivilDay(2024, 1, 1), absl::UTCTimeZone());

std::array<std::uint8_t, 64> ExpectedBinding() {
  std::array<std::uint8_t, 64> b{};
  for (int i = 0; i < 5; ++i) b[i] = static_cast<std::uint8_t>(i + 1);
  return b;
}

class MilanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = snp_test::SnpTestDataDir();
    ASSERT_FALSE(dir.empty());
    report_ = snp_test::Bytes(snp_test::ReadFileOrFail(dir + "/report-milan.bin"));
    vcek_ = snp_test::ReadFileOrFail(dir + "/vcek-milan.der");
    milan_roots_ = snp_test::ReadFileOrFail(dir + "/ask_ark_milan.pem");
    genoa_roots_ = snp_test::ReadFileOrFail(dir + "/ask_ark_genoa.pem");
    ASSERT_EQ(report_.size(), kReportSize);
    table_ = BuildCertTable({{kVcekGuid, vcek_}});
  }

  std::unique_ptr<SnpVerifier> MilanVerifier() {
    SnpVerifierOptions options;
    EXPECT_TRUE(options.anchors.AddRootsPem(milan_roots_).ok());
    auto v = SnpVerifier::Create(std::move(options));
    EXPECT_TRUE(v.ok());
    return *std::move(v);
  }

  absl::StatusOr<SnpClaims> Verify(const SnpVerifier& v, const std::vector<std::uint8_t>& report,
                                   absl::Time at = kPinned) {
    const auto binding = ExpectedBinding();
    return v.Verify(report, table_, binding, at);
  }

  std::vector<std::uint8_t> report_;
  std::string vcek_;
  std::string milan_roots_;
  std::string genoa_roots_;
  std::vector<std::uint8_t> table_;
};

TEST_F(MilanTest, VerifiesAndReportsTheKnownFacts) {
  auto v = MilanVerifier();
  auto claims = Verify(*v, report_);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->product, SnpProduct::kMilan);
  EXPECT_EQ(claims->version, 2u);
  EXPECT_EQ(claims->vmpl, 0u);
  EXPECT_TRUE(claims->debug_allowed());
  EXPECT_EQ(claims->reported_tcb.bootloader, 2);
  EXPECT_EQ(claims->reported_tcb.tee, 0);
  EXPECT_EQ(claims->reported_tcb.snp, 5);
  EXPECT_EQ(claims->reported_tcb.microcode, 68);
  const auto measurement = snp_test::FromHex(
      "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4"
      "872b01");
  EXPECT_TRUE(std::equal(measurement.begin(), measurement.end(), claims->measurement.begin()));
  const auto chip_prefix = snp_test::FromHex("3ac3fe21e13fb0990eb28a802e3fb6a2");
  EXPECT_TRUE(std::equal(chip_prefix.begin(), chip_prefix.end(), claims->chip_id.begin()));
  EXPECT_EQ(claims->report_data, ExpectedBinding());
}

TEST_F(MilanTest, VerifiesThroughTheSerializedEvidenceToo) {
  auto v = MilanVerifier();
  cloak::attest::v1::SevSnpEvidence evidence;
  evidence.set_report(std::string(report_.begin(), report_.end()));
  evidence.set_certificate_table(std::string(table_.begin(), table_.end()));
  const auto binding = ExpectedBinding();
  auto claims = v->VerifyEvidence(evidence.SerializeAsString(), binding, kPinned);
  EXPECT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(v->VerifyEvidence("\xff\xff", binding, kPinned).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(MilanTest, EveryBitFlipInTheSignedAreaIsRefused) {
  auto v = MilanVerifier();
  ASSERT_TRUE(Verify(*v, report_).ok());
  const auto start = std::chrono::steady_clock::now();
  int accepted = 0;
  for (std::size_t bit = 0; bit < kSignedSize * 8; ++bit) {
    std::vector<std::uint8_t> r = report_;
    r[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    auto claims = Verify(*v, r);
    if (claims.ok()) {
      ++accepted;
      ADD_FAILURE() << "bit " << bit << " flipped and still accepted";
    } else {
      EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
    }
  }
  EXPECT_EQ(accepted, 0);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::printf("bit flips: %zu, %lld ms\n", kSignedSize * 8, static_cast<long long>(ms));
}

TEST_F(MilanTest, FlippedSignatureBitsAreRefused) {
  auto v = MilanVerifier();
  for (std::size_t byte : {kSignatureOffset, kSignatureOffset + 47, kSignatureOffset + 72,
                           kSignatureOffset + 72 + 20}) {
    std::vector<std::uint8_t> r = report_;
    r[byte] ^= 0x01;
    auto claims = Verify(*v, r);
    ASSERT_FALSE(claims.ok());
    EXPECT_THAT(std::string(claims.status().message()), HasSubstr("SIGNATURE (offset 0x2A0)"));
  }
}

TEST_F(MilanTest, GenoaRootsDoNotVerifyAMilanReport) {
  {
    SnpVerifierOptions options;
    ASSERT_TRUE(options.anchors.AddRootsPem(genoa_roots_).ok());
    auto v = *SnpVerifier::Create(std::move(options));
    auto claims = Verify(*v, report_);
    ASSERT_FALSE(claims.ok());
    EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(claims.status().message()), HasSubstr("no ASK for Milan"));
  }
  // The Genoa ASK and ARK carried in the table: the ARK is not the Milan pin.
  auto bundle = *ParsePemBundle(genoa_roots_, "genoa");
  auto der = [](X509* x) {
    auto d = CertificateDer(x);
    return std::string(d.begin(), d.end());
  };
  table_ = BuildCertTable(
      {{kVcekGuid, vcek_}, {kAskGuid, der(bundle[0].get())}, {kArkGuid, der(bundle[1].get())}});
  auto v = *SnpVerifier::Create({});
  auto claims = Verify(*v, report_);
  ASSERT_FALSE(claims.ok());
  EXPECT_THAT(std::string(claims.status().message()), HasSubstr("not the pinned AMD ARK-Milan"));
}

TEST_F(MilanTest, TheMilanRootsFileIsRefusedWithoutItsPin) {
  auto anchors = SnpTrustAnchors::ForTesting({{SnpProduct::kGenoa, {}}});
  EXPECT_EQ(anchors.AddRootsPem(milan_roots_).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(anchors.AddRootsPem(vcek_).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(MilanTest, TheVcekIsRefusedOutsideItsValidity) {
  auto v = MilanVerifier();
  for (absl::CivilDay day :
       {absl::CivilDay(2022, 9, 23), absl::CivilDay(2029, 9, 25), absl::CivilDay(2050, 1, 1)}) {
    auto claims = Verify(*v, report_, absl::FromCivil(day, absl::UTCTimeZone()));
    ASSERT_FALSE(claims.ok());
    EXPECT_THAT(std::string(claims.status().message()), HasSubstr("valid together only from"));
  }
  EXPECT_TRUE(
      Verify(*v, report_, absl::FromCivil(absl::CivilDay(2029, 9, 23), absl::UTCTimeZone())).ok());
}

TEST_F(MilanTest, WrongReportDataIsRefused) {
  auto v = MilanVerifier();
  auto binding = ExpectedBinding();
  binding[63] ^= 1;
  auto claims = v->Verify(report_, table_, binding, kPinned);
  ASSERT_FALSE(claims.ok());
  EXPECT_THAT(std::string(claims.status().message()), HasSubstr("REPORT_DATA (offset 0x50)"));
  EXPECT_EQ(v->Verify(report_, table_, std::span(binding).first(32), kPinned).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MilanTest, TheVcekCanComeFromTheCacheDirectory) {
  snp_test::TempDir dir;
  snp_test::WriteFile(dir.path() + "/milan-vcek.der", vcek_);
  auto cache = SnpVcekCache::LoadDirectory(dir.path());
  ASSERT_TRUE(cache.ok()) << cache.status();
  SnpVerifierOptions options;
  ASSERT_TRUE(options.anchors.AddRootsPem(milan_roots_).ok());
  options.vcek_cache = std::make_shared<SnpVcekCache>(*std::move(cache));
  auto v = *SnpVerifier::Create(std::move(options));
  const auto binding = ExpectedBinding();
  EXPECT_TRUE(v->Verify(report_, {}, binding, kPinned).ok());
}

TEST_F(MilanTest, ReferenceValues) {
  auto v = MilanVerifier();
  auto claims = Verify(*v, report_);
  ASSERT_TRUE(claims.ok());
  SnpReferenceValues ref;
  std::copy(claims->measurement.begin(), claims->measurement.end(),
            ref.measurements.emplace_back().begin());
  absl::Status s = CheckSnpReferenceValues(ref, *claims);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), ::testing::StartsWith("debug"));

  ref.allow_debug = true;
  EXPECT_TRUE(CheckSnpReferenceValues(ref, *claims).ok());

  SnpReferenceValues other = ref;
  other.measurements[0][0] ^= 1;
  s = CheckSnpReferenceValues(other, *claims);
  EXPECT_THAT(std::string(s.message()), ::testing::StartsWith("measurement"));

  SnpReferenceValues empty = ref;
  empty.measurements.clear();
  s = CheckSnpReferenceValues(empty, *claims);
  EXPECT_THAT(std::string(s.message()), HasSubstr("allow-list is empty"));

  SnpReferenceValues newer = ref;
  newer.minimum_tcb.snp = 6;
  s = CheckSnpReferenceValues(newer, *claims);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), ::testing::StartsWith("tcb.snp"));
  newer = ref;
  newer.minimum_tcb.microcode = 69;
  EXPECT_THAT(std::string(CheckSnpReferenceValues(newer, *claims).message()),
              ::testing::StartsWith("tcb.microcode"));
}

}  // namespace
}  // namespace cloak::attest::snp
