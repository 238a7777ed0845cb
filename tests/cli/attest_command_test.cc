// `cloakctl attest verify` through its command line, on real evidence: the Milan SEV-SNP
// vectors of tests/attest/testdata/snp and the swtpm quote of the TPM seed corpus
// (tests/attest/tpm/corpus). Accepted, refused (naming the failed check) and usage errors.

#include "cli/attest_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "attest/proto/evidence.pb.h"
#include "attest/snp/cert_table.h"
#include "attest/tpm/tpm_evidence_codec.h"
#include "attest/tpm/tpm_structures.h"
#include "cli/exit_codes.h"
#include "nlohmann/json.hpp"
#include "tests/kms/crypto/temp_dir.h"

namespace cloak::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Facts of the Milan vectors (their README.md).
const std::string kMeasurement =
    "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b"
    "01";
const std::string kReportData = "0102030405" + std::string(118, '0');
const std::string kChipIdPrefix = "3ac3fe21e13fb099";
const std::string kAt = "2024-01-01T00:00:00Z";
// SHA-256 of tests/attest/tpm/corpus/ak_public.bin (sha256sum), and the quote's extraData.
const std::string kAkFingerprint =
    "da7566691b91f2581065a263ef1f42efc6ef7f1eb146bba97d2a18db88dcad36";
const std::string kExtraData = "2ac528e2b52e94606fde470e26a3ee9b3318f0a6b0287e09d0d4a155109f078c";

std::string SourceDir() {
  const char* dir = std::getenv("CLOAK_SOURCE_DIR");
  return dir == nullptr ? std::string() : dir;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "cannot read " << path << " (run the test through ctest)";
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

struct Result {
  int code = -1;
  std::string out, err;
  json document;  // stdout parsed; null when it is not JSON
};

class AttestVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(SourceDir().empty()) << "CLOAK_SOURCE_DIR is not set; run through ctest";
    snp_ = SourceDir() + "/tests/attest/testdata/snp/";
    ASSERT_TRUE(std::filesystem::is_directory(snp_)) << snp_ << " is missing";
    ASSERT_FALSE(dir_.path().empty());
  }

  // Parses `args` after `cloakctl` as main() does and runs the chosen command.
  Result Run(std::vector<std::string> args) {
    CLI::App app("cloakctl");
    app.require_subcommand(1);
    std::ostringstream out, err;
    std::function<int()> action;
    AddAttestCommands(
        app,
        AttestCommandDeps{
            .now = [] { return absl::FromUnixSeconds(1900000000); }, .out = &out, .err = &err},
        action);
    std::vector<const char*> argv{"cloakctl"};
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    Result result;
    try {
      app.parse(static_cast<int>(argv.size()), argv.data());
      result.code = action ? action() : -1;
    } catch (const CLI::ParseError& e) {
      err << e.what() << "\n";
      result.code = kExitUsage;
    }
    result.out = out.str();
    result.err = err.str();
    result.document = json::parse(result.out, nullptr, false);
    if (result.document.is_discarded()) result.document = nullptr;
    return result;
  }

  // The Milan report with everything that makes it acceptable, then `extra`.
  std::vector<std::string> Snp(std::vector<std::string> extra = {},
                               const std::string& report = "") {
    std::vector<std::string> args{"attest",     "verify",
                                  "--type",     "sev-snp",
                                  "--at",       kAt,
                                  "--evidence", report.empty() ? snp_ + "report-milan.bin" : report,
                                  "--vcek",     snp_ + "vcek-milan.der"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  std::vector<std::string> Accepting() {
    return {"--roots",       snp_ + "ask_ark_milan.pem",
            "--measurement", kMeasurement,
            "--allow-debug", "--report-data",
            kReportData};
  }

  // The Milan report with byte `offset` XORed with `mask`, in the temp dir.
  std::string Tampered(std::size_t offset, std::uint8_t mask) {
    std::string report = ReadFile(snp_ + "report-milan.bin");
    report.at(offset) = static_cast<char>(report.at(offset) ^ mask);
    const std::string path = dir_.File("tampered.bin");
    WriteFile(path, report);
    return path;
  }

  std::string WritePolicy(const std::string& text) {
    const std::string path = dir_.File("policy.yaml");
    WriteFile(path, text);
    return path;
  }

  static void ExpectRefused(const Result& r, const std::string& check) {
    EXPECT_EQ(r.code, kExitFailed) << r.err;
    ASSERT_TRUE(r.document.is_object()) << r.out;
    EXPECT_EQ(r.document["verdict"]["accepted"], false);
    EXPECT_EQ(r.document["verdict"]["failed_check"], check) << r.document["verdict"].dump();
    EXPECT_THAT(r.err, HasSubstr("REFUSED: " + check + ": "));
  }

  static void ExpectUsage(const Result& r, const std::string& message) {
    EXPECT_EQ(r.code, kExitUsage) << r.out << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, HasSubstr(message));
  }

  std::string snp_;
  kms::kms_test::TempDir dir_;
};

