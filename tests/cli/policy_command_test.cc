// `cloakctl policy get|set|validate` over FakeAdminClient: local validation before any
// call, the canonical document that is sent, versions, and output.

#include "cli/policy_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "attest/policy/parse.h"
#include "cli/exit_codes.h"
#include "tests/cli/fake_admin_client.h"

namespace cloak::cli {
namespace {

using testing::FakeAdminClient;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kMeasurement(96, 'a');

std::string ValidPolicy() {
  return "version: 1\n# comments are not stored\nsev-snp:\n  measurements: [" + kMeasurement +
         "]\nrules:\n  - {name: workers, role: node}\n";
}

class PolicyCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = std::filesystem::temp_directory_path() / "cloakctl-policy-XXXXXX";
    dir_ = mkdtemp(pattern.data());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& text) {
    const std::string path = dir_ + "/policy.yaml";
    std::ofstream(path) << text;
    return path;
  }
  CommandIo Io(OutputFormat format = OutputFormat::kText) {
    return CommandIo{.format = format, .out = out_, .err = err_};
  }

  std::string dir_;
  FakeAdminClient client_;
  std::ostringstream out_, err_;
};

TEST_F(PolicyCommandTest, ValidateAcceptsAValidFile) {
  const std::string path = Write(ValidPolicy());
  EXPECT_EQ(RunPolicyValidate(path, Io()), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), path + ": valid attestation policy: 1 rule; sections: sev-snp\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(PolicyCommandTest, ValidateListsEveryError) {
  const std::string path = Write(
      "version: 1\nsev-snp: {measurements: [abc], max_vmpl: 9}\nrules:\n"
      "  - {name: w, role: node}\n  - {name: w, role: boss}\n");
  EXPECT_EQ(RunPolicyValidate(path, Io()), kExitFailed);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(err_.str(), path + ": sev-snp.measurements[0]: expected 96 hex digits\n" + path +
                            ": sev-snp.max_vmpl: expected an integer 0..3\n" + path +
                            ": rules[1].name: duplicate rule name \"w\" (also rules[0])\n" + path +
                            ": rules[1].role: unknown role; expected node or controller\n" + path +
                            ": 4 errors\n");
}

TEST_F(PolicyCommandTest, ValidateAsJson) {
  const std::string path = Write("version: 1\nrules: []\nextra: 1\n");
  EXPECT_EQ(RunPolicyValidate(path, Io(OutputFormat::kJson)), kExitFailed);
  const nlohmann::json result = nlohmann::json::parse(out_.str());
  EXPECT_EQ(result["valid"], false);
  EXPECT_EQ(result["errors"][0]["path"], "extra");
  EXPECT_THAT(result["errors"][0]["message"].get<std::string>(), StartsWith("unknown key"));
}

TEST_F(PolicyCommandTest, ValidateOfAMissingFileIsAUsageError) {
  EXPECT_EQ(RunPolicyValidate(dir_ + "/absent.yaml", Io()), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("cannot read " + dir_ + "/absent.yaml"));
}

TEST_F(PolicyCommandTest, SetRefusesAnInvalidFileWithoutAnyCall) {
  const std::string path = Write("version: 1\nsev-snp: {measurements: [abc]}\nrules: []\n");
  EXPECT_EQ(RunPolicySet(client_, PolicySetArgs{.path = path, .expected_version = -1}, Io()),
            kExitFailed);
  EXPECT_EQ(client_.calls, 0);
  EXPECT_EQ(err_.str(), "cloakctl policy set: " + path +
                            " is not a valid attestation policy; nothing was sent:\n  " + path +
                            ": sev-snp.measurements[0]: expected 96 hex digits\n");
}

TEST_F(PolicyCommandTest, SetSendsTheCanonicalDocumentOnTopOfTheCurrentVersion) {
  const std::string path = Write(ValidPolicy());
  ASSERT_EQ(RunPolicySet(client_, PolicySetArgs{.path = path, .expected_version = -1}, Io()),
            kExitOk)
      << err_.str();
  EXPECT_EQ(out_.str(), "attestation policy version 1 stored (previous: none)\n");
  ASSERT_EQ(client_.policies.size(), 1u);
  EXPECT_EQ(client_.policies[0].name(), "attestation");
  const std::string& sent = client_.policies[0].document();
  EXPECT_TRUE(nlohmann::json::parse(sent).is_object());  // the service wants a JSON object
  EXPECT_EQ(sent, attest::policy::PolicyToJson(*attest::policy::ParsePolicy(ValidPolicy())));

  out_.str("");
  ASSERT_EQ(RunPolicySet(client_, PolicySetArgs{.path = path, .expected_version = -1},
                         Io(OutputFormat::kJson)),
            kExitOk);
  const nlohmann::json result = nlohmann::json::parse(out_.str());
  EXPECT_EQ(result["version"], 2);
  EXPECT_EQ(result["previous_version"], 1);
}

