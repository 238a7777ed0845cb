#include "cli/attest_command.h"

#include <array>
#include <cstdint>
#include <fstream>
#include <optional>
#include <ostream>
#include <span>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "attest/policy/defaults.h"
#include "attest/policy/evaluate.h"
#include "attest/policy/parse.h"
#include "attest/proto/evidence.pb.h"
#include "attest/snp/cert_table.h"
#include "attest/snp/openssl_util.h"
#include "attest/snp/snp_report.h"
#include "attest/snp/verifier.h"
#include "attest/tpm/tpm_evidence_codec.h"
#include "attest/tpm/tpm_structures.h"
#include "attest/tpm/tpm_verifier.h"
#include "cli/exit_codes.h"
#include "nlohmann/json.hpp"

namespace cloak::cli {
namespace {

namespace policy = ::cloak::attest::policy;
namespace snp = ::cloak::attest::snp;
namespace tpm = ::cloak::attest::tpm;
using ::cloak::attest::SnpClaims;
using ::cloak::attest::SnpTcb;
using ::cloak::attest::TpmClaims;
using nlohmann::json;

constexpr absl::string_view kCommand = "attest verify";
// Far above any evidence (a certificate table is at most 1 MiB) or policy (1 MiB).
constexpr std::size_t kMaxFileBytes = 4 << 20;

// What verification and evaluation came to. Errors before verification are usage errors
// (absl::Status, exit 2); a refusal is an Outcome with accepted = false.
struct Outcome {
  json claims;  // null unless the evidence verified
  json policy;  // the policy that judged, and its decision when accepted
  bool accepted = false;
  std::string failed_check;
  std::string message;
};

// The settings shared by both evidence types, checked before any verification.
struct Common {
  absl::Time now;
  std::optional<std::vector<std::uint8_t>> report_data;  // nullopt: freshness not checked
  std::optional<policy::AttestationPolicy> file_policy;  // nullopt: the default one
  std::string policy_source;
};

absl::Status Usage(absl::string_view message) { return absl::InvalidArgumentError(message); }

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Usage(
        absl::StrCat("cannot read ", option, " ", path, ": check the path and its permissions"));
  }
  std::string data(kMaxFileBytes + 1, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (data.size() > kMaxFileBytes) {
    return Usage(absl::StrCat(option, " ", path, " is over ", kMaxFileBytes, " bytes"));
  }
  return data;
}

std::string Hex(std::span<const std::uint8_t> bytes) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// `text` as exactly `size` bytes of hex (either case), or a usage error naming `option`.
absl::StatusOr<std::vector<std::uint8_t>> ParseHex(absl::string_view text, std::size_t size,
                                                   absl::string_view option) {
  const bool digits =
      std::all_of(text.begin(), text.end(), [](char c) { return absl::ascii_isxdigit(c); });
  if (!digits || text.size() != 2 * size) {
    return Usage(absl::StrCat(option, " ", text.size() > 140 ? "value" : text, ": expected ",
                              2 * size, " hex digits (", size, " bytes), got ", text.size(),
                              digits ? " digits" : " characters"));
  }
  const std::string bytes = absl::HexStringToBytes(text);
  return std::vector<std::uint8_t>(bytes.begin(), bytes.end());
}

// The check a verifier's message is about. The verifiers name fields in their messages but
// carry no machine-readable check, so this reads their (stable, tested) wording.
std::string SnpCheckName(absl::string_view m) {
  if (absl::StartsWith(m, "SEV-SNP report rejected")) return "report";
  if (absl::StartsWith(m, "SEV-SNP certificate table rejected")) return "cert_table";
  if (absl::StartsWith(m, "SEV-SNP certificate chain rejected")) return "vcek.chain";
  if (absl::StrContains(m, "REPORT_DATA")) return "report_data";
  if (absl::StrContains(m, "no VCEK")) return "vcek";
  if (absl::StrContains(m, "valid together only")) return "vcek.validity";
  if (absl::StrContains(m, "chip_id:")) return "vcek.chip_id";
  if (absl::StrContains(m, "CPUID product")) return "product";
  if (absl::StrContains(m, "SIGNATURE")) return "signature";
  if (const std::size_t tcb = m.find("tcb."); tcb != absl::string_view::npos) {
    const std::size_t end = m.find(':', tcb);
    if (end != absl::string_view::npos) return absl::StrCat("vcek.", m.substr(tcb, end - tcb));
  }
  return "evidence";
}

std::string TpmCheckName(absl::string_view m) {
  if (absl::StrContains(m, "is not trusted")) return "ak_trust";
  if (absl::StrContains(m, "extraData")) return "report_data";
  if (absl::StrContains(m, "qualifiedSigner")) return "qualified_signer";
  if (absl::StartsWith(m, "TPMT_SIGNATURE") || absl::StrContains(m, "signature does not verify"))
    return "signature";
  if (absl::StartsWith(m, "TPMS_ATTEST")) return "attest";
  if (absl::StartsWith(m, "TPMT_PUBLIC") || absl::StrContains(m, "AK ")) return "ak";
  if (absl::StrContains(m, "PCR") || absl::StrContains(m, "pcrDigest")) return "pcrs";
  return "evidence";
}

Outcome Refused(std::string check, std::string message) {
  Outcome outcome;
  outcome.failed_check = std::move(check);
  outcome.message = std::move(message);
  return outcome;
}

// Fills the decision (or the policy's refusal: "<path>: <message>") into `outcome`.
void Judge(const absl::StatusOr<policy::PolicyDecision>& decision, Outcome& outcome) {
  if (!decision.ok()) {
    const absl::string_view m = decision.status().message();
    const std::size_t colon = m.find(": ");
    outcome.failed_check =
        std::string(colon == absl::string_view::npos ? "policy" : m.substr(0, colon));
    outcome.message = std::string(colon == absl::string_view::npos ? m : m.substr(colon + 2));
    return;
  }
  outcome.accepted = true;
  outcome.policy["rule"] = decision->rule;
  outcome.policy["role"] = std::string(policy::RoleName(decision->role));
  outcome.policy["identity"] = decision->identity;
  outcome.message =
      absl::StrCat("verified and accepted by rule ", decision->rule, " as ", decision->identity);
}

json TcbJson(const SnpTcb& tcb, attest::SnpProduct product) {
  json j = {{"bootloader", tcb.bootloader},
            {"tee", tcb.tee},
            {"snp", tcb.snp},
            {"microcode", tcb.microcode},
            {"raw", absl::StrFormat("0x%016x", tcb.raw)}};
  if (product == attest::SnpProduct::kTurin) j["fmc"] = tcb.fmc;
  return j;
}

json SnpClaimsJson(const SnpClaims& c) {
  const auto bit = [&c](int n) { return ((c.guest_policy >> n) & 1u) != 0; };
  return {
      {"tee", "sev-snp"},
      {"product", std::string(policy::ProductName(c.product))},
      {"version", c.version},
      {"guest_svn", c.guest_svn},
      {"measurement", Hex(c.measurement)},
      {"report_data", Hex(c.report_data)},
      {"host_data", Hex(c.host_data)},
      {"chip_id", Hex(c.chip_id)},
      {"vmpl", c.vmpl},
      {"guest_policy",
       {{"raw", absl::StrFormat("0x%016x", c.guest_policy)},
        {"abi_major", (c.guest_policy >> 8) & 0xffu},
        {"abi_minor", c.guest_policy & 0xffu},
        {"smt", bit(16)},
        {"migrate_ma", bit(18)},
        {"debug", bit(19)},
        {"single_socket", bit(20)},
        {"cxl_allow", bit(21)},
        {"mem_aes_256_xts", bit(22)},
        {"rapl_dis", bit(23)},
        {"ciphertext_hiding", bit(24)}}},
      {"reported_tcb", TcbJson(c.reported_tcb, c.product)},
      {"current_tcb", TcbJson(c.current_tcb, c.product)},
      {"committed_tcb", TcbJson(c.committed_tcb, c.product)},
      {"launch_tcb", TcbJson(c.launch_tcb, c.product)},
      {"platform_info", absl::StrFormat("0x%016x", c.platform_info)},
      {"family_id", Hex(c.family_id)},
      {"image_id", Hex(c.image_id)},
      {"id_key_digest", Hex(c.id_key_digest)},
      {"author_key_digest", Hex(c.author_key_digest)},
      {"report_id", Hex(c.report_id)},
  };
}

json TpmClaimsJson(const TpmClaims& c) {
  json pcrs = json::object();
  for (const auto& [index, value] : c.pcrs) pcrs[std::to_string(index)] = Hex(value);
  json j = {{"tee", "tpm"},
            {"pcr_bank", "sha256"},
            {"pcrs", pcrs},
            {"pcr_digest", Hex(c.pcr_digest)},
            {"ak_fingerprint", c.ak_fingerprint},
            {"ak_trust", c.ak_trust},
            {"qualified_signer", Hex(c.qualified_signer)},
            {"clock_ms", c.clock},
            {"reset_count", c.reset_count},
            {"restart_count", c.restart_count},
            {"firmware_version", absl::StrFormat("0x%016x", c.firmware_version)}};
  if (!c.ek_subject.empty()) j["ek_subject"] = c.ek_subject;
  return j;
}

std::span<const std::uint8_t> AsBytes(absl::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// --- SEV-SNP ------------------------------------------------------------------------------

// The report and certificate table of the evidence file, with --vcek folded into the table.
struct SnpInput {
  std::string report;
  std::vector<std::uint8_t> table;
};

absl::StatusOr<SnpInput> LoadSnpEvidence(const AttestVerifyArgs& args) {
  absl::StatusOr<std::string> file = ReadFile(args.evidence_path, "--evidence");
  if (!file.ok()) return file.status();
  SnpInput input;
  std::string table_bytes;
  if (file->size() == snp::kReportSize) {
    input.report = *std::move(file);
  } else {
    attest::v1::SevSnpEvidence evidence;
    if (!evidence.ParseFromString(*file) || evidence.report().empty()) {
      return Usage(absl::StrCat(
          "--evidence ", args.evidence_path, " (", file->size(),
          " bytes) is neither a raw SEV-SNP report (1184 = 0x4A0 bytes) nor a serialized "
          "cloak.attest.v1.SevSnpEvidence message"));
    }
    input.report = evidence.report();
    table_bytes = evidence.certificate_table();
  }
  absl::StatusOr<snp::SnpCertTable> table = snp::ParseCertTable(AsBytes(table_bytes));
  if (!table.ok()) return table.status();  // UNAUTHENTICATED: a refusal, not a usage error
  if (!args.vcek_path.empty()) {
    absl::StatusOr<std::string> vcek = ReadFile(args.vcek_path, "--vcek");
    if (!vcek.ok()) return vcek.status();
    if (auto parsed = snp::ParseCertificate(*vcek, "VCEK"); !parsed.ok()) {
      return Usage(absl::StrCat("--vcek ", args.vcek_path,
                                " is not one DER or PEM certificate: ", parsed.status().message()));
    }
    table->vcek = *std::move(vcek);
  }
  if (table->vcek.empty()) {
    return Usage(absl::StrCat(
        "the evidence carries no VCEK: pass --vcek FILE with AMD's VCEK for this chip and "
        "REPORTED_TCB (KDS /vcek/v1/<product>/<hwid>?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..)"));
  }
  if ((table->ask.empty() || table->ark.empty()) && args.roots_path.empty()) {
    return Usage(
        "the evidence carries no ASK and ARK: pass --roots FILE with AMD's cert_chain for the "
        "product (ASK then ARK, KDS /vcek/v1/<product>/cert_chain); the ARK must match the "
        "compiled-in pin");
  }
  std::vector<snp::CertTableEntry> entries{{snp::kVcekGuid, table->vcek}};
  if (!table->ask.empty()) entries.push_back({snp::kAskGuid, table->ask});
  if (!table->ark.empty()) entries.push_back({snp::kArkGuid, table->ark});
  input.table = snp::BuildCertTable(entries);
  return input;
}

absl::StatusOr<Outcome> VerifySnp(const AttestVerifyArgs& args, const Common& common) {
  std::vector<policy::Sha384> measurements;
  for (const std::string& text : args.measurements) {
    absl::StatusOr<std::vector<std::uint8_t>> bytes = ParseHex(text, 48, "--measurement");
    if (!bytes.ok()) return bytes.status();
    std::copy(bytes->begin(), bytes->end(), measurements.emplace_back().begin());
  }
  absl::StatusOr<SnpInput> input = LoadSnpEvidence(args);
  if (input.status().code() == absl::StatusCode::kUnauthenticated) {
    return Refused("cert_table", std::string(input.status().message()));
  }
  if (!input.ok()) return input.status();

  snp::SnpVerifierOptions options;
  if (!args.roots_path.empty()) {
    absl::StatusOr<std::string> pem = ReadFile(args.roots_path, "--roots");
    if (!pem.ok()) return pem.status();
    if (absl::Status added = options.anchors.AddRootsPem(*pem); !added.ok()) {
      if (added.code() == absl::StatusCode::kInvalidArgument) {
        return Usage(absl::StrCat("--roots ", args.roots_path, ": ", added.message()));
      }
      return Refused("roots", absl::StrCat("--roots ", args.roots_path, ": ", added.message()));
    }
  }
  absl::StatusOr<std::unique_ptr<snp::SnpVerifier>> verifier =
      snp::SnpVerifier::Create(std::move(options));
  if (!verifier.ok()) return verifier.status();

  std::array<std::uint8_t, 64> expected{};
  if (common.report_data) {
    std::copy(common.report_data->begin(), common.report_data->end(), expected.begin());
  } else if (auto parsed = snp::ParseSnpReport(AsBytes(input->report)); parsed.ok()) {
    expected = parsed->report_data;  // not checked: the report's own value
  }
  absl::StatusOr<SnpClaims> claims =
      (*verifier)->Verify(AsBytes(input->report), input->table, expected, common.now);
  if (!claims.ok()) {
    return Refused(SnpCheckName(claims.status().message()), std::string(claims.status().message()));
  }
  Outcome outcome;
  outcome.claims = SnpClaimsJson(*claims);
  const policy::AttestationPolicy judged =
      common.file_policy ? *common.file_policy
                         : policy::DefaultOfflinePolicy(measurements, args.allow_debug);
  // A policy file is judged as the key service judges it; the built-in one has no allow-list
  // unless --measurement narrows it.
  Judge(
      policy::EvaluateSnp(judged, *claims, {.require_allow_list = common.file_policy.has_value()}),
      outcome);
  return outcome;
}

// --- TPM ----------------------------------------------------------------------------------

absl::StatusOr<Outcome> VerifyTpm(const AttestVerifyArgs& args, const Common& common) {
  std::vector<policy::Sha256> pinned;  // --ak-fingerprint, or the policy's tpm.trusted_aks
  for (const std::string& text : args.ak_fingerprints) {
    absl::StatusOr<std::vector<std::uint8_t>> bytes = ParseHex(text, 32, "--ak-fingerprint");
    if (!bytes.ok()) return bytes.status();
    std::copy(bytes->begin(), bytes->end(), pinned.emplace_back().begin());
  }
  if (common.file_policy && common.file_policy->tpm) pinned = common.file_policy->tpm->trusted_aks;
  tpm::TpmTrustConfig trust;
  for (const policy::Sha256& ak : pinned) trust.pinned_ak_fingerprints.insert(Hex(ak));
  absl::StatusOr<std::string> file = ReadFile(args.evidence_path, "--evidence");
  if (!file.ok()) return file.status();
  absl::StatusOr<tpm::TpmQuoteEvidence> evidence = tpm::DecodeTpmEvidence(AsBytes(*file));
  if (!evidence.ok()) {
    return Usage(absl::StrCat("--evidence ", args.evidence_path, " (", file->size(),
                              " bytes) is not a serialized cloak.attest.v1.TpmEvidence message"));
  }
  absl::StatusOr<std::unique_ptr<tpm::TpmQuoteVerifier>> verifier =
      tpm::TpmQuoteVerifier::Create(std::move(trust));
  if (!verifier.ok()) return verifier.status();

  std::array<std::uint8_t, tpm::kExtraDataSize> expected{};
  if (common.report_data) {
    std::copy(common.report_data->begin(), common.report_data->end(), expected.begin());
  } else if (auto quote = tpm::ParseTpmsAttestQuote(evidence->attest);
             quote.ok() && quote->extra_data.size() == expected.size()) {
    std::copy(quote->extra_data.begin(), quote->extra_data.end(), expected.begin());
  }
  absl::StatusOr<TpmClaims> claims = (*verifier)->Verify(*evidence, expected);
  if (!claims.ok()) {
    std::string message(claims.status().message());
    const std::string check = TpmCheckName(message);
    if (check == "ak_trust") {
      absl::StrAppend(&message, common.file_policy
                                    ? "; list it in the policy's tpm.trusted_aks if you trust it"
                                    : "; pass --ak-fingerprint with it if you trust this key");
    }
    return Refused(check, std::move(message));
  }
  Outcome outcome;
  outcome.claims = TpmClaimsJson(*claims);
  policy::AttestationPolicy judged;
  if (common.file_policy) {
    judged = *common.file_policy;
  } else {
    // Offline there is no credential activation, so only pinned AKs are trusted.
    judged = policy::PolicyDefault();
    judged.tpm->allow_ek_ca = false;
    judged.tpm->trusted_aks = pinned;
  }
  Judge(
      policy::EvaluateTpm(judged, *claims, {.require_allow_list = common.file_policy.has_value()}),
      outcome);
  return outcome;
}

// --- the command --------------------------------------------------------------------------

absl::Status CheckOptions(const AttestVerifyArgs& args) {
  const bool is_snp = args.type == "sev-snp";
  if (!is_snp && args.type != "tpm") {
    return Usage(absl::StrCat("--type ", args.type, ": use --type sev-snp or --type tpm"));
  }
  if (is_snp && !args.ak_fingerprints.empty()) {
    return Usage("--ak-fingerprint is for --type tpm");
  }
  if (!is_snp) {
    for (auto [given, name] : {std::pair{!args.vcek_path.empty(), "--vcek"},
                               std::pair{!args.roots_path.empty(), "--roots"},
                               std::pair{!args.measurements.empty(), "--measurement"},
                               std::pair{args.allow_debug, "--allow-debug"}}) {
      if (given) return Usage(absl::StrCat(name, " is for --type sev-snp"));
    }
  }
  if (!args.policy_path.empty()) {
    for (auto [given, name] : {std::pair{!args.measurements.empty(), "--measurement"},
                               std::pair{args.allow_debug, "--allow-debug"},
                               std::pair{!args.ak_fingerprints.empty(), "--ak-fingerprint"}}) {
      if (given) {
        return Usage(absl::StrCat(name,
                                  " narrows the default policy only; with --policy, put it in "
                                  "the policy file"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Common> PrepareCommon(const AttestVerifyArgs& args, const AttestCommandDeps& deps) {
  Common common;
  common.now = deps.now();
  if (!args.at.empty()) {
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, args.at, &common.now, &error)) {
      return Usage(absl::StrCat("--at ", args.at,
                                ": not an RFC 3339 time (e.g. 2024-01-01T00:00:00Z): ", error));
    }
  }
  if (!args.report_data.empty()) {
    const std::size_t size = args.type == "tpm" ? tpm::kExtraDataSize : 64;
    absl::StatusOr<std::vector<std::uint8_t>> bytes =
        ParseHex(args.report_data, size, "--report-data");
    if (!bytes.ok()) return bytes.status();
    common.report_data = *std::move(bytes);
  }
  common.policy_source = "default";
  if (!args.policy_path.empty()) {
    absl::StatusOr<std::string> text = ReadFile(args.policy_path, "--policy");
    if (!text.ok()) return text.status();
    absl::StatusOr<policy::AttestationPolicy> parsed = policy::ParsePolicy(*text);
    if (!parsed.ok()) {
      return Usage(absl::StrCat("--policy ", args.policy_path,
                                " is not a valid attestation policy: ", parsed.status().message(),
                                " (`cloakctl policy validate ", args.policy_path,
                                "` lists every error)"));
    }
    common.file_policy = *std::move(parsed);
    common.policy_source = args.policy_path;
  }
  return common;
}

// One HEX value per occurrence; the option may be repeated.
void Repeatable(CLI::Option* option) {
  option->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->type_name("HEX");
}

int UsageError(std::ostream& err, absl::string_view message) {
  err << "cloakctl " << kCommand << ": " << message << "\n"
      << "Run `cloakctl " << kCommand << " --help` for its options.\n";
  return kExitUsage;
}

}  // namespace

int RunAttestVerify(const AttestVerifyArgs& args, const AttestCommandDeps& deps) {
  std::ostream& err = *deps.err;
  if (absl::Status ok = CheckOptions(args); !ok.ok()) return UsageError(err, ok.message());
  absl::StatusOr<Common> common = PrepareCommon(args, deps);
  if (!common.ok()) return UsageError(err, common.status().message());
  absl::StatusOr<Outcome> outcome =
      args.type == "tpm" ? VerifyTpm(args, *common) : VerifySnp(args, *common);
  if (!outcome.ok()) return UsageError(err, outcome.status().message());

  const bool fresh = common->report_data.has_value();
  if (!fresh) {
    err << "cloakctl " << kCommand << ": WARNING: freshness not checked: no --report-data was "
        << "given, so this evidence may be old or replayed\n";
  }
  outcome->policy["source"] = common->policy_source;
  json verdict = {{"accepted", outcome->accepted},
                  {"failed_check", outcome->accepted ? json(nullptr) : json(outcome->failed_check)},
                  {"message", outcome->message},
                  {"report_data_checked", fresh}};
  const json document = {
      {"type", args.type},
      {"evidence", args.evidence_path},
      {"verified_at", absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", common->now, absl::UTCTimeZone())},
      {"claims", outcome->claims},
      {"policy", outcome->policy},
      {"verdict", verdict}};
  *deps.out << document.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  if (!outcome->accepted) {
    err << "cloakctl " << kCommand << ": REFUSED: " << outcome->failed_check << ": "
        << outcome->message << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

void AddAttestCommands(CLI::App& app, AttestCommandDeps deps, std::function<int()>& action) {
  CLI::App* attest = app.add_subcommand("attest", "Offline attestation evidence checks");
  attest->require_subcommand(1);
  auto args = std::make_shared<AttestVerifyArgs>();
  CLI::App* verify = attest->add_subcommand(
      "verify",
      "Verify SEV-SNP or TPM evidence offline and judge it against a policy; prints the claims "
      "and the verdict as JSON, exit 0 only when accepted");
  verify->add_option("--type", args->type, "Evidence type")
      ->required()
      ->check(CLI::IsMember({"sev-snp", "tpm"}));
  verify
      ->add_option("--evidence", args->evidence_path,
                   "sev-snp: a raw 0x4A0-byte report or a SevSnpEvidence message; tpm: a "
                   "TpmEvidence message")
      ->required()
      ->type_name("FILE");
  verify->add_option("--vcek", args->vcek_path, "sev-snp: the VCEK certificate (DER or PEM)")
      ->type_name("FILE");
  verify
      ->add_option("--roots", args->roots_path,
                   "sev-snp: AMD's cert_chain PEM (ASK then ARK); the ARK must match the "
                   "compiled-in pin")
      ->type_name("FILE");
  verify
      ->add_option("--policy", args->policy_path,
                   "Attestation policy document (YAML or JSON); default: the built-in offline "
                   "policy")
      ->type_name("FILE");
  Repeatable(verify->add_option(
      "--measurement", args->measurements,
      "sev-snp, default policy: accept only this launch measurement (repeatable)"));
  verify->add_flag("--allow-debug", args->allow_debug,
                   "sev-snp, default policy: accept a guest policy that allows debugging");
  verify
      ->add_option("--report-data", args->report_data,
                   "Expected REPORT_DATA (sev-snp, 128 hex digits) or extraData (tpm, 64); "
                   "without it freshness is not checked")
      ->type_name("HEX");
  verify->add_option("-o,--output", args->output, "Output format: json (the only one)")
      ->check(CLI::IsMember({"json"}));
  verify->add_option("--at", args->at, "Verification time (default: now)")
      ->type_name("RFC3339-TIME");
  Repeatable(verify->add_option("--ak-fingerprint", args->ak_fingerprints,
                                "tpm, default policy: trust this attestation key (SHA-256 of its "
                                "TPMT_PUBLIC; repeatable)"));
  auto shared_deps = std::make_shared<AttestCommandDeps>(std::move(deps));
  verify->callback([args, shared_deps, &action] {
    action = [args, shared_deps] { return RunAttestVerify(*args, *shared_deps); };
  });
}

}  // namespace cloak::cli