TEST_F(AttestVerifyTest, MilanReportIsAcceptedWithItsMeasurementAndDebugAllowed) {
  const Result r = Run(Snp(Accepting()));
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.err, "");
  const json& claims = r.document["claims"];
  EXPECT_EQ(claims["tee"], "sev-snp");
  EXPECT_EQ(claims["product"], "milan");
  EXPECT_EQ(claims["version"], 2);
  EXPECT_EQ(claims["measurement"], kMeasurement);
  EXPECT_EQ(claims["report_data"], kReportData);
  EXPECT_EQ(claims["vmpl"], 0);
  EXPECT_THAT(claims["chip_id"].get<std::string>(), StartsWith(kChipIdPrefix));
  EXPECT_EQ(claims["reported_tcb"]["bootloader"], 2);
  EXPECT_EQ(claims["reported_tcb"]["tee"], 0);
  EXPECT_EQ(claims["reported_tcb"]["snp"], 5);
  EXPECT_EQ(claims["reported_tcb"]["microcode"], 68);
  EXPECT_EQ(claims["guest_policy"]["raw"], "0x00000000000b0000");
  EXPECT_EQ(claims["guest_policy"]["debug"], true);
  EXPECT_EQ(claims["guest_policy"]["smt"], true);
  EXPECT_EQ(r.document["verified_at"], kAt);
  EXPECT_EQ(r.document["policy"]["source"], "default");
  EXPECT_EQ(r.document["policy"]["rule"], "default");
  EXPECT_EQ(r.document["policy"]["identity"], "node/default@" + kChipIdPrefix);
  const json& verdict = r.document["verdict"];
  EXPECT_EQ(verdict["accepted"], true);
  EXPECT_TRUE(verdict["failed_check"].is_null());
  EXPECT_EQ(verdict["report_data_checked"], true);
}

TEST_F(AttestVerifyTest, DefaultPolicyRefusesTheDebuggableGuest) {
  const Result r = Run(Snp({"--roots", snp_ + "ask_ark_milan.pem", "--report-data", kReportData}));
  ExpectRefused(r, "sev-snp.allow_debug");
  // Authentic, so the claims are shown with the refusal.
  EXPECT_EQ(r.document["claims"]["measurement"], kMeasurement);
  EXPECT_FALSE(r.document["policy"].contains("rule"));
}

TEST_F(AttestVerifyTest, WithoutReportDataFreshnessIsNotCheckedAndSaidSo) {
  const Result r = Run(Snp({"--roots", snp_ + "ask_ark_milan.pem", "--allow-debug"}));
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.document["verdict"]["report_data_checked"], false);
  EXPECT_THAT(r.err, HasSubstr("freshness not checked"));
}

