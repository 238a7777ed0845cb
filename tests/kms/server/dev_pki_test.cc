// The development PKI (chains, EKUs, SANs, key types) and `init`'s files and modes.

#include "kms/server/dev_pki.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kms/server/config.h"
#include "kms/server/init_command.h"
#include "tests/kms/crypto/temp_dir.h"
#include "yaml-cpp/yaml.h"

namespace cloak::kms::server {
namespace {

using ::testing::HasSubstr;

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using CertPtr = std::unique_ptr<X509, X509Free>;

CertPtr Parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  CertPtr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return cert;
}

EVP_PKEY* ParseKey(const SecretBytes& pem) {
  BIO* bio = BIO_new_mem_buf(pem.SecretData(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return key;
}

// X509_verify_cert of `leaf` against `root` for `purpose`; the OpenSSL error or 0.
int Verify(X509* leaf, X509* root, int purpose) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, root);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  const int ok = X509_verify_cert(ctx);
  const int error = ok == 1 ? 0 : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok == 1 ? 0 : (error == 0 ? -1 : error);
}

std::set<std::string> Sans(X509* cert) {
  std::set<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      out.insert("DNS:" +
                 std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                             ASN1_STRING_length(name->d.dNSName)));
    } else if (name->type == GEN_IPADD) {
      const int length = ASN1_STRING_length(name->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = {};
      inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(name->d.iPAddress), text,
                sizeof(text));
      out.insert("IP:" + std::string(text));
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

bool IsP256(EVP_PKEY* key) {
  char group[64] = {};
  size_t length = 0;
  return EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
         EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof(group), &length) == 1 &&
         std::string(group) == "prime256v1";
}

TEST(DevPkiTest, ChainsEkusSansAndKeys) {
  auto pki = GenerateDevPki();
  ASSERT_TRUE(pki.ok()) << pki.status();
  CertPtr server_ca = Parse(pki->server_ca_pem);
  CertPtr admin_ca = Parse(pki->admin_ca_pem);
  CertPtr server = Parse(pki->server.cert_pem);
  CertPtr admin = Parse(pki->admin.cert_pem);
  ASSERT_TRUE(server_ca && admin_ca && server && admin);

  // Chains: each leaf verifies under its own CA for its own purpose, and nowhere else.
  EXPECT_EQ(Verify(server.get(), server_ca.get(), X509_PURPOSE_SSL_SERVER), 0);
  EXPECT_EQ(Verify(admin.get(), admin_ca.get(), X509_PURPOSE_SSL_CLIENT), 0);
  EXPECT_NE(Verify(admin.get(), server_ca.get(), X509_PURPOSE_SSL_CLIENT), 0);
  EXPECT_NE(Verify(server.get(), admin_ca.get(), X509_PURPOSE_SSL_CLIENT), 0);
  EXPECT_NE(Verify(server.get(), server_ca.get(), X509_PURPOSE_SSL_CLIENT), 0);
  EXPECT_NE(Verify(admin.get(), admin_ca.get(), X509_PURPOSE_SSL_SERVER), 0);

  // CAs: CA:TRUE, keyCertSign; leaves: CA:FALSE with exactly their EKU.
  EXPECT_EQ(X509_check_ca(server_ca.get()), 1);
  EXPECT_EQ(X509_check_ca(admin_ca.get()), 1);
  EXPECT_EQ(X509_check_ca(server.get()), 0);
  EXPECT_EQ(X509_check_ca(admin.get()), 0);
  EXPECT_TRUE(X509_get_key_usage(server_ca.get()) & KU_KEY_CERT_SIGN);
  EXPECT_EQ(X509_get_extended_key_usage(server.get()), static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(X509_get_extended_key_usage(admin.get()), static_cast<uint32_t>(XKU_SSL_CLIENT));

  // SANs.
  EXPECT_EQ(Sans(server.get()), (std::set<std::string>{"DNS:localhost", "IP:127.0.0.1", "IP:::1"}));
  EXPECT_TRUE(Sans(admin.get()).empty());
  EXPECT_EQ(X509_check_host(server.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "::1", 0), 1);

  // Admin subject.
  char cn[64] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(admin.get()), NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "cloak-admin");

  // Keys: EC P-256, matching their certificates; validity about one year.
  for (X509* cert : {server_ca.get(), admin_ca.get(), server.get(), admin.get()}) {
    EVP_PKEY* key = X509_get0_pubkey(cert);
    EXPECT_TRUE(IsP256(key));
    int days = 0, seconds = 0;
    ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert), X509_get0_notAfter(cert)),
              1);
    EXPECT_GE(days, 365);
    EXPECT_LE(days, 366);
  }
  EVP_PKEY* server_key = ParseKey(pki->server.key_pem);
  EVP_PKEY* admin_key = ParseKey(pki->admin.key_pem);
  ASSERT_NE(server_key, nullptr);
  ASSERT_NE(admin_key, nullptr);
  EXPECT_EQ(X509_check_private_key(server.get(), server_key), 1);
  EXPECT_EQ(X509_check_private_key(admin.get(), admin_key), 1);
  EXPECT_NE(X509_check_private_key(admin.get(), server_key), 1);
  EVP_PKEY_free(server_key);
  EVP_PKEY_free(admin_key);
}