TEST_F(PolicyCommandTest, SetWithAStaleExpectedVersionFails) {
  const std::string path = Write(ValidPolicy());
  ASSERT_EQ(RunPolicySet(client_, PolicySetArgs{.path = path, .expected_version = 0}, Io()),
            kExitOk);
  EXPECT_EQ(RunPolicySet(client_, PolicySetArgs{.path = path, .expected_version = 0}, Io()),
            kExitFailed);
  EXPECT_THAT(err_.str(), HasSubstr("is at version 1, not 0"));
  EXPECT_THAT(err_.str(), HasSubstr("--expected-version"));
  EXPECT_EQ(client_.policies.size(), 1u);
  EXPECT_EQ(RunPolicySet(client_, PolicySetArgs{.path = path, .expected_version = 1}, Io()),
            kExitOk);
  EXPECT_EQ(client_.policies.size(), 2u);
}

TEST_F(PolicyCommandTest, SetReportsAFailedCall) {
  client_.error = absl::UnavailableError("cannot reach the key service at kms.test:7443");
  EXPECT_EQ(RunPolicySet(client_,
                         PolicySetArgs{.path = Write(ValidPolicy()), .expected_version = -1}, Io()),
            kExitFailed);
  EXPECT_EQ(err_.str(), "cloakctl policy set: cannot reach the key service at kms.test:7443\n");
  EXPECT_EQ(client_.policy_sets, 0);
}

TEST_F(PolicyCommandTest, GetShowsTheLatestOrAGivenVersion) {
  const std::string path = Write(ValidPolicy());
  ASSERT_EQ(RunPolicySet(client_, PolicySetArgs{.path = path, .expected_version = -1}, Io()),
            kExitOk);
  ASSERT_EQ(RunPolicySet(client_, PolicySetArgs{.path = path, .expected_version = -1}, Io()),
            kExitOk);
  out_.str("");
  ASSERT_EQ(RunPolicyGet(client_, PolicyGetArgs{.version = 0}, Io()), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), StartsWith("policy:   attestation\nversion:  2\ncreated:  "));
  EXPECT_THAT(out_.str(), HasSubstr("contents: 1 rule; sections: sev-snp\ndocument:\n{\n"));
  out_.str("");
  ASSERT_EQ(RunPolicyGet(client_, PolicyGetArgs{.version = 1}, Io(OutputFormat::kJson)), kExitOk);
  const nlohmann::json result = nlohmann::json::parse(out_.str());
  EXPECT_EQ(result["version"], 1);
  EXPECT_EQ(result["document"]["rules"][0]["name"], "workers");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(PolicyCommandTest, GetWithoutAPolicyFails) {
  EXPECT_EQ(RunPolicyGet(client_, PolicyGetArgs{.version = 0}, Io()), kExitFailed);
  EXPECT_EQ(err_.str(),
            "cloakctl policy get: the key service at kms.test:7443 has no attestation policy; "
            "store one with `cloakctl policy set FILE`\n");
  err_.str("");
  EXPECT_EQ(RunPolicyGet(client_, PolicyGetArgs{.version = 7}, Io()), kExitFailed);
  EXPECT_THAT(err_.str(), HasSubstr("has no attestation policy version 7"));
}

TEST_F(PolicyCommandTest, GetNotesAStoredDocumentThisBuildCannotRead) {
  v1::Policy old;
  old.set_name("attestation");
  old.set_version(1);
  old.set_document(R"({"allowed_measurements": []})");
  client_.policies.push_back(old);
  EXPECT_EQ(RunPolicyGet(client_, PolicyGetArgs{.version = 0}, Io()), kExitOk);
  EXPECT_THAT(err_.str(), HasSubstr("note: version 1 is not a valid policy for this cloakctl: "
                                    "version: required"));
  EXPECT_THAT(out_.str(), HasSubstr("\"allowed_measurements\": []"));
}

}  // namespace
}  // namespace cloak::cli