TEST_F(AttestVerifyTest, GenoaRootsDoNotVerifyAMilanVcek) {
  std::vector<std::string> extra = Accepting();
  extra[1] = snp_ + "ask_ark_genoa.pem";
  const Result r = Run(Snp(extra));
  ExpectRefused(r, "vcek.chain");
  EXPECT_TRUE(r.document["claims"].is_null());
}

TEST_F(AttestVerifyTest, AFlippedMeasurementBitBreaksTheSignature) {
  const Result r = Run(Snp(Accepting(), Tampered(0x90, 0x01)));
  ExpectRefused(r, "signature");
  EXPECT_TRUE(r.document["claims"].is_null());
  // Messages name fields and offsets, never evidence bytes.
  EXPECT_THAT(r.err, Not(HasSubstr(kMeasurement.substr(0, 16))));
}

TEST_F(AttestVerifyTest, ARaisedReportedTcbNoLongerMatchesTheVcek) {
  // REPORTED_TCB at 0x180; byte 6 is the SNP SPL (5).
  ExpectRefused(Run(Snp(Accepting(), Tampered(0x186, 0x03))), "vcek.tcb.snp");
}

TEST_F(AttestVerifyTest, AnotherChipIdDoesNotMatchTheVcek) {
  ExpectRefused(Run(Snp(Accepting(), Tampered(0x1A0, 0x80))), "vcek.chip_id");
}

TEST_F(AttestVerifyTest, AfterTheVcekExpiresItIsRefused) {
  std::vector<std::string> args = Snp(Accepting());
  args[5] = "2030-01-01T00:00:00Z";
  const Result r = Run(args);
  ExpectRefused(r, "vcek.validity");
  EXPECT_EQ(r.document["verified_at"], "2030-01-01T00:00:00Z");
}

TEST_F(AttestVerifyTest, AnotherMeasurementIsRefused) {
  std::vector<std::string> extra = Accepting();
  extra[3] = std::string(96, 'a');
  ExpectRefused(Run(Snp(extra)), "sev-snp.measurements");
}

TEST_F(AttestVerifyTest, WrongReportDataIsRefused) {
  std::vector<std::string> extra = Accepting();
  extra[6] = "0102030406" + std::string(118, '0');
  ExpectRefused(Run(Snp(extra)), "report_data");
}

TEST_F(AttestVerifyTest, PolicyFileWithAHigherMinimumSnpTcbRefuses) {
  const std::string policy = WritePolicy(
      "version: 1\nsev-snp:\n  allow_debug: true\n"
      "  measurements: [" +
      kMeasurement +
      "]\n"
      "  min_tcb: {snp: 6}\nrules:\n  - {name: vm, role: node}\n");
  const Result r = Run(Snp(
      {"--roots", snp_ + "ask_ark_milan.pem", "--policy", policy, "--report-data", kReportData}));
  ExpectRefused(r, "sev-snp.min_tcb.snp");
  EXPECT_THAT(r.err, HasSubstr("reported 5 < 6"));
  EXPECT_EQ(r.document["policy"]["source"], policy);
}

TEST_F(AttestVerifyTest, PolicyFileAcceptsWithItsRule) {
  const std::string policy = WritePolicy(
      "version: 1\nsev-snp:\n  allow_debug: true\n"
      "  measurements: [" +
      kMeasurement +
      "]\n"
      "  min_tcb: {bootloader: 2, snp: 5, microcode: 68}\n"
      "rules:\n  - {name: milan-debug-vm, role: node}\n");
  const Result r = Run(Snp(
      {"--roots", snp_ + "ask_ark_milan.pem", "--policy", policy, "--report-data", kReportData}));
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.document["policy"]["rule"], "milan-debug-vm");
  EXPECT_EQ(r.document["policy"]["identity"], "node/milan-debug-vm@" + kChipIdPrefix);
  EXPECT_THAT(r.document["verdict"]["message"].get<std::string>(), HasSubstr("milan-debug-vm"));
}

