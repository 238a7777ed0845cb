// The policy document parser: valid documents and what they mean, and a table of invalid
// documents with the exact error each must name.

#include "attest/policy/parse.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/attest/policy/policy_test_support.h"

namespace cloak::attest::policy {
namespace {

using testing::Array;
using testing::BaseDocument;
using testing::Fill;
using ::testing::HasSubstr;
using testing::MustParse;
using ::testing::StartsWith;

TEST(ParsePolicyTest, BaseDocumentMeansWhatItSays) {
  const AttestationPolicy policy = MustParse(BaseDocument());
  ASSERT_TRUE(policy.sev_snp.has_value());
  EXPECT_FALSE(policy.sev_snp->allow_debug);
  EXPECT_EQ(policy.sev_snp->max_vmpl, 0u);
  EXPECT_EQ(policy.sev_snp->measurements,
            (std::vector<Sha384>{Array<48>(testing::kM1), Array<48>(testing::kM2)}));
  EXPECT_EQ(policy.sev_snp->min_tcb,
            (SnpMinTcb{.bootloader = 2, .tee = 0, .snp = 5, .microcode = 68, .fmc = 0}));
  EXPECT_TRUE(policy.sev_snp->chip_ids.empty());
  ASSERT_TRUE(policy.tpm.has_value());
  EXPECT_EQ(policy.tpm->pcrs.size(), 2u);
  EXPECT_EQ(policy.tpm->pcrs.at(7).size(), 2u);
  EXPECT_FALSE(policy.tpm->allow_ek_ca);
  EXPECT_FALSE(policy.none.has_value());
  ASSERT_EQ(policy.rules.size(), 2u);
  EXPECT_EQ(policy.rules[0].name, "provisioner");
  EXPECT_EQ(policy.rules[0].role, Role::kController);
  EXPECT_EQ(policy.rules[0].match.tees, std::vector<Tee>{Tee::kSevSnp});
  EXPECT_EQ(policy.rules[1].role, Role::kNode);
  EXPECT_EQ(policy.rules[1].volume_labels,
            (std::map<std::string, std::string>{{"csi.storage.k8s.io/pvc/namespace", "prod"}}));
}

TEST(ParsePolicyTest, CanonicalJsonReadsBackToTheSamePolicy) {
  const AttestationPolicy policy = MustParse(BaseDocument());
  const std::string json = PolicyToJson(policy);
  EXPECT_THAT(json, StartsWith("{\n  \"version\": 1,"));
  EXPECT_EQ(MustParse(json), policy);
  // Upper-case hex is accepted and written back in lower case.
  std::string upper = BaseDocument();
  const std::size_t at = upper.find(testing::kM1);
  for (std::size_t i = at; i < at + testing::kM1.size(); ++i) {
    upper[i] = static_cast<char>(std::toupper(upper[i]));
  }
  EXPECT_EQ(MustParse(upper), policy);
}

TEST(ParsePolicyTest, QuotedAndPlainStringsAndPcrKeysAreTheSame) {
  const AttestationPolicy plain = MustParse(Fill(R"(version: 1
tpm: {pcrs: {7: [{PCR7A}]}, allow_ek_ca: true}
rules: [{name: a, role: node}]
)"));
  const AttestationPolicy quoted = MustParse(Fill(R"({"version": 1,
 "tpm": {"pcrs": {"7": ["{PCR7A}"]}, "allow_ek_ca": true},
 "rules": [{"name": "a", "role": "node"}]})"));
  EXPECT_EQ(plain, quoted);
}

TEST(ParsePolicyTest, EmptyRuleListAndNoneSectionAreAccepted) {
  const AttestationPolicy policy = MustParse("version: 1\nnone: {}\nrules: []\n");
  EXPECT_TRUE(policy.none.has_value());
  EXPECT_TRUE(policy.rules.empty());
}

TEST(ParsePolicyTest, DocumentedExampleIsValid) {
  const char* source = std::getenv("CLOAK_SOURCE_DIR");
  ASSERT_NE(source, nullptr) << "run through ctest";
  std::ifstream in(std::filesystem::path(source) / "docs/attestation-policy.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  const std::size_t start = doc.find("```yaml\nversion: 1");
  ASSERT_NE(start, std::string::npos);
  const std::size_t end = doc.find("```", start + 7);
  const AttestationPolicy policy = MustParse(doc.substr(start + 8, end - start - 8));
  EXPECT_GE(policy.rules.size(), 3u);
  EXPECT_EQ(MustParse(PolicyToJson(policy)), policy);
}

TEST(ParsePolicyTest, SeedCorpusFilesAreWhatTheirNamesSay) {
  const char* source = std::getenv("CLOAK_SOURCE_DIR");
  ASSERT_NE(source, nullptr) << "run through ctest";
  int valid = 0, invalid = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(source) /
                                                               "tests/attest/policy/corpus")) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    const std::string name = entry.path().filename();
    const bool ok = ParsePolicy(text.str()).ok();
    if (name.starts_with("valid-")) {
      EXPECT_TRUE(ok) << name << ": " << ParsePolicy(text.str()).status();
      ++valid;
    } else if (name.starts_with("invalid-")) {
      EXPECT_FALSE(ok) << name;
      ++invalid;
    }
  }
  EXPECT_GE(valid, 2);
  EXPECT_GE(invalid, 2);
}

struct InvalidCase {
  std::string name;
  std::string document;  // {M1}... filled in
  std::string error;     // the first error, exactly
};

// Sections and rules that are valid, to build invalid documents around one bad part.
const std::string kSnp = "sev-snp: {measurements: [{M1}]}\n";
const std::string kRules = "rules: [{name: w, role: node}]\n";

std::vector<InvalidCase> InvalidCases() {
  return {
      {"unknown top-level key", "version: 1\n" + kSnp + kRules + "foo: 1\n",
       "foo: unknown key; allowed here: version, sev-snp, tpm, none, rules"},
      {"no version", kSnp + kRules, "version: required: write `version: 1`"},
      {"future version", "version: 2\n" + kSnp + kRules,
       "version: unsupported document version; this build reads version 1"},
      {"quoted version", "version: \"1\"\n" + kSnp + kRules,
       "version: unsupported document version; this build reads version 1"},
      {"debug as string",
       "version: 1\nsev-snp: {allow_debug: \"true\", measurements: [{M1}]}\n" + kRules,
       "sev-snp.allow_debug: expected true or false"},
      {"debug as yes", "version: 1\nsev-snp: {allow_debug: yes, measurements: [{M1}]}\n" + kRules,
       "sev-snp.allow_debug: expected true or false"},
      {"vmpl too big", "version: 1\nsev-snp: {max_vmpl: 4, measurements: [{M1}]}\n" + kRules,
       "sev-snp.max_vmpl: expected an integer 0..3"},
      {"vmpl negative", "version: 1\nsev-snp: {max_vmpl: -1, measurements: [{M1}]}\n" + kRules,
       "sev-snp.max_vmpl: expected an integer 0..3"},
      {"short measurement",
       "version: 1\nsev-snp: {measurements: [{M1}, " + testing::kM2.substr(1) + "]}\n" + kRules,
       "sev-snp.measurements[1]: expected 96 hex digits"},
      {"non-hex measurement",
       "version: 1\nsev-snp: {measurements: [" + testing::Rep("zz", 48) + "]}\n" + kRules,
       "sev-snp.measurements[0]: expected 96 hex digits"},
      {"0x measurement",
       "version: 1\nsev-snp: {measurements: [0x" + testing::kM1.substr(2) + "]}\n" + kRules,
       "sev-snp.measurements[0]: expected 96 hex digits"},
      {"sha256 as measurement", "version: 1\nsev-snp: {measurements: [{PCR0}]}\n" + kRules,
       "sev-snp.measurements[0]: expected 96 hex digits"},
      {"empty measurements", "version: 1\nsev-snp: {measurements: []}\n" + kRules,
       "sev-snp.measurements: must not be empty"},
      {"no measurements", "version: 1\nsev-snp: {max_vmpl: 0}\n" + kRules,
       "sev-snp.measurements: required: list the launch measurements (96 hex digits each) of "
       "the guest images to accept"},
      {"measurements not a list", "version: 1\nsev-snp: {measurements: {M1}}\n" + kRules,
       "sev-snp.measurements: expected a list, found a scalar"},
      {"section not a mapping", "version: 1\nsev-snp: [{M1}]\n" + kRules,
       "sev-snp: expected a mapping, found a list"},
      {"tcb component too big",
       "version: 1\nsev-snp: {measurements: [{M1}], min_tcb: {snp: 256}}\n" + kRules,
       "sev-snp.min_tcb.snp: expected an integer 0..255"},
      {"unknown tcb component",
       "version: 1\nsev-snp: {measurements: [{M1}], min_tcb: {sev: 1}}\n" + kRules,
       "sev-snp.min_tcb.sev: unknown key; allowed here: bootloader, tee, snp, microcode, fmc"},
      {"short chip id",
       "version: 1\nsev-snp: {measurements: [{M1}], chip_ids: [{HOST1}]}\n" + kRules,
       "sev-snp.chip_ids[0]: expected 128 hex digits"},
      {"long host data",
       "version: 1\nsev-snp: {measurements: [{M1}], host_data: [{HOST1}00]}\n" + kRules,
       "sev-snp.host_data[0]: expected 64 hex digits"},
      {"unknown product",
       "version: 1\nsev-snp: {measurements: [{M1}], products: [milan, rome]}\n" + kRules,
       "sev-snp.products[1]: unknown product; expected milan, genoa or turin"},
      {"pcr index 24", "version: 1\ntpm: {pcrs: {24: [{PCR0}]}, allow_ek_ca: true}\n" + kRules,
       "tpm.pcrs.24: expected a PCR index 0..23"},
      {"pcr index not a number",
       "version: 1\ntpm: {pcrs: {seven: [{PCR0}]}, allow_ek_ca: true}\n" + kRules,
       "tpm.pcrs.seven: expected a PCR index 0..23"},
      {"short pcr value", "version: 1\ntpm: {pcrs: {7: [{M1}]}, allow_ek_ca: true}\n" + kRules,
       "tpm.pcrs.7[0]: expected 64 hex digits"},
      {"pcr listed twice",
       "version: 1\ntpm: {pcrs: {7: [{PCR0}], 07: [{PCR0}]}, allow_ek_ca: true}\n" + kRules,
       "tpm.pcrs.07: PCR 7 is listed twice"},
      {"no pcrs", "version: 1\ntpm: {allow_ek_ca: true}\n" + kRules,
       "tpm.pcrs: required: list the PCR values (SHA-256 bank) of the guest images to accept"},
      {"no way to trust an ak", "version: 1\ntpm: {pcrs: {7: [{PCR0}]}}\n" + kRules,
       "tpm.trusted_aks: no attestation key can be trusted: pin AK fingerprints here or set "
       "allow_ek_ca: true"},
      {"bad ak", "version: 1\ntpm: {pcrs: {7: [{PCR0}]}, trusted_aks: [xyz]}\n" + kRules,
       "tpm.trusted_aks[0]: expected 64 hex digits"},
      {"none takes no keys", "version: 1\nnone: {insecure: true}\n" + kRules,
       "none.insecure: unknown key; this mapping takes no keys"},
      {"no section", "version: 1\n" + kRules,
       "the policy has no sev-snp, tpm or none section, so it accepts no guest"},
      {"no rules", "version: 1\n" + kSnp,
       "rules: required: the list of rules that give attested guests a role"},
      {"duplicate rule name",
       "version: 1\n" + kSnp + "rules: [{name: w, role: node}, {name: w, role: controller}]\n",
       "rules[1].name: duplicate rule name \"w\" (also rules[0])"},
      {"empty rule name", "version: 1\n" + kSnp + "rules: [{name: \"\", role: node}]\n",
       "rules[0].name: rule names are 1..63 characters of a-z, 0-9 and -"},
      {"upper-case rule name", "version: 1\n" + kSnp + "rules: [{name: Workers, role: node}]\n",
       "rules[0].name: rule names are 1..63 characters of a-z, 0-9 and -"},
      {"long rule name",
       "version: 1\n" + kSnp + "rules: [{name: " + std::string(64, 'a') + ", role: node}]\n",
       "rules[0].name: rule names are 1..63 characters of a-z, 0-9 and -"},
      {"no rule name", "version: 1\n" + kSnp + "rules: [{role: node}]\n",
       "rules[0].name: required"},
      {"unknown role", "version: 1\n" + kSnp + "rules: [{name: a, role: admin}]\n",
       "rules[0].role: unknown role; expected node or controller"},
      {"no role", "version: 1\n" + kSnp + "rules: [{name: a}]\n",
       "rules[0].role: required: node or controller"},
      {"unknown rule key", "version: 1\n" + kSnp + "rules: [{name: a, role: node, tee: tpm}]\n",
       "rules[0].tee: unknown key; allowed here: name, role, match, volumes"},
      {"unknown tee",
       "version: 1\n" + kSnp + "rules: [{name: a, role: node, match: {tee: [tdx]}}]\n",
       "rules[0].match.tee[0]: unknown TEE; expected sev-snp, tpm or none"},
      {"tee without section",
       "version: 1\n" + kSnp + "rules: [{name: a, role: node, match: {tee: [tpm]}}]\n",
       "rules[0].match.tee[0]: the policy has no tpm section, so no tpm guest passes; add the "
       "section or drop it here"},
      {"bad pcr value in a rule",
       "version: 1\ntpm: {pcrs: {7: [{PCR7A}]}, allow_ek_ca: true}\nrules:\n"
       "  - {name: a, role: node}\n  - {name: b, role: node, match: {pcrs: {7: [abc]}}}\n",
       "rules[1].match.pcrs.7[0]: expected 64 hex digits"},
      {"pcr index 24 in a rule",
       "version: 1\ntpm: {pcrs: {7: [{PCR7A}]}, allow_ek_ca: true}\n"
       "rules: [{name: a, role: node, match: {pcrs: {24: [{PCR0}]}}}]\n",
       "rules[0].match.pcrs.24: expected a PCR index 0..23"},
      {"empty match list",
       "version: 1\n" + kSnp + "rules: [{name: a, role: node, match: {measurements: []}}]\n",
       "rules[0].match.measurements: must not be empty"},
      {"mixed tee fields",
       "version: 1\n" + kSnp +
           "rules: [{name: a, role: node, match: {measurements: [{M1}], ak_fingerprints: "
           "[{AK1}]}}]\n",
       "rules[0].match: mixes sev-snp fields (measurements) with tpm fields (ak_fingerprints), so "
       "no guest can match; split it into two rules"},
      {"snp field on a tpm rule",
       "version: 1\n" + kSnp + "tpm: {pcrs: {7: [{PCR7A}]}, allow_ek_ca: true}\n" +
           "rules: [{name: a, role: node, match: {tee: [tpm], chip_ids: [{CHIP1}]}}]\n",
       "rules[0].match.chip_ids: a sev-snp field, but match.tee does not list sev-snp"},
      {"tpm field on a none rule",
       "version: 1\nnone: {}\nrules: [{name: a, role: node, match: {tee: [none], pcrs: {7: "
       "[{PCR7A}]}}}]\n",
       "rules[0].match.pcrs: a tpm field, but match.tee does not list tpm"},
      {"label value not a string",
       "version: 1\n" + kSnp + "rules: [{name: a, role: node, volumes: {labels: {app: [x]}}}]\n",
       "rules[0].volumes.labels.app: expected a string, found a list"},
      {"label value with a space",
       "version: 1\n" + kSnp +
           "rules: [{name: a, role: node, volumes: {labels: {app: \"a b\"}}}]\n",
       "rules[0].volumes.labels.app: label values are 0..253 printable characters without spaces"},
      {"unknown volumes key",
       "version: 1\n" + kSnp + "rules: [{name: a, role: node, volumes: {ids: [v]}}]\n",
       "rules[0].volumes.ids: unknown key; allowed here: labels"},
      {"duplicate key", "version: 1\nsev-snp: {allow_debug: false, allow_debug: true}\n" + kRules,
       "sev-snp.allow_debug: duplicate key"},
      {"duplicate top-level key", "version: 1\n" + kSnp + kRules + kRules, "rules: duplicate key"},
      {"anchor", "version: 1\nsev-snp: {measurements: [&m {M1}, *m]}\n" + kRules,
       "sev-snp.measurements[0]: YAML anchors (&name) are not allowed in a policy"},
      {"alias", "version: 1\nsev-snp: {measurements: [*m]}\n" + kRules,
       "not valid YAML: line 2, column 26: the referenced anchor is not defined"},
      {"tag", "version: 1\nsev-snp: {allow_debug: !!bool false, measurements: [{M1}]}\n" + kRules,
       "sev-snp.allow_debug: YAML tags are not allowed in a policy (found "
       "tag:yaml.org,2002:bool)"},
      {"complex key", "version: 1\n? [a]\n: 1\n" + kSnp + kRules, "keys must be plain strings"},
      {"two documents", "version: 1\n" + kSnp + kRules + "---\nversion: 1\n",
       "more than one YAML document"},
      {"empty", "", "the document is empty"},
      {"scalar", "hello", "the document must be a mapping with version, sections and rules"},
      {"list", "[1, 2]", "the document must be a mapping with version, sections and rules"},
      {"syntax error", "version: 1\nsev-snp: {measurements: [\n",
       "not valid YAML: line 3, column 1: end of sequence flow not found"},
  };
}

TEST(ParsePolicyTest, InvalidDocumentsNameThePath) {
  for (const InvalidCase& c : InvalidCases()) {
    const std::string document = Fill(c.document);
    const std::vector<PolicyError> errors = ValidatePolicy(document);
    ASSERT_FALSE(errors.empty()) << c.name;
    EXPECT_EQ(errors.front().ToString(), c.error) << c.name;
    absl::StatusOr<AttestationPolicy> parsed = ParsePolicy(document);
    ASSERT_FALSE(parsed.ok()) << c.name;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(parsed.status().message()), StartsWith(c.error)) << c.name;
  }
}

