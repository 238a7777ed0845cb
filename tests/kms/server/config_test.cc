// Configuration parsing, the store / KEK factories' refusals, and the secret-file checks.

#include "kms/server/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kms/server/kek_factory.h"
#include "kms/server/store_factory.h"
#include "kms/store/clock.h"
#include "tests/kms/crypto/temp_dir.h"

namespace cloak::kms::server {
namespace {

using ::testing::HasSubstr;

constexpr char kMinimal[] = R"(
tls: {cert: server.pem, key: server-key.pem, client_ca: admin-ca.pem}
store: {type: sqlite, path: store.db}
kek: {type: file, path: kek.bin}
session: {signing_key_file: signing.key}
)";

std::string With(const std::string& extra) { return std::string(kMinimal) + extra; }

TEST(ConfigTest, MinimalConfigGetsDefaultsAndResolvesRelativePaths) {
  auto config = ParseServerConfig(kMinimal, "/etc/cloak");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:7443");
  EXPECT_EQ(config->tls.cert, "/etc/cloak/server.pem");
  EXPECT_EQ(config->tls.key, "/etc/cloak/server-key.pem");
  EXPECT_EQ(config->tls.client_ca, "/etc/cloak/admin-ca.pem");
  EXPECT_EQ(config->store.type, "sqlite");
  EXPECT_EQ(config->store.path, "/etc/cloak/store.db");
  EXPECT_EQ(config->kek.path, "/etc/cloak/kek.bin");
  EXPECT_EQ(config->session.signing_key_file, "/etc/cloak/signing.key");
  EXPECT_EQ(config->session.token_ttl_s, 300);
  EXPECT_FALSE(config->insecure_allow_unattested);
  EXPECT_EQ(config->ready_file, "");
  EXPECT_EQ(config->log_format, "text");
}

TEST(ConfigTest, AbsolutePathsAndEveryKeyAreKept) {
  auto config = ParseServerConfig(R"(
listen: "[::1]:0"
tls: {cert: /a/c.pem, key: ../k.pem, client_ca: sub/ca.pem}
store: {type: sqlite, path: /var/lib/cloak/store.db}
kek: {type: file, path: /var/lib/cloak/kek.bin}
session: {signing_key_file: s.key, token_ttl_s: 2}
insecure_allow_unattested: true
ready_file: run/ready
log: {format: json, level: debug}
)",
                                  "/etc/cloak");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "[::1]:0");
  EXPECT_EQ(config->tls.cert, "/a/c.pem");
  EXPECT_EQ(config->tls.key, "/etc/k.pem");
  EXPECT_EQ(config->tls.client_ca, "/etc/cloak/sub/ca.pem");
  EXPECT_EQ(config->store.path, "/var/lib/cloak/store.db");
  EXPECT_EQ(config->session.token_ttl_s, 2);
  EXPECT_TRUE(config->insecure_allow_unattested);
  EXPECT_EQ(config->ready_file, "/etc/cloak/run/ready");
  EXPECT_EQ(config->log_format, "json");
  EXPECT_EQ(config->log_level, "debug");
}

struct BadCase {
  const char* name;
  std::string yaml;
  const char* message;  // a substring the error must contain
};

class BadConfigTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfigTest, IsRefusedNamingTheKey) {
  auto config = ParseServerConfig(GetParam().yaml, "/etc/cloak");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadConfigTest,
    ::testing::Values(
        BadCase{"UnknownTopLevelKey", With("lisen: 127.0.0.1:1\n"), "unknown key \"lisen\""},
        BadCase{"UnknownNestedKey",
                R"(
tls: {cert: a, key: b, client_ca: c, certificate: d}
store: {type: sqlite, path: s}
kek: {type: file, path: k}
session: {signing_key_file: x}
)",
                "unknown key \"tls.certificate\""},
        BadCase{"UnknownSessionKey",
                R"(
tls: {cert: a, key: b, client_ca: c}
store: {type: sqlite, path: s}
kek: {type: file, path: k}
session: {signing_key_file: x, ttl: 3}
)",
                "session.ttl"},
        BadCase{"ListenNotAString", With("listen: [a, b]\n"), "listen must be a string"},
        BadCase{"ListenWithoutPort", With("listen: localhost\n"), "listen: \"localhost\""},
        BadCase{"ListenPortTooLarge", With("listen: 127.0.0.1:70000\n"), "listen"},
        BadCase{"ListenIpv6WithoutBrackets", With("listen: ::1:7443\n"), "listen"},
        BadCase{"InsecureNotABool", With("insecure_allow_unattested: yes\n"),
                "insecure_allow_unattested must be true or false"},
        BadCase{"TtlNotANumber",
                R"(
tls: {cert: a, key: b, client_ca: c}
store: {type: sqlite, path: s}
kek: {type: file, path: k}
session: {signing_key_file: x, token_ttl_s: soon}
)",
                "session.token_ttl_s must be an integer"},
        BadCase{"TtlZero",
                R"(
tls: {cert: a, key: b, client_ca: c}
store: {type: sqlite, path: s}
kek: {type: file, path: k}
session: {signing_key_file: x, token_ttl_s: 0}
)",
                "session.token_ttl_s"},
        BadCase{"StoreNotAMapping",
                R"(
tls: {cert: a, key: b, client_ca: c}
store: sqlite
kek: {type: file, path: k}
session: {signing_key_file: x}
)",
                "store must be a mapping"},
        BadCase{"StoreTypeUnknown",
                R"(
tls: {cert: a, key: b, client_ca: c}
store: {type: mysql, path: s}
kek: {type: file, path: k}
session: {signing_key_file: x}
)",
                "store.type must be sqlite or etcd"},
        BadCase{"EtcdWithoutEndpoints",
                R"(
tls: {cert: a, key: b, client_ca: c}
store: {type: etcd}
kek: {type: file, path: k}
session: {signing_key_file: x}
)",
                "store.endpoints is required"},
        BadCase{"EndpointsNotAList",
                R"(
tls: {cert: a, key: b, client_ca: c}
store: {type: etcd, endpoints: a:1}
kek: {type: file, path: k}
session: {signing_key_file: x}
)",
                "store.endpoints must be a list"},
        BadCase{"SqliteWithoutPath",
                R"(
tls: {cert: a, key: b, client_ca: c}
store: {type: sqlite}
kek: {type: file, path: k}
session: {signing_key_file: x}
)",
                "store.path is required"},
        BadCase{"KekTypeUnknown",
                R"(
tls: {cert: a, key: b, client_ca: c}
store: {type: sqlite, path: s}
kek: {type: vault}
session: {signing_key_file: x}
)",
                "kek.type must be file or pkcs11"},
        BadCase{"MissingTls",
                R"(
store: {type: sqlite, path: s}
kek: {type: file, path: k}
session: {signing_key_file: x}
)",
                "tls is required"},
        BadCase{"MissingTlsKey",
                R"(
tls: {cert: a, client_ca: c}
store: {type: sqlite, path: s}
kek: {type: file, path: k}
session: {signing_key_file: x}
)",
                "tls.key is required"},
        BadCase{"MissingSigningKey",
                R"(
tls: {cert: a, key: b, client_ca: c}
store: {type: sqlite, path: s}
kek: {type: file, path: k}
session: {token_ttl_s: 5}
)",
                "session.signing_key_file is required"},
        BadCase{"NotAMapping", "- a\n- b\n", "must be a mapping"},
        BadCase{"NotYaml", "tls: {cert: [\n", "not valid YAML"}),
    [](const ::testing::TestParamInfo<BadCase>& param_info) { return param_info.param.name; });

TEST(ConfigTest, EtcdStoreParsesAndAnUnreachableClusterIsUnavailable) {
  auto config = ParseServerConfig(R"(
tls: {cert: a, key: b, client_ca: c}
store: {type: etcd, endpoints: ["127.0.0.1:1", "127.0.0.1:2"], prefix: /cloak/test/,
        timeout_ms: 300, ca_file: ca.pem}
kek: {type: file, path: k}
session: {signing_key_file: x}
)",
                                  "/etc/cloak");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->store.endpoints.size(), 2u);
  EXPECT_EQ(config->store.prefix, "/cloak/test/");
  EXPECT_EQ(config->store.timeout_ms, 300);
  EXPECT_EQ(config->store.ca_file, "/etc/cloak/ca.pem");
  config->store.ca_file.clear();
  SystemClock clock;
  auto store = MakeKeyStore(config->store, clock);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
  EXPECT_THAT(store.status().message(), HasSubstr("127.0.0.1:1,127.0.0.1:2"));
}

TEST(ConfigTest, EtcdStoreKeysAreCheckedAgainstTheType) {
  for (const auto& [store, expected] : std::vector<std::pair<std::string, std::string>>{
           {"{type: sqlite, path: s, ca_file: x}", "store.ca_file belongs to type etcd"},
           {"{type: sqlite, path: s, endpoints: [a:1]}", "store.endpoints belongs to type etcd"},
           {"{type: etcd, endpoints: [a:1], path: s}", "store.path belongs to type sqlite"},
           {"{type: etcd, endpoints: [a:1], cert_file: c}", "go together"},
           {"{type: etcd, endpoints: [a:1], timeout_ms: 5}", "store.timeout_ms"},
           {"{type: etcd}", "store.endpoints is required"},
       }) {
    auto config =
        ParseServerConfig("tls: {cert: a, key: b, client_ca: c}\nstore: " + store +
                              "\nkek: {type: file, path: k}\nsession: {signing_key_file: x}\n",
                          "/etc/cloak");
    ASSERT_FALSE(config.ok()) << store;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(config.status().message(), HasSubstr(expected)) << store;
  }
}

TEST(ConfigTest, Pkcs11KekNeedsModuleTokenAndPinFile) {
  auto config = ParseServerConfig(R"(
tls: {cert: a, key: b, client_ca: c}
store: {type: sqlite, path: s}
kek: {type: pkcs11, module: /usr/lib/softhsm/libsofthsm2.so, token_label: cloak}
session: {signing_key_file: x}
)",
                                  "/etc/cloak");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("kek.pin_file"));
}