TEST_F(AttestVerifyTest, SerializedEvidenceWithTheWholeChainNeedsNoFiles) {
  attest::v1::SevSnpEvidence evidence;
  evidence.set_report(ReadFile(snp_ + "report-milan.bin"));
  const std::string pem = ReadFile(snp_ + "ask_ark_milan.pem");
  const std::size_t ark = pem.find("-----BEGIN CERTIFICATE-----", 1);
  ASSERT_NE(ark, std::string::npos);
  const std::vector<std::uint8_t> table =
      attest::snp::BuildCertTable({{attest::snp::kVcekGuid, ReadFile(snp_ + "vcek-milan.der")},
                                   {attest::snp::kAskGuid, pem.substr(0, ark)},
                                   {attest::snp::kArkGuid, pem.substr(ark)}});
  evidence.set_certificate_table(std::string(table.begin(), table.end()));
  const std::string path = dir_.File("evidence.pb");
  WriteFile(path, evidence.SerializeAsString());
  const Result r =
      Run({"attest", "verify", "--type", "sev-snp", "--evidence", path, "--at", kAt,
           "--allow-debug", "--measurement", kMeasurement, "--report-data", kReportData});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.document["claims"]["measurement"], kMeasurement);

  // The same with only the VCEK in the table: the roots file is named as missing.
  attest::v1::SevSnpEvidence vcek_only = evidence;
  const std::vector<std::uint8_t> short_table =
      attest::snp::BuildCertTable({{attest::snp::kVcekGuid, ReadFile(snp_ + "vcek-milan.der")}});
  vcek_only.set_certificate_table(std::string(short_table.begin(), short_table.end()));
  WriteFile(path, vcek_only.SerializeAsString());
  ExpectUsage(Run({"attest", "verify", "--type", "sev-snp", "--evidence", path, "--at", kAt}),
              "pass --roots FILE");
}

TEST_F(AttestVerifyTest, UsageErrors) {
  const std::string report = snp_ + "report-milan.bin";
  const std::string roots = snp_ + "ask_ark_milan.pem";
  ExpectUsage(
      Run({"attest", "verify", "--type", "sev-snp", "--evidence", report, "--roots", roots}),
      "pass --vcek FILE");
  ExpectUsage(Run(Snp()), "pass --roots FILE");
  ExpectUsage(Run(Snp({"--roots", dir_.File("missing.pem")})), "cannot read --roots");
  ExpectUsage(Run(Snp({"--roots", roots}, dir_.File("missing.bin"))), "cannot read --evidence");
  ExpectUsage(Run(Snp({"--roots", roots, "--measurement", "b07a"})),
              "--measurement b07a: expected 96 hex digits");
  ExpectUsage(Run(Snp({"--roots", roots, "--report-data", "0102030405"})),
              "--report-data 0102030405: expected 128 hex digits");
  ExpectUsage(Run(Snp({"--roots", roots, "--report-data", std::string(127, '0') + "g"})),
              "expected 128 hex digits");
  std::vector<std::string> bad_time = Snp({"--roots", roots});
  bad_time[5] = "yesterday";
  ExpectUsage(Run(bad_time), "--at yesterday: not an RFC 3339 time");
  ExpectUsage(Run(Snp({"--roots", roots, "--ak-fingerprint", kAkFingerprint})),
              "--ak-fingerprint is for --type tpm");
  ExpectUsage(Run(Snp({"--roots", roots, "--vcek", roots})), "--vcek");
  ExpectUsage(Run(Snp({"--roots", snp_ + "vcek-milan.der"})), "--roots");
  const std::string policy = WritePolicy("version: 1\nsev-snp: {measurements: []}\nrules: []\n");
  ExpectUsage(Run(Snp({"--roots", roots, "--policy", policy})), "not a valid attestation policy");
  ExpectUsage(Run(Snp({"--roots", roots, "--policy", policy, "--allow-debug"})),
              "--allow-debug narrows the default policy only");
  const std::string text = dir_.File("notes.txt");
  WriteFile(text, "");
  ExpectUsage(Run(Snp({"--roots", roots}, text)), "is neither a raw SEV-SNP report");
  // CLI11's own checks.
  EXPECT_EQ(Run({"attest", "verify", "--evidence", report}).code, kExitUsage);
  EXPECT_EQ(Run({"attest", "verify", "--type", "tdx", "--evidence", report}).code, kExitUsage);
  EXPECT_EQ(Run(Snp({"-o", "text"})).code, kExitUsage);
}