TEST(ParsePolicyTest, ValidateListsEveryErrorInDocumentOrder) {
  const std::string document = Fill(R"(version: 1
sev-snp:
  allow_debug: maybe
  measurements: [{M1}, abc]
  products: [rome]
rules:
  - {name: A, role: node}
  - {name: b, role: admin}
)");
  std::vector<std::string> errors;
  for (const PolicyError& error : ValidatePolicy(document)) errors.push_back(error.ToString());
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "sev-snp.allow_debug: expected true or false",
                        "sev-snp.measurements[1]: expected 96 hex digits",
                        "sev-snp.products[0]: unknown product; expected milan, genoa or turin",
                        "rules[0].name: rule names are 1..63 characters of a-z, 0-9 and -",
                        "rules[1].role: unknown role; expected node or controller"}));
  EXPECT_EQ(ParsePolicy(document).status().message(),
            "sev-snp.allow_debug: expected true or false (and 4 more; `cloakctl policy validate` "
            "lists them)");
}

TEST(ParsePolicyTest, ErrorCountIsBounded) {
  std::string document = "version: 1\nsev-snp:\n  measurements:\n";
  for (int i = 0; i < 500; ++i) document += "  - bad\n";
  document += kRules;
  EXPECT_EQ(ValidatePolicy(document).size(), kMaxReportedErrors);
  EXPECT_THAT(std::string(ParsePolicy(document).status().message()), HasSubstr("and 499 more"));
}