TEST(DevPkiTest, EveryRunMakesFreshKeys) {
  auto a = GenerateDevPki();
  auto b = GenerateDevPki();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->server.key_pem == b->server.key_pem);
  EXPECT_NE(a->server_ca_pem, b->server_ca_pem);
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

TEST(InitTest, WritesPrivateFilesAConfigThatLoadsAndTheCloakctlConfig) {
  kms_test::TempDir temp;
  const std::string dir = temp.File("kms");
  const std::string cloakctl = temp.File("home/.config/cloak/cloakctl.yaml");
  auto result = RunInit({.dir = dir, .cloakctl_config = cloakctl});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ModeOf(dir), 0700u);
  EXPECT_EQ(result->files.size(), 10u);
  for (const std::string& file : result->files) EXPECT_EQ(ModeOf(file), 0600u) << file;
  EXPECT_EQ(ModeOf(cloakctl), 0600u);
  EXPECT_EQ(ModeOf(temp.File("home/.config/cloak")), 0700u);

  auto config = LoadServerConfig(result->config_path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:7443");
  EXPECT_EQ(config->store.path, dir + "/store.db");
  EXPECT_EQ(config->tls.client_ca, dir + "/admin-ca.pem");
  EXPECT_FALSE(config->insecure_allow_unattested);
  EXPECT_TRUE(CheckSecretFiles(*config).ok());

  const YAML::Node client = YAML::LoadFile(cloakctl);
  std::set<std::string> keys;
  for (const auto& entry : client) keys.insert(entry.first.Scalar());
  EXPECT_EQ(keys, (std::set<std::string>{"kms", "ca", "cert", "key"}));
  EXPECT_EQ(client["kms"].Scalar(), "localhost:7443");
  EXPECT_EQ(client["ca"].Scalar(), dir + "/ca.pem");
  EXPECT_EQ(client["cert"].Scalar(), dir + "/admin.pem");
  EXPECT_EQ(client["key"].Scalar(), dir + "/admin-key.pem");
  for (const char* key : {"ca", "cert", "key"}) {
    EXPECT_TRUE(std::filesystem::exists(client[key].Scalar())) << key;
  }
}

TEST(InitTest, RefusesANonEmptyDirectoryWithoutForce) {
  kms_test::TempDir temp;
  const std::string dir = temp.File("kms");
  ASSERT_TRUE(RunInit({.dir = dir, .cloakctl_config = temp.File("c1.yaml")}).ok());
  std::ifstream in(dir + "/kek.bin", std::ios::binary);
  const std::string kek((std::istreambuf_iterator<char>(in)), {});

  auto again = RunInit({.dir = dir, .cloakctl_config = temp.File("c2.yaml")});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("--force"));
  EXPECT_FALSE(std::filesystem::exists(temp.File("c2.yaml")));

  auto existing_client =
      RunInit({.dir = temp.File("other"), .cloakctl_config = temp.File("c1.yaml")});
  EXPECT_EQ(existing_client.status().code(), absl::StatusCode::kFailedPrecondition);

  auto forced = RunInit({.dir = dir, .cloakctl_config = temp.File("c1.yaml"), .force = true});
  ASSERT_TRUE(forced.ok()) << forced.status();
  std::ifstream in2(dir + "/kek.bin", std::ios::binary);
  const std::string kek2((std::istreambuf_iterator<char>(in2)), {});
  EXPECT_NE(kek, kek2);
}

}  // namespace
}  // namespace cloak::kms::server