TEST(ConfigTest, Pkcs11KekOpensTheConfiguredModule) {
  auto config = ParseServerConfig(R"(
tls: {cert: a, key: b, client_ca: c}
store: {type: sqlite, path: s}
kek: {type: pkcs11, module: /nonexistent/libpkcs11.so, token_label: cloak, pin_file: pin}
session: {signing_key_file: x}
)",
                                  "/etc/cloak");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kek.pin_file, "/etc/cloak/pin");
  auto keks = MakeKekProvider(config->kek);
  ASSERT_FALSE(keks.ok());
  EXPECT_THAT(keks.status().message(), HasSubstr("/nonexistent/libpkcs11.so"));
}

TEST(ConfigTest, LoadResolvesAgainstTheFilesDirectory) {
  kms_test::TempDir dir;
  const std::string path = dir.File("kms.yaml");
  std::ofstream(path) << kMinimal;
  auto config = LoadServerConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->store.path, dir.File("store.db"));

  auto missing = LoadServerConfig(dir.File("nope.yaml"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  std::ofstream(path) << "bogus: 1\n";
  auto bad = LoadServerConfig(path);
  EXPECT_THAT(bad.status().message(), HasSubstr(path));
  EXPECT_THAT(bad.status().message(), HasSubstr("bogus"));
}

TEST(ConfigTest, HostPortRoundTrips) {
  auto v4 = ParseHostPort("127.0.0.1:0", "listen");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 0);
  auto v6 = ParseHostPort("[::1]:7443", "listen");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(FormatHostPort(*v6), "[::1]:7443");
  EXPECT_FALSE(ParseHostPort("127.0.0.1:-1", "listen").ok());
  EXPECT_FALSE(ParseHostPort("127.0.0.1:+1", "listen").ok());
  EXPECT_FALSE(ParseHostPort(":80", "listen").ok());
}

class SecretFileTest : public ::testing::Test {
 protected:
  std::string Make(const std::string& name, mode_t mode) {
    const std::string path = dir_.File(name);
    std::ofstream(path) << "secret";
    chmod(path.c_str(), mode);
    return path;
  }
  kms_test::TempDir dir_;
};

TEST_F(SecretFileTest, PrivateFilesPass) {
  EXPECT_TRUE(CheckSecretFile(Make("a", 0600), "tls.key").ok());
  EXPECT_TRUE(CheckSecretFile(Make("b", 0400), "tls.key").ok());
}

TEST_F(SecretFileTest, GroupOrOtherBitsAreRefusedWithTheFix) {
  for (mode_t mode : {0640, 0604, 0660, 0644, 0700 | 0040}) {
    const std::string path = Make("loose", mode);
    const absl::Status status = CheckSecretFile(path, "kek.path");
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << std::oct << mode;
    EXPECT_THAT(status.message(), HasSubstr("kek.path"));
    EXPECT_THAT(status.message(), HasSubstr(path));
    EXPECT_THAT(status.message(), HasSubstr("chmod 600"));
  }
}

TEST_F(SecretFileTest, MissingSymlinkAndOtherOwnerAreRefused) {
  EXPECT_EQ(CheckSecretFile(dir_.File("none"), "tls.key").code(), absl::StatusCode::kNotFound);
  const std::string target = Make("target", 0600);
  ASSERT_EQ(symlink(target.c_str(), dir_.File("link").c_str()), 0);
  const absl::Status link = CheckSecretFile(dir_.File("link"), "session.signing_key_file");
  EXPECT_EQ(link.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(link.message(), HasSubstr("symlink"));
  if (geteuid() != 0) GTEST_SKIP() << "changing a file's owner needs root";
  const std::string foreign = Make("foreign", 0600);
  ASSERT_EQ(chown(foreign.c_str(), 65534, 65534), 0);
  const absl::Status owner = CheckSecretFile(foreign, "tls.key");
  EXPECT_EQ(owner.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(owner.message(), HasSubstr("chown"));
  EXPECT_THAT(owner.message(), HasSubstr(foreign));
}

TEST_F(SecretFileTest, CheckSecretFilesCoversEverySecretKey) {
  ServerConfig config;
  config.tls.key = Make("server-key.pem", 0600);
  config.kek.path = Make("kek.bin", 0600);
  config.session.signing_key_file = Make("signing.key", 0600);
  EXPECT_TRUE(CheckSecretFiles(config).ok());
  for (const auto& [path, key] :
       {std::pair{config.tls.key, "tls.key"}, std::pair{config.kek.path, "kek.path"},
        std::pair{config.session.signing_key_file, "session.signing_key_file"}}) {
    chmod(path.c_str(), 0644);
    const absl::Status status = CheckSecretFiles(config);
    EXPECT_THAT(status.message(), HasSubstr(key));
    chmod(path.c_str(), 0600);
  }
}

}  // namespace
}  // namespace cloak::kms::server