TEST(ParsePolicyTest, HostileSizesAreRefused) {
  // Over 1 MiB.
  std::string big =
      "version: 1\n" + Fill(kSnp) + kRules + "#" + std::string(kMaxDocumentBytes, 'x');
  EXPECT_THAT(std::string(ParsePolicy(big).status().message()),
              StartsWith("the document is 1048" /* bytes */));
  // A list longer than 1024 entries.
  std::string many = "version: 1\nsev-snp:\n  measurements:\n";
  for (std::size_t i = 0; i <= kMaxListEntries; ++i) many += "  - " + testing::kM1 + "\n";
  many += kRules;
  EXPECT_EQ(ParsePolicy(many).status().message(), "sev-snp.measurements: more than 1024 entries");
  // Deep nesting, in flow and in block style, stops at the limit without recursing on.
  const std::string flow = "version: 1\nx: " + std::string(100000, '[') + std::string(100000, ']');
  EXPECT_THAT(std::string(ParsePolicy(flow).status().message()),
              HasSubstr("nested more than 16 levels deep"));
  std::string block = "version: 1\nx:\n";
  for (int i = 0; i < 5000; ++i) block += "- ";
  block += "1\n";
  EXPECT_THAT(std::string(ParsePolicy(block).status().message()),
              HasSubstr("nested more than 16 levels deep"));
  // More rules than allowed.
  std::string rules = "version: 1\n" + Fill(kSnp) + "rules:\n";
  for (std::size_t i = 0; i <= kMaxRules; ++i) {
    rules += "  - {name: r" + std::to_string(i) + ", role: node}\n";
  }
  EXPECT_EQ(ParsePolicy(rules).status().message(), "rules: more than 256 rules");
}

TEST(ParsePolicyTest, OddKeysCannotGarbleMessages) {
  const std::string document = "version: 1\n" + Fill(kSnp) + kRules + "\"a\\x1b[31mb\": 1\n";
  EXPECT_EQ(ParsePolicy(document).status().message(),
            "a?[31mb: unknown key; allowed here: version, sev-snp, tpm, none, rules");
}

}  // namespace
}  // namespace cloak::attest::policy