// --- TPM: the real swtpm quote of the seed corpus ------------------------------------------

class AttestVerifyTpmTest : public AttestVerifyTest {
 protected:
  void SetUp() override {
    AttestVerifyTest::SetUp();
    // quote_framed.bin: u16-length-prefixed TPMS_ATTEST, TPMT_SIGNATURE, AK and EK
    // TPMT_PUBLIC, then the 32-byte PCR values in selection order. Re-framed here as the
    // TpmEvidence message the command reads.
    const std::string framed = ReadFile(SourceDir() + "/tests/attest/tpm/corpus/quote_framed.bin");
    std::size_t at = 0;
    auto take = [&](std::vector<std::uint8_t>& out) {
      ASSERT_LE(at + 2, framed.size());
      const std::size_t size =
          (static_cast<std::uint8_t>(framed[at]) << 8) | static_cast<std::uint8_t>(framed[at + 1]);
      ASSERT_LE(at + 2 + size, framed.size());
      out.assign(framed.begin() + at + 2, framed.begin() + at + 2 + size);
      at += 2 + size;
    };
    take(quote_.attest);
    take(quote_.signature);
    take(quote_.ak_public);
    take(quote_.ek_public);
    absl::StatusOr<attest::tpm::TpmsAttestQuote> parsed =
        attest::tpm::ParseTpmsAttestQuote(quote_.attest);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    for (std::uint32_t index : parsed->pcr_select.at(0).Indices()) {
      ASSERT_LE(at + 32, framed.size());
      quote_.pcrs.emplace_back(
          index, std::vector<std::uint8_t>(framed.begin() + at, framed.begin() + at + 32));
      at += 32;
    }
    ASSERT_EQ(at, framed.size());
    evidence_ = Write(quote_, "tpm-evidence.pb");
  }

  std::string Write(const attest::tpm::TpmQuoteEvidence& quote, const std::string& name) {
    const std::vector<std::uint8_t> bytes = attest::tpm::EncodeTpmEvidence(quote);
    WriteFile(dir_.File(name), std::string(bytes.begin(), bytes.end()));
    return dir_.File(name);
  }

  std::vector<std::string> Tpm(std::vector<std::string> extra) {
    std::vector<std::string> args{"attest", "verify", "--type", "tpm", "--evidence", evidence_};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  static std::string Hex(const std::vector<std::uint8_t>& bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string hex;
    for (std::uint8_t b : bytes) hex += {kDigits[b >> 4], kDigits[b & 0xf]};
    return hex;
  }

  attest::tpm::TpmQuoteEvidence quote_;
  std::string evidence_;
};

TEST_F(AttestVerifyTpmTest, AcceptedWithThePinnedAkAndItsExtraData) {
  const Result r = Run(Tpm({"--ak-fingerprint", kAkFingerprint, "--report-data", kExtraData}));
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.err, "");
  const json& claims = r.document["claims"];
  EXPECT_EQ(claims["tee"], "tpm");
  EXPECT_EQ(claims["ak_fingerprint"], kAkFingerprint);
  EXPECT_EQ(claims["ak_trust"], "pinned");
  ASSERT_EQ(claims["pcrs"].size(), 8u);
  EXPECT_EQ(claims["pcrs"]["0"], Hex(quote_.pcrs.at(0).second));
  EXPECT_EQ(claims["pcr_digest"].get<std::string>().size(), 64u);
  EXPECT_EQ(r.document["policy"]["identity"], "node/default@" + kAkFingerprint.substr(0, 16));
  EXPECT_EQ(r.document["verdict"]["report_data_checked"], true);
}

