#include <cstring>

#include "attest/snp/snp_report.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/attest/snp/synthetic_chain.h"
#include "tests/attest/snp/test_files.h"

namespace cloak::attest::snp {
namespace {

using snp_test::BuildReport;
using snp_test::ReportSpec;
using ::testing::HasSubstr;

std::vector<std::uint8_t> MilanReport() {
  const std::string dir = snp_test::SnpTestDataDir();
  return snp_test::Bytes(snp_test::ReadFileOrFail(dir + "/report-milan.bin"));
}

void ExpectRejected(const std::vector<std::uint8_t>& bytes, const std::string& needle) {
  auto r = ParseSnpReport(bytes);
  ASSERT_FALSE(r.ok()) << needle;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(needle));
}

TEST(SnpReportParser, ParsesTheRealMilanReport) {
  auto r = ParseSnpReport(MilanReport());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->version, 2u);
  EXPECT_EQ(r->vmpl, 0u);
  EXPECT_EQ(r->policy, 0x0B0000u);
  EXPECT_EQ(r->reported_tcb, 0x4405000000000002u);
  EXPECT_EQ(r->signing_key, SnpSigningKey::kVcek);
  const auto measurement = snp_test::FromHex(
      "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4"
      "872b01");
  EXPECT_TRUE(std::equal(measurement.begin(), measurement.end(), r->measurement.begin()));
  const auto chip_prefix = snp_test::FromHex("3ac3fe21e13fb0990eb28a802e3fb6a2");
  EXPECT_TRUE(std::equal(chip_prefix.begin(), chip_prefix.end(), r->chip_id.begin()));
  auto product = r->CpuidProduct();
  ASSERT_TRUE(product.ok());
  EXPECT_FALSE(product->has_value());  // version 2 has no CPUID fields
}

TEST(SnpReportParser, RefusesWrongSizes) {
  std::vector<std::uint8_t> b = BuildReport({});
  for (std::size_t size : {std::size_t{0}, kReportSize - 1, kReportSize + 1, kSignedSize}) {
    std::vector<std::uint8_t> c = b;
    c.resize(size);
    ExpectRejected(c, "size is");
  }
}

TEST(SnpReportParser, AcceptsVersions2To5AndRefusesOthers) {
  for (std::uint32_t v = 0; v < 8; ++v) {
    ReportSpec spec;
    spec.version = v;
    auto r = ParseSnpReport(BuildReport(spec));
    if (v >= 2 && v <= 5) {
      EXPECT_TRUE(r.ok()) << v << ": " << r.status();
    } else {
      ExpectRejected(BuildReport(spec), "VERSION (offset 0x0)");
    }
  }
}

TEST(SnpReportParser, RefusesAnotherSignatureAlgorithm) {
  auto b = BuildReport({});
  b[0x34] = 2;
  ExpectRejected(b, "SIGNATURE_ALGO (offset 0x34)");
}

TEST(SnpReportParser, RefusesPolicyWithoutReservedBit17) {
  auto b = BuildReport({});
  b[0x0A] &= ~0x02;
  ExpectRejected(b, "bit 17");
}

TEST(SnpReportParser, RefusesSignersOtherThanTheVcek) {
  auto b = BuildReport({});
  b[0x48] = 1 << 2;  // VLEK
  ExpectRejected(b, "VLEK");
  b[0x48] = 7 << 2;
  ExpectRejected(b, "not signed");
  b[0x48] = 2;  // MASK_CHIP_KEY
  ExpectRejected(b, "MASK_CHIP_KEY");
  b[0x48] = 0;
  b[0x4B] = 0x80;
  ExpectRejected(b, "offset 0x48");
}

TEST(SnpReportParser, RefusesNonzeroReservedAreasNamingTheOffset) {
  struct Case {
    std::uint32_t version;
    std::size_t offset;
    const char* needle;
  };
  const Case cases[] = {
      {3, 0x4C, "0x4C"},
      {2, 0x188, "0x188"},
      {3, 0x18B, "0x18B"},
      {3, 0x19F, "0x18B"},
      {3, 0x1EB, "0x1EB"},
      {3, 0x1EF, "0x1EF"},
      {4, 0x1F8, "0x1F8"},
      {5, 0x208, "0x208"},
      {5, 0x29F, "0x208"},
      {3, 0x2D0, "SIGNATURE.R"},
      {3, 0x318, "SIGNATURE.S"},
      {3, 0x330, "after SIGNATURE.S"},
      {3, 0x49F, "after SIGNATURE.S"},
  };
  for (const Case& c : cases) {
    ReportSpec spec;
    spec.version = c.version;
    auto b = BuildReport(spec);
    b[c.offset] = 1;
    ExpectRejected(b, c.needle);
  }
  ReportSpec v5;
  v5.version = 5;
  auto b = BuildReport(v5);
  EXPECT_TRUE(ParseSnpReport(b).ok());  // 0x1F8..0x208 hold the mitigation vectors in v5
}

TEST(SnpReportParser, TellsTheProductFromCpuid) {
  for (SnpProduct p : {SnpProduct::kMilan, SnpProduct::kGenoa, SnpProduct::kTurin}) {
    ReportSpec spec;
    spec.product = p;
    auto r = ParseSnpReport(BuildReport(spec));
    ASSERT_TRUE(r.ok());
    auto product = r->CpuidProduct();
    ASSERT_TRUE(product.ok() && product->has_value());
    EXPECT_EQ(**product, p);
  }
  auto b = BuildReport({});
  b[0x188] = 0x17;  // Rome: no SNP attestation product we pin
  auto r = ParseSnpReport(b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->CpuidProduct().status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(SnpTcb, DecodesPerProductLayout) {
  const std::uint64_t raw = 0x4405000000000002u;  // the Milan report's REPORTED_TCB
  const SnpTcb milan = DecodeTcb(raw, SnpProduct::kMilan);
  EXPECT_EQ(milan.bootloader, 2);
  EXPECT_EQ(milan.tee, 0);
  EXPECT_EQ(milan.snp, 5);
  EXPECT_EQ(milan.microcode, 68);
  EXPECT_EQ(milan.fmc, 0);
  const SnpTcb turin = DecodeTcb(0x4800000004030201u, SnpProduct::kTurin);
  EXPECT_EQ(turin.fmc, 1);
  EXPECT_EQ(turin.bootloader, 2);
  EXPECT_EQ(turin.tee, 3);
  EXPECT_EQ(turin.snp, 4);
  EXPECT_EQ(turin.microcode, 0x48);
  EXPECT_EQ(EncodeTcb(turin, SnpProduct::kTurin), 0x4800000004030201u);
  EXPECT_EQ(EncodeTcb(milan, SnpProduct::kGenoa), raw);
}

}  // namespace
}  // namespace cloak::attest::snp
