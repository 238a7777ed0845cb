// The guest-side collectors against fake kernels, and their evidence through the verifier.

#include <sys/stat.h>

#include "attest/proto/evidence.pb.h"
#include "attest/snp/configfs_collector.h"
#include "attest/snp/detect.h"
#include "attest/snp/sev_guest_collector.h"
#include "attest/snp/verifier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/attest/snp/fake_kernel.h"
#include "tests/attest/snp/synthetic_chain.h"
#include "tests/attest/snp/test_files.h"

namespace cloak::attest::snp {
namespace {

using snp_test::FakeSevGuest;
using snp_test::FakeTsm;
using snp_test::SyntheticChain;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromCivil(absl::CivilDay(2025, 6, 1), absl::UTCTimeZone());

// The firmware: a Genoa v3 report over the given REPORT_DATA, signed by the synthetic VCEK.
std::string Firmware(const std::string& report_data) {
  snp_test::ReportSpec spec;
  spec.product = SnpProduct::kGenoa;
  spec.chip_id = snp_test::TestChipId(SnpProduct::kGenoa, 1);
  std::copy_n(report_data.begin(), std::min<std::size_t>(64, report_data.size()),
              spec.report_data.begin());
  const auto r = snp_test::SignedReport(spec);
  return std::string(r.begin(), r.end());
}

std::string HostTable() {
  snp_test::VcekSpec vcek;
  vcek.product = SnpProduct::kGenoa;
  const auto t = snp_test::TableFor(SyntheticChain::Get().MakeVcek(vcek), SnpProduct::kGenoa);
  return std::string(t.begin(), t.end());
}

std::array<std::uint8_t, 64> Binding() {
  std::array<std::uint8_t, 64> b;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(0xC0 + i);
  return b;
}

void ExpectVerifies(const std::string& evidence) {
  SnpVerifierOptions options;
  options.anchors = SyntheticChain::Get().Anchors();
  auto v = *SnpVerifier::Create(std::move(options));
  const auto binding = Binding();
  auto claims = v->VerifyEvidence(evidence, binding, kNow);
  EXPECT_TRUE(claims.ok()) << claims.status();
}

TEST(ConfigfsTsmCollector, CollectsAReportAndTheCertificateTable) {
  snp_test::TempDir dir;
  auto fake = std::make_shared<FakeTsm>(dir.path(), Firmware);
  fake->auxblob = HostTable();
  ConfigfsTsmOptions options{dir.path(), 0u, fake};
  auto collector = ConfigfsTsmCollector::Create(options);
  ASSERT_TRUE(collector.ok()) << collector.status();
  auto evidence = (*collector)->Collect(Binding());
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  ExpectVerifies(*evidence);
  EXPECT_EQ(fake->last_privlevel, "0");
  ASSERT_EQ(fake->created.size(), 1u);
  EXPECT_EQ(fake->removed, fake->created);
  EXPECT_FALSE(std::filesystem::exists(fake->created[0]));
}

TEST(ConfigfsTsmCollector, WorksWithoutAnAuxblob) {
  snp_test::TempDir dir;
  auto fake = std::make_shared<FakeTsm>(dir.path(), Firmware);
  auto collector = *ConfigfsTsmCollector::Create({dir.path(), std::nullopt, fake});
  auto evidence = collector->Collect(Binding());
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  cloak::attest::v1::SevSnpEvidence parsed;
  ASSERT_TRUE(parsed.ParseFromString(*evidence));
  EXPECT_EQ(parsed.report().size(), 0x4A0u);
  EXPECT_TRUE(parsed.certificate_table().empty());
  EXPECT_EQ(fake->last_privlevel, "");
}

TEST(ConfigfsTsmCollector, DetectsAConcurrentWriter) {
  snp_test::TempDir dir;
  auto fake = std::make_shared<FakeTsm>(dir.path(), Firmware);
  fake->concurrent_writer = true;
  auto collector = *ConfigfsTsmCollector::Create({dir.path(), std::nullopt, fake});
  auto evidence = collector->Collect(Binding());
  EXPECT_EQ(evidence.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(fake->removed.size(), 1u);
}

TEST(ConfigfsTsmCollector, RefusesAnotherProvider) {
  snp_test::TempDir dir;
  auto fake = std::make_shared<FakeTsm>(dir.path(), Firmware);
  fake->provider = "tdx_guest";
  auto collector = *ConfigfsTsmCollector::Create({dir.path(), std::nullopt, fake});
  auto evidence = collector->Collect(Binding());
  EXPECT_EQ(evidence.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(evidence.status().message()), HasSubstr("tdx_guest"));
  EXPECT_EQ(fake->removed.size(), 1u);
}

TEST(ConfigfsTsmCollector, RefusesAShortOutblob) {
  snp_test::TempDir dir;
  auto fake = std::make_shared<FakeTsm>(dir.path(),
                                        [](const std::string&) { return std::string(100, 'x'); });
  auto collector = *ConfigfsTsmCollector::Create({dir.path(), std::nullopt, fake});
  EXPECT_EQ(collector->Collect(Binding()).status().code(), absl::StatusCode::kUnavailable);
}

TEST(ConfigfsTsmCollector, RealEntryOpsFailCleanlyOnAPlainDirectory) {
  // mkdir on a plain directory creates no attributes: the first open fails, and the entry
  // is removed again.
  snp_test::TempDir dir;
  std::filesystem::create_directories(dir.path() + "/report");
  auto collector = *ConfigfsTsmCollector::Create({dir.path(), std::nullopt, nullptr});
  auto evidence = collector->Collect(Binding());
  EXPECT_EQ(evidence.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(evidence.status().message()), HasSubstr("provider"));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() + "/report"));
  EXPECT_EQ(
      ConfigfsTsmCollector::Create({dir.path() + "/none", std::nullopt, nullptr}).status().code(),
      absl::StatusCode::kFailedPrecondition);
}

TEST(SevGuestCollector, CollectsAndRetriesWithALargerCertificateBuffer) {
  for (bool enospc : {false, true}) {
    auto device = std::make_unique<FakeSevGuest>(Firmware);
    device->table = HostTable() + std::string(5 * 4096, '\0');  // needs more than 4 pages
    device->use_enospc = enospc;
    FakeSevGuest* fake = device.get();
    SevGuestCollector collector(std::move(device), 1);
    auto evidence = collector.Collect(Binding());
    ASSERT_TRUE(evidence.ok()) << evidence.status();
    EXPECT_EQ(fake->calls, 2);
    EXPECT_EQ(fake->last_vmpl, 1u);
    ExpectVerifies(*evidence);
  }
}

TEST(SevGuestCollector, HostWithoutCertificatesGivesAnEmptyTable) {
  auto device = std::make_unique<FakeSevGuest>(Firmware);
  SevGuestCollector collector(std::move(device));
  auto evidence = collector.Collect(Binding());
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  cloak::attest::v1::SevSnpEvidence parsed;
  ASSERT_TRUE(parsed.ParseFromString(*evidence));
  EXPECT_TRUE(parsed.certificate_table().empty());
}

TEST(SevGuestCollector, ReportsFailures) {
  auto device = std::make_unique<FakeSevGuest>(Firmware);
  device->fail_errno = EIO;
  SevGuestCollector failing(std::move(device));
  auto evidence = failing.Collect(Binding());
  EXPECT_EQ(evidence.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(evidence.status().message()), HasSubstr("firmware error 0x27"));

  auto status_device = std::make_unique<FakeSevGuest>(Firmware);
  status_device->firmware_status = 0x16;
  SevGuestCollector bad_status(std::move(status_device));
  EXPECT_THAT(std::string(bad_status.Collect(Binding()).status().message()),
              HasSubstr("status 0x16"));

  auto huge = std::make_unique<FakeSevGuest>(Firmware);
  huge->table = std::string(2 << 20, 'x');
  SevGuestCollector too_big(std::move(huge));
  EXPECT_EQ(too_big.Collect(Binding()).status().code(), absl::StatusCode::kUnavailable);

  EXPECT_EQ(OpenSevGuestDevice("/nonexistent/sev-guest").status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(DetectSnp, PrefersConfigfsThenTheDevice) {
  snp_test::TempDir dir;
  SnpPaths paths{dir.path() + "/tsm", dir.path() + "/sev-guest", nullptr};
  EXPECT_EQ(DetectSnp(paths), SnpInterface::kNone);
  EXPECT_EQ(CreateSnpCollector(paths).status().code(), absl::StatusCode::kFailedPrecondition);

  paths.device = "/dev/null";  // a character device stands in for /dev/sev-guest
  EXPECT_EQ(DetectSnp(paths), SnpInterface::kSevGuestDevice);

  auto fake = std::make_shared<FakeTsm>(dir.path() + "/tsm", Firmware);
  paths.ops = fake;
  EXPECT_EQ(DetectSnp(paths), SnpInterface::kConfigfsTsm);
  auto collector = CreateSnpCollector(paths);
  ASSERT_TRUE(collector.ok()) << collector.status();
  auto evidence = (*collector)->Collect(Binding());
  EXPECT_TRUE(evidence.ok()) << evidence.status();
  fake->provider = "tdx_guest";
  EXPECT_EQ(DetectSnp(paths), SnpInterface::kSevGuestDevice);
}

}  // namespace
}  // namespace cloak::attest::snp
