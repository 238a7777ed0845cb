// Reports signed by a generated chain: every version and product, and each way a report,
// a table or a VCEK can fail to match.

#include <openssl/pem.h>

#include <thread>

#include "attest/snp/cert_table.h"
#include "attest/snp/reference_values.h"
#include "attest/snp/snp_report.h"
#include "attest/snp/verifier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/attest/snp/synthetic_chain.h"
#include "tests/attest/snp/test_files.h"

namespace cloak::attest::snp {
namespace {

using snp_test::ReportSpec;
using snp_test::SignedReport;
using snp_test::SyntheticChain;
using snp_test::TableFor;
using snp_test::TestChipId;
using snp_test::VcekSpec;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromCivil(absl::CivilDay(2025, 6, 1), absl::UTCTimeZone());
constexpr SnpProduct kProducts[] = {SnpProduct::kMilan, SnpProduct::kGenoa, SnpProduct::kTurin};

std::unique_ptr<SnpVerifier> TestVerifier(std::shared_ptr<const SnpVcekCache> cache = nullptr) {
  SnpVerifierOptions options;
  options.anchors = SyntheticChain::Get().Anchors();
  options.vcek_cache = std::move(cache);
  return *SnpVerifier::Create(std::move(options));
}

ReportSpec SpecFor(SnpProduct p, std::uint32_t version) {
  ReportSpec s;
  s.product = p;
  s.version = version;
  s.chip_id = TestChipId(p, 1);
  s.report_data.fill(0x5A);
  s.measurement.fill(0x11);
  return s;
}

VcekSpec VcekFor(SnpProduct p) {
  VcekSpec v;
  v.product = p;
  return v;
}

absl::StatusOr<SnpClaims> Verify(const SnpVerifier& v, const std::vector<std::uint8_t>& report,
                                 const std::vector<std::uint8_t>& table, const ReportSpec& spec) {
  return v.Verify(report, table, spec.report_data, kNow);
}

void ExpectRefused(const absl::StatusOr<SnpClaims>& claims, const std::string& needle) {
  ASSERT_FALSE(claims.ok()) << "expected refusal: " << needle;
  EXPECT_EQ(claims.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(claims.status().message()), HasSubstr(needle));
}

TEST(SnpSyntheticTest, EveryVersionAndProductVerifies) {
  auto v = TestVerifier();
  for (SnpProduct p : kProducts) {
    const std::string vcek = SyntheticChain::Get().MakeVcek(VcekFor(p));
    const auto table = TableFor(vcek, p);
    for (std::uint32_t version = 2; version <= 5; ++version) {
      if (p == SnpProduct::kTurin && version == 2) continue;  // Turin firmware reports v3+
      const ReportSpec spec = SpecFor(p, version);
      auto claims = Verify(*v, SignedReport(spec), table, spec);
      ASSERT_TRUE(claims.ok()) << ProductName(p) << " v" << version << ": " << claims.status();
      EXPECT_EQ(claims->product, p);
      EXPECT_EQ(claims->version, version);
      EXPECT_EQ(claims->reported_tcb.bootloader, 3);
      EXPECT_EQ(claims->reported_tcb.snp, 8);
      EXPECT_EQ(claims->reported_tcb.microcode, 115);
      EXPECT_EQ(claims->reported_tcb.fmc, p == SnpProduct::kTurin ? 1 : 0);
      EXPECT_FALSE(claims->debug_allowed());
    }
  }
}

TEST(SnpSyntheticTest, DebugAndVmplAreReportedAndRefusedByReferenceValues) {
  auto v = TestVerifier();
  const auto table =
      TableFor(SyntheticChain::Get().MakeVcek(VcekFor(SnpProduct::kGenoa)), SnpProduct::kGenoa);
  ReportSpec spec = SpecFor(SnpProduct::kGenoa, 3);
  SnpReferenceValues ref;
  ref.measurements.push_back(spec.measurement);
  auto ok = Verify(*v, SignedReport(spec), table, spec);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(CheckSnpReferenceValues(ref, *ok).ok());

  spec.debug = true;
  auto debug = Verify(*v, SignedReport(spec), table, spec);
  ASSERT_TRUE(debug.ok());
  EXPECT_TRUE(debug->debug_allowed());
  EXPECT_THAT(std::string(CheckSnpReferenceValues(ref, *debug).message()),
              ::testing::StartsWith("debug"));

  spec.debug = false;
  spec.vmpl = 2;
  auto vmpl = Verify(*v, SignedReport(spec), table, spec);
  ASSERT_TRUE(vmpl.ok());
  EXPECT_EQ(vmpl->vmpl, 2u);
  EXPECT_THAT(std::string(CheckSnpReferenceValues(ref, *vmpl).message()),
              ::testing::StartsWith("vmpl"));
  ref.max_vmpl = 2;
  EXPECT_TRUE(CheckSnpReferenceValues(ref, *vmpl).ok());

  ref.chip_ids = std::vector<std::array<std::uint8_t, 64>>{TestChipId(SnpProduct::kGenoa, 9)};
  EXPECT_THAT(std::string(CheckSnpReferenceValues(ref, *vmpl).message()),
              ::testing::StartsWith("chip_id"));
  ref.chip_ids->push_back(vmpl->chip_id);
  ref.host_data = std::vector<std::array<std::uint8_t, 32>>{{}};
  ref.host_data->front()[0] = 1;
  EXPECT_THAT(std::string(CheckSnpReferenceValues(ref, *vmpl).message()),
              ::testing::StartsWith("host_data"));
}

TEST(SnpSyntheticTest, TurinFmcMinimumIsChecked) {
  auto v = TestVerifier();
  const auto table =
      TableFor(SyntheticChain::Get().MakeVcek(VcekFor(SnpProduct::kTurin)), SnpProduct::kTurin);
  const ReportSpec spec = SpecFor(SnpProduct::kTurin, 5);
  auto claims = Verify(*v, SignedReport(spec), table, spec);
  ASSERT_TRUE(claims.ok()) << claims.status();
  SnpReferenceValues ref;
  ref.measurements.push_back(spec.measurement);
  ref.minimum_tcb.fmc = 2;
  EXPECT_THAT(std::string(CheckSnpReferenceValues(ref, *claims).message()),
              ::testing::StartsWith("tcb.fmc"));
}

TEST(SnpSyntheticTest, UnsupportedVersionsAreRefused) {
  auto v = TestVerifier();
  const auto table =
      TableFor(SyntheticChain::Get().MakeVcek(VcekFor(SnpProduct::kMilan)), SnpProduct::kMilan);
  for (std::uint32_t version : {1u, 6u, 0xFFFFFFFFu}) {
    const ReportSpec spec = SpecFor(SnpProduct::kMilan, version);
    ExpectRefused(Verify(*v, SignedReport(spec), table, spec), "VERSION (offset 0x0)");
  }
}

TEST(SnpSyntheticTest, EachTcbComponentMustMatchTheVcek) {
  auto v = TestVerifier();
  for (SnpProduct p : kProducts) {
    const ReportSpec base = SpecFor(p, 3);
    struct Case {
      const char* component;
      std::uint8_t SnpTcb::*field;
    };
    std::vector<Case> cases = {{"bootloader", &SnpTcb::bootloader},
                               {"tee", &SnpTcb::tee},
                               {"snp", &SnpTcb::snp},
                               {"microcode", &SnpTcb::microcode}};
    if (p == SnpProduct::kTurin) cases.push_back({"fmc", &SnpTcb::fmc});
    for (const Case& c : cases) {
      VcekSpec vcek = VcekFor(p);
      vcek.tcb.*c.field += 1;
      const auto table = TableFor(SyntheticChain::Get().MakeVcek(vcek), p);
      ExpectRefused(Verify(*v, SignedReport(base), table, base), std::string("tcb.") + c.component);
    }
  }
}

TEST(SnpSyntheticTest, ChipIdMustMatchTheHwid) {
  auto v = TestVerifier();
  for (SnpProduct p : kProducts) {
    const auto table = TableFor(SyntheticChain::Get().MakeVcek(VcekFor(p)), p);
    ReportSpec spec = SpecFor(p, 3);
    spec.chip_id = TestChipId(p, 2);
    ExpectRefused(Verify(*v, SignedReport(spec), table, spec), "chip_id");
    if (p == SnpProduct::kTurin) {  // Turin: bytes after the 8-byte id must be zero
      spec.chip_id = TestChipId(p, 1);
      spec.chip_id[40] = 1;
      ExpectRefused(Verify(*v, SignedReport(spec), table, spec), "chip_id");
    }
    spec.chip_id = {};  // masked: nothing to compare, the VCEK signature still binds the chip
    EXPECT_TRUE(Verify(*v, SignedReport(spec), table, spec).ok());
  }
}

TEST(SnpSyntheticTest, MissingVcekIsAClearError) {
  auto v = TestVerifier();
  const ReportSpec spec = SpecFor(SnpProduct::kMilan, 3);
  ExpectRefused(Verify(*v, SignedReport(spec), {}, spec), "no VCEK");
  const auto ask_only = BuildCertTable({{kAskGuid, SyntheticChain::Get().AskDer(spec.product)}});
  ExpectRefused(Verify(*v, SignedReport(spec), ask_only, spec), "no VCEK");
}

TEST(SnpSyntheticTest, VcekFromTheCacheDirectory) {
  snp_test::TempDir dir;
  const SyntheticChain& c = SyntheticChain::Get();
  for (SnpProduct p : kProducts) {
    snp_test::WriteFile(dir.path() + "/" + std::string(ProductName(p)) + ".der",
                        c.MakeVcek(VcekFor(p)));
    VcekSpec other = VcekFor(p);
    other.tcb.snp = 1;  // an older TCB of the same chip
    snp_test::WriteFile(dir.path() + "/" + std::string(ProductName(p)) + "-old.der",
                        c.MakeVcek(other));
  }
  auto cache = SnpVcekCache::LoadDirectory(dir.path());
  ASSERT_TRUE(cache.ok()) << cache.status();
  EXPECT_EQ(cache->size(), 6u);
  auto v = TestVerifier(std::make_shared<SnpVcekCache>(*std::move(cache)));
  for (SnpProduct p : kProducts) {
    // The roots come from the table; only the VCEK is missing.
    const auto roots = BuildCertTable({{kAskGuid, c.AskDer(p)}, {kArkGuid, c.ArkDer(p)}});
    ReportSpec spec = SpecFor(p, 4);
    auto claims = Verify(*v, SignedReport(spec), roots, spec);
    EXPECT_TRUE(claims.ok()) << ProductName(p) << ": " << claims.status();
    spec.reported_tcb.snp = 1;
    EXPECT_TRUE(Verify(*v, SignedReport(spec), roots, spec).ok());
    spec.reported_tcb.snp = 2;  // no VCEK for this TCB
    ExpectRefused(Verify(*v, SignedReport(spec), roots, spec), "no VCEK");
  }
  snp_test::WriteFile(dir.path() + "/junk.pem", "not a certificate");
  EXPECT_EQ(SnpVcekCache::LoadDirectory(dir.path()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SnpVcekCache::LoadDirectory(dir.path() + "/absent").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(SnpSyntheticTest, RootsFromTheAnchorsWhenTheTableHasOnlyTheVcek) {
  const SyntheticChain& c = SyntheticChain::Get();
  SnpVerifierOptions options;
  options.anchors = c.Anchors();
  auto pem = [](const std::string& der) {
    auto x = *ParseCertificate(der, "test");
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x.get());
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    return out;
  };
  ASSERT_TRUE(
      options.anchors
          .AddRootsPem(pem(c.AskDer(SnpProduct::kGenoa)) + pem(c.ArkDer(SnpProduct::kGenoa)))
          .ok());
  auto v = *SnpVerifier::Create(std::move(options));
  const ReportSpec spec = SpecFor(SnpProduct::kGenoa, 3);
  const auto table = BuildCertTable({{kVcekGuid, c.MakeVcek(VcekFor(SnpProduct::kGenoa))}});
  auto claims = Verify(*v, SignedReport(spec), table, spec);
  EXPECT_TRUE(claims.ok()) << claims.status();
}

TEST(SnpSyntheticTest, TheDefaultAnchorsRefuseTheTestChain) {
  auto v = *SnpVerifier::Create({});
  const ReportSpec spec = SpecFor(SnpProduct::kTurin, 3);
  const auto table =
      TableFor(SyntheticChain::Get().MakeVcek(VcekFor(SnpProduct::kTurin)), SnpProduct::kTurin);
  ExpectRefused(Verify(*v, SignedReport(spec), table, spec), "not the pinned AMD ARK-Turin");
}

TEST(SnpSyntheticTest, ChainDefectsAreRefused) {
  auto v = TestVerifier();
  const SyntheticChain& c = SyntheticChain::Get();
  const SnpProduct p = SnpProduct::kMilan;
  const ReportSpec spec = SpecFor(p, 3);
  const auto report = SignedReport(spec);
  auto table = [&](const std::string& vcek, const std::string& ask, const std::string& ark) {
    return BuildCertTable({{kVcekGuid, vcek}, {kAskGuid, ask}, {kArkGuid, ark}});
  };
  const std::string good = c.MakeVcek(VcekFor(p));
  ExpectRefused(Verify(*v, report, table(good, c.AskDer(p), c.RogueArkDer(p)), spec),
                "not the pinned");
  ExpectRefused(Verify(*v, report, table(good, c.ArkDer(p), c.ArkDer(p)), spec),
                "VCEK rejected: its issuer name");
  VcekSpec pkcs1 = VcekFor(p);
  pkcs1.pkcs1_signature = true;
  ExpectRefused(Verify(*v, report, table(c.MakeVcek(pkcs1), c.AskDer(p), c.ArkDer(p)), spec),
                "not RSASSA-PSS");
  VcekSpec salt = VcekFor(p);
  salt.pss_salt = 32;
  ExpectRefused(Verify(*v, report, table(c.MakeVcek(salt), c.AskDer(p), c.ArkDer(p)), spec),
                "salt length is not 48");
  VcekSpec expired = VcekFor(p);
  expired.not_after = kNow - absl::Hours(1);
  ExpectRefused(Verify(*v, report, table(c.MakeVcek(expired), c.AskDer(p), c.ArkDer(p)), spec),
                "valid together only");
  VcekSpec genoa = VcekFor(SnpProduct::kGenoa);
  genoa.hwid.assign(spec.chip_id.begin(), spec.chip_id.end());
  ExpectRefused(Verify(*v, report, TableFor(c.MakeVcek(genoa), SnpProduct::kGenoa), spec),
                "CPUID says Milan but the VCEK is for Genoa");
  ExpectRefused(Verify(*v, report, table("garbage", c.AskDer(p), c.ArkDer(p)), spec),
                "VCEK is not a DER or PEM");
}

TEST(SnpSyntheticTest, Version2NeedsTheProductNameOrRefuses) {
  auto v = TestVerifier();
  VcekSpec nameless = VcekFor(SnpProduct::kGenoa);
  nameless.with_product_name = false;
  const auto table = TableFor(SyntheticChain::Get().MakeVcek(nameless), SnpProduct::kGenoa);
  ReportSpec spec = SpecFor(SnpProduct::kGenoa, 2);
  ExpectRefused(Verify(*v, SignedReport(spec), table, spec), "cannot tell the product");
  spec.version = 3;
  EXPECT_TRUE(Verify(*v, SignedReport(spec), table, spec).ok());
}

TEST(SnpSyntheticTest, TheChainIsVerifiedOncePerVcek) {
  auto v = TestVerifier();
  const std::string vcek = SyntheticChain::Get().MakeVcek(VcekFor(SnpProduct::kMilan));
  const auto table = TableFor(vcek, SnpProduct::kMilan);
  ReportSpec spec = SpecFor(SnpProduct::kMilan, 3);
  for (int i = 0; i < 5; ++i) {
    spec.report_data[0] = static_cast<std::uint8_t>(i);
    ASSERT_TRUE(Verify(*v, SignedReport(spec), table, spec).ok());
  }
  SnpVerifierStats stats = v->Stats();
  EXPECT_EQ(stats.chain_verifications, 1u);
  EXPECT_EQ(stats.chain_cache_hits, 4u);
  EXPECT_EQ(stats.reports_verified, 5u);
  // A cached chain is still checked against the time and the report.
  ExpectRefused(
      v->Verify(SignedReport(spec), table, spec.report_data, absl::FromUnixSeconds(2100000000)),
      "valid together only");
  ReportSpec other_tcb = spec;
  other_tcb.reported_tcb.tee = 9;
  ExpectRefused(Verify(*v, SignedReport(other_tcb), table, other_tcb), "tcb.tee");
  EXPECT_EQ(v->Stats().chain_verifications, 1u);

  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) EXPECT_TRUE(Verify(*v, SignedReport(spec), table, spec).ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(v->Stats().chain_verifications, 1u);
}

TEST(SnpSyntheticTest, TheChainCacheIsBounded) {
  SnpChainCache cache(2);
  auto entry = std::make_shared<VerifiedVcek>();
  Sha256Digest a{}, b{}, c{};
  a[0] = 1, b[0] = 2, c[0] = 3;
  cache.Insert(a, entry);
  cache.Insert(b, entry);
  cache.Insert(c, entry);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Find(a), nullptr);
  EXPECT_NE(cache.Find(c), nullptr);
}

TEST(SnpSyntheticTest, TruncatedOrExtendedReportsAreRefused) {
  auto v = TestVerifier();
  const ReportSpec spec = SpecFor(SnpProduct::kMilan, 3);
  const auto table =
      TableFor(SyntheticChain::Get().MakeVcek(VcekFor(SnpProduct::kMilan)), SnpProduct::kMilan);
  auto report = SignedReport(spec);
  ASSERT_TRUE(Verify(*v, report, table, spec).ok());
  auto longer = report;
  longer.push_back(0);
  ExpectRefused(Verify(*v, longer, table, spec), "size is 1185");
  auto shorter = report;
  shorter.pop_back();
  ExpectRefused(Verify(*v, shorter, table, spec), "size is 1183");
  ExpectRefused(Verify(*v, std::vector<std::uint8_t>(report.begin(), report.begin() + kSignedSize),
                       table, spec),
                "size is 672");
}

TEST(SnpSyntheticTest, MalformedTablesAreRefused) {
  auto v = TestVerifier();
  const ReportSpec spec = SpecFor(SnpProduct::kMilan, 3);
  auto table =
      TableFor(SyntheticChain::Get().MakeVcek(VcekFor(SnpProduct::kMilan)), SnpProduct::kMilan);
  table.resize(40);
  ExpectRefused(Verify(*v, SignedReport(spec), table, spec), "certificate table rejected");
}

}  // namespace
}  // namespace cloak::attest::snp