TEST_F(AttestVerifyTpmTest, WithoutReportDataFreshnessIsNotChecked) {
  const Result r = Run(Tpm({"--ak-fingerprint", kAkFingerprint}));
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.document["verdict"]["report_data_checked"], false);
  EXPECT_THAT(r.err, HasSubstr("freshness not checked"));
}

TEST_F(AttestVerifyTpmTest, WrongExtraDataIsRefused) {
  std::string wrong = kExtraData;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  ExpectRefused(Run(Tpm({"--ak-fingerprint", kAkFingerprint, "--report-data", wrong})),
                "report_data");
}

TEST_F(AttestVerifyTpmTest, WithoutAPinnedAkItIsRefusedAsUntrusted) {
  const Result r = Run(Tpm({"--report-data", kExtraData}));
  ExpectRefused(r, "ak_trust");
  EXPECT_THAT(r.err, HasSubstr(kAkFingerprint));
  EXPECT_THAT(r.err, HasSubstr("--ak-fingerprint"));
  ExpectRefused(Run(Tpm({"--ak-fingerprint", std::string(64, 'a')})), "ak_trust");
}

TEST_F(AttestVerifyTpmTest, AnAlteredQuoteIsRefused) {
  attest::tpm::TpmQuoteEvidence altered = quote_;
  altered.attest.back() ^= 0x01;  // the last byte of pcrDigest: still parses, no longer signed
  const Result r = Run({"attest", "verify", "--type", "tpm", "--evidence",
                        Write(altered, "altered.pb"), "--ak-fingerprint", kAkFingerprint});
  ExpectRefused(r, "signature");
}

TEST_F(AttestVerifyTpmTest, PolicyFileJudgesPcrsAndNamesItsRule) {
  const std::string pcr0 = Hex(quote_.pcrs.at(0).second);
  const std::string accept =
      WritePolicy("version: 1\ntpm:\n  pcrs: {0: [" + pcr0 + "]}\n  trusted_aks: [" +
                  kAkFingerprint + "]\nrules:\n  - {name: swtpm-node, role: node}\n");
  Result r = Run(Tpm({"--policy", accept, "--report-data", kExtraData}));
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.document["policy"]["rule"], "swtpm-node");

  const std::string other = WritePolicy("version: 1\ntpm:\n  pcrs: {0: [" + std::string(64, 'b') +
                                        "]}\n  trusted_aks: [" + kAkFingerprint +
                                        "]\nrules:\n  - {name: swtpm-node, role: node}\n");
  r = Run(Tpm({"--policy", other, "--report-data", kExtraData}));
  ExpectRefused(r, "tpm.pcrs.0");
  EXPECT_EQ(r.document["claims"]["pcrs"]["0"], pcr0);
}

TEST_F(AttestVerifyTpmTest, UsageErrors) {
  ExpectUsage(Run(Tpm({"--ak-fingerprint", "da75"})), "--ak-fingerprint da75: expected 64");
  ExpectUsage(Run(Tpm({"--report-data", kReportData})),
              "expected 64 hex digits (32 bytes), got 128 digits");
  ExpectUsage(Run(Tpm({"--allow-debug"})), "--allow-debug is for --type sev-snp");
  ExpectUsage(Run(Tpm({"--vcek", snp_ + "vcek-milan.der"})), "--vcek is for --type sev-snp");
  const std::string text = dir_.File("notes.txt");
  WriteFile(text, "not evidence\n");
  ExpectUsage(Run({"attest", "verify", "--type", "tpm", "--evidence", text}),
              "is not a serialized cloak.attest.v1.TpmEvidence message");
}

}  // namespace
}  // namespace cloak::cli
