// Connection settings: the YAML file, flags over file, and the messages for what is
// missing or wrong.

#include "cli/client_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace cloak::cli {
namespace {

using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string pattern = std::filesystem::temp_directory_path() / "cloakctl-config-XXXXXX";
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string file = path_ + "/" + name;
    std::ofstream(file) << text;
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ClientConfigTest, ParsesTheFourKeysAndResolvesRelativePaths) {
  absl::StatusOr<ClientSettings> settings = ParseClientConfig(
      "kms: kms.example.com:7443\nca: tls/ca.pem\ncert: /etc/cloak/admin.pem\nkey: admin.key\n",
      "/home/op/.config/cloak");
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->kms, "kms.example.com:7443");
  EXPECT_EQ(settings->ca, "/home/op/.config/cloak/tls/ca.pem");
  EXPECT_EQ(settings->cert, "/etc/cloak/admin.pem");
  EXPECT_EQ(settings->key, "/home/op/.config/cloak/admin.key");
}

TEST(ClientConfigTest, EmptyDocumentSetsNothing) {
  absl::StatusOr<ClientSettings> settings = ParseClientConfig("", "/x");
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_FALSE(settings->kms.has_value());
  EXPECT_FALSE(settings->key.has_value());
}

TEST(ClientConfigTest, UnknownKeyIsNamed) {
  absl::StatusOr<ClientSettings> settings =
      ParseClientConfig("kms: a:1\nserver_ca: /ca.pem\n", "/x");
  EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(settings.status().message()), HasSubstr("unknown key `server_ca`"));
  EXPECT_THAT(std::string(settings.status().message()), HasSubstr("kms, ca, cert and key"));
}

TEST(ClientConfigTest, WrongShapesAreRefusedNamingTheKey) {
  EXPECT_THAT(std::string(ParseClientConfig("ca: [a, b]\n", "/x").status().message()),
              HasSubstr("`ca`"));
  EXPECT_THAT(std::string(ParseClientConfig("cert:\n", "/x").status().message()),
              HasSubstr("`cert`"));
  EXPECT_THAT(std::string(ParseClientConfig("key: ''\n", "/x").status().message()),
              HasSubstr("`key`"));
  EXPECT_THAT(std::string(ParseClientConfig("- kms\n", "/x").status().message()),
              HasSubstr("mapping"));
  EXPECT_THAT(std::string(ParseClientConfig("kms: [\n", "/x").status().message()),
              HasSubstr("YAML"));
}

TEST(ClientConfigTest, MissingFileIsNotFound) {
  TempDir dir;
  absl::StatusOr<ClientSettings> settings = LoadClientConfig(dir.path() + "/nope.yaml");
  EXPECT_EQ(settings.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(settings.status().message()), HasSubstr("nope.yaml"));
}

TEST(ClientConfigTest, LoadedFileResolvesAgainstItsDirectoryAndNamesItselfInErrors) {
  TempDir dir;
  const std::string path = dir.Write("cloakctl.yaml", "kms: 127.0.0.1:7443\nca: ca.pem\n");
  absl::StatusOr<ClientSettings> settings = LoadClientConfig(path);
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->ca, dir.path() + "/ca.pem");
  const std::string bad = dir.Write("bad.yaml", "kms: 127.0.0.1:7443\nport: 1\n");
  EXPECT_THAT(std::string(LoadClientConfig(bad).status().message()), HasSubstr(bad));
}

TEST(ClientConfigTest, FlagsOverrideTheFile) {
  ClientSettings file{.kms = "file:1", .ca = "/file/ca", .cert = "/file/cert", .key = "/file/key"};
  ClientSettings flags{
      .kms = "flag:2", .ca = std::nullopt, .cert = "/flag/cert", .key = std::nullopt};
  absl::StatusOr<ClientConfig> config = ResolveClientConfig(flags, file, "/c.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kms, "flag:2");
  EXPECT_EQ(config->ca, "/file/ca");
  EXPECT_EQ(config->cert, "/flag/cert");
  EXPECT_EQ(config->key, "/file/key");
}

TEST(ClientConfigTest, MissingSettingNamesTheFlagAndTheConfigKey) {
  ClientSettings file{.kms = "h:1", .ca = "/ca", .cert = std::nullopt, .key = "/key"};
  absl::StatusOr<ClientConfig> config = ResolveClientConfig({}, file, "/home/op/c.yaml");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("--cert FILE"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("`cert:`"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("/home/op/c.yaml"));
  EXPECT_THAT(std::string(ResolveClientConfig({}, {}, "/c.yaml").status().message()),
              HasSubstr("--kms"));
}

TEST(ClientConfigTest, AddressMustBeHostPort) {
  EXPECT_TRUE(ValidateKmsAddress("kms.example.com:7443").ok());
  EXPECT_TRUE(ValidateKmsAddress("127.0.0.1:1").ok());
  EXPECT_TRUE(ValidateKmsAddress("[::1]:7443").ok());
  EXPECT_FALSE(ValidateKmsAddress("kms.example.com").ok());
  EXPECT_FALSE(ValidateKmsAddress(":7443").ok());
  EXPECT_FALSE(ValidateKmsAddress("host:0").ok());
  EXPECT_FALSE(ValidateKmsAddress("host:70000").ok());
  EXPECT_FALSE(ValidateKmsAddress("host:port").ok());
  ClientSettings flags{.kms = "nohost", .ca = "/ca", .cert = "/c", .key = "/k"};
  EXPECT_THAT(std::string(ResolveClientConfig(flags, {}, "").status().message()),
              HasSubstr("--kms"));
}

}  // namespace
}  // namespace cloak::cli
