// The command-line wiring of the key-service commands: global options before or after
// the command, the config file, and usage errors (exit 2) before any connection.

#include "cli/kms_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/exit_codes.h"
#include "tests/cli/fake_admin_client.h"

namespace cloak::cli {
namespace {

using ::testing::HasSubstr;

class KmsCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = std::filesystem::temp_directory_path() / "cloakctl-cmd-XXXXXX";
    dir_ = mkdtemp(pattern.data());
    client_ = std::make_shared<testing::FakeAdminClient>();
    client_->health.set_serving(true);
    client_->health.set_current_kek_version(1);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
    return dir_ + "/" + name;
  }

  // Parses `args` like main() does; returns the exit code.
  int Run(std::vector<std::string> args) {
    CLI::App app("test");
    app.require_subcommand(1);
    app.fallthrough();
    std::function<int()> action;
    AddKmsCommands(app,
                   KmsCommandDeps{.connect = [this](const ClientConfig& config)
                                      -> absl::StatusOr<std::unique_ptr<AdminClient>> {
                                    connected_ = config;
                                    return std::unique_ptr<AdminClient>(new Forwarding(client_));
                                  },
                                  .clock = SystemWaitClock(),
                                  .stdout_is_terminal = false,
                                  .stderr_is_terminal = false,
                                  .out = &out_,
                                  .err = &err_,
                                  .default_config_path = dir_ + "/default.yaml"},
                   action);
    std::vector<std::string> argv = {"cloakctl"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> raw;
    for (std::string& arg : argv) raw.push_back(arg.data());
    try {
      app.parse(static_cast<int>(raw.size()), raw.data());
    } catch (const CLI::ParseError& e) {
      err_ << e.what() << "\n";
      return kExitUsage;
    }
    return action ? action() : -1;
  }

  // Hands calls to the shared fake (the command owns what connect returns).
  class Forwarding final : public AdminClient {
   public:
    explicit Forwarding(std::shared_ptr<testing::FakeAdminClient> f) : f_(std::move(f)) {}
    absl::StatusOr<v1::HealthResponse> Health() override { return f_->Health(); }
    absl::StatusOr<v1::ListVolumesResponse> ListVolumes(int n, const std::string& t) override {
      return f_->ListVolumes(n, t);
    }
    absl::StatusOr<v1::VolumeInfo> GetVolume(const std::string& id) override {
      return f_->GetVolume(id);
    }
    absl::StatusOr<v1::RotationStatus> RotateKek() override { return f_->RotateKek(); }
    absl::StatusOr<v1::RotationStatus> GetRotationStatus() override {
      return f_->GetRotationStatus();
    }
    absl::StatusOr<v1::ListAuditResponse> ListAudit(std::uint64_t from, int limit) override {
      return f_->ListAudit(from, limit);
    }
    absl::StatusOr<v1::Policy> GetPolicy(const std::string& name, std::int64_t v) override {
      return f_->GetPolicy(name, v);
    }
    absl::StatusOr<v1::Policy> SetPolicy(const std::string& name, const std::string& document,
                                         std::int64_t expected) override {
      return f_->SetPolicy(name, document, expected);
    }
    const std::string& target() const override { return f_->target(); }

   private:
    std::shared_ptr<testing::FakeAdminClient> f_;
  };

  std::string dir_;
  std::shared_ptr<testing::FakeAdminClient> client_;
  std::optional<ClientConfig> connected_;
  std::ostringstream out_, err_;
};

TEST_F(KmsCommandsTest, DefaultConfigFileSuppliesTheSettingsAndFlagsOverrideIt) {
  Write("default.yaml", "kms: file-host:7443\nca: ca.pem\ncert: admin.pem\nkey: admin.key\n");
  ASSERT_EQ(Run({"health", "--kms", "flag-host:9000", "-o", "json"}), kExitOk) << err_.str();
  ASSERT_TRUE(connected_.has_value());
  EXPECT_EQ(connected_->kms, "flag-host:9000");
  EXPECT_EQ(connected_->ca, dir_ + "/ca.pem");
  EXPECT_EQ(nlohmann::json::parse(out_.str())["serving"], true);
}

TEST_F(KmsCommandsTest, ExplicitConfigFileWinsOverTheDefault) {
  Write("default.yaml", "kms: default:1\nca: /a\ncert: /b\nkey: /c\n");
  const std::string other = Write("other.yaml", "kms: other:2\nca: /a\ncert: /b\nkey: /c\n");
  ASSERT_EQ(Run({"--config", other, "kek", "status"}), kExitOk) << err_.str();
  EXPECT_EQ(connected_->kms, "other:2");
}

TEST_F(KmsCommandsTest, MissingSettingIsAUsageErrorNamingFlagAndKey) {
  Write("default.yaml", "kms: h:1\nca: /a\ncert: /b\n");
  EXPECT_EQ(Run({"volumes", "list"}), kExitUsage);
  EXPECT_FALSE(connected_.has_value());
  EXPECT_THAT(err_.str(), HasSubstr("cloakctl volumes list: no client private key: pass --key "
                                    "FILE or set `key:` in " +
                                    dir_ + "/default.yaml"));
  EXPECT_THAT(err_.str(), HasSubstr("--help"));
}

TEST_F(KmsCommandsTest, NoConfigFileAndNoFlagsIsAUsageError) {
  EXPECT_EQ(Run({"audit", "verify"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("pass --kms HOST:PORT or set `kms:`"));
}

TEST_F(KmsCommandsTest, BrokenOrMissingExplicitConfigIsAUsageError) {
  EXPECT_EQ(Run({"--config", dir_ + "/absent.yaml", "health"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("absent.yaml does not exist (--config)"));
  const std::string bad = Write("bad.yaml", "kms: h:1\ntimeout: 3\n");
  EXPECT_EQ(Run({"--config", bad, "health"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("unknown key `timeout`"));
}

TEST_F(KmsCommandsTest, BadOptionValuesAreUsageErrors) {
  Write("default.yaml", "kms: h:1\nca: /a\ncert: /b\nkey: /c\n");
  EXPECT_EQ(Run({"-o", "yaml", "health"}), kExitUsage);
  EXPECT_EQ(Run({"volumes", "list", "--limit", "0"}), kExitUsage);
  EXPECT_EQ(Run({"volumes", "show"}), kExitUsage);
  EXPECT_EQ(Run({"kek"}), kExitUsage);
  EXPECT_EQ(Run({"--kms", "nocolon", "health"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("expected HOST:PORT"));
}

TEST_F(KmsCommandsTest, CommandArgumentsReachTheCommand) {
  Write("default.yaml", "kms: h:1\nca: /a\ncert: /b\nkey: /c\n");
  for (int i = 0; i < 30; ++i) {
    v1::VolumeInfo volume;
    volume.set_volume_id("pvc-" + std::to_string(100 + i));
    client_->volumes.push_back(volume);
  }
  ASSERT_EQ(Run({"volumes", "list", "--limit", "12", "-o", "json"}), kExitOk) << err_.str();
  EXPECT_EQ(nlohmann::json::parse(out_.str())["volumes"].size(), 12u);
}

TEST_F(KmsCommandsTest, PolicyValidateNeedsNoKeyService) {
  const std::string good = Write("good.yaml", "version: 1\nnone: {}\nrules: []\n");
  EXPECT_EQ(Run({"policy", "validate", good}), kExitOk) << err_.str();
  const std::string bad = Write("bad.yaml", "version: 1\nnone: {}\nrules: [{name: X}]\n");
  EXPECT_EQ(Run({"policy", "validate", bad, "-o", "json"}), kExitFailed);
  EXPECT_FALSE(connected_.has_value());
  EXPECT_EQ(client_->calls, 0);
  EXPECT_EQ(Run({"policy", "validate"}), kExitUsage);
}

TEST_F(KmsCommandsTest, PolicySetChecksTheFileBeforeItConnects) {
  // No connection settings at all: an invalid file still fails as invalid (exit 1).
  const std::string bad = Write("bad.yaml", "version: 1\nnone: {}\nrules: [{name: X}]\n");
  EXPECT_EQ(Run({"policy", "set", bad}), kExitFailed);
  EXPECT_FALSE(connected_.has_value());
  EXPECT_THAT(err_.str(), HasSubstr("rules[0].name: rule names are"));

  Write("default.yaml", "kms: h:1\nca: /a\ncert: /b\nkey: /c\n");
  const std::string good = Write("good.yaml", "version: 1\nnone: {}\nrules: []\n");
  ASSERT_EQ(Run({"policy", "set", good, "--expected-version", "0"}), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("attestation policy version 1 stored"));
  EXPECT_EQ(Run({"policy", "set", good, "--expected-version", "-1"}), kExitUsage);
  out_.str("");
  ASSERT_EQ(Run({"policy", "get", "--version", "1", "-o", "json"}), kExitOk) << err_.str();
  EXPECT_EQ(nlohmann::json::parse(out_.str())["version"], 1);
  EXPECT_EQ(Run({"policy", "get", "--version", "0"}), kExitUsage);
}

}  // namespace
}  // namespace cloak::cli
