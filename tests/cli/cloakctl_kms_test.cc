// The real cloakctl binary against the real AdminService: a SqliteKeyStore and a file
// KEK in a temporary directory, served in-process over TLS on 127.0.0.1 with throwaway
// certificates (made with the openssl CLI: test-only keys). Checks every key-service
// command, paging, rotation, the client-side audit check against a tampered database,
// the TLS failure messages, and that no output ever holds key bytes.

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "crypt/volume_record.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/server_credentials.h"
#include "gtest/gtest.h"
#include "kms/crypto/file_kek_provider.h"
#include "kms/crypto/key_binding.h"
#include "kms/service/admin_service.h"
#include "kms/service/kek_rotator.h"
#include "kms/store/audit_chain.h"
#include "kms/store/sqlite_key_store.h"
#include "nlohmann/json.hpp"
#include "sqlite3.h"
#include "tests/cli/child_process.h"
#include "tests/cli/test_pki.h"

namespace cloak::cli {
namespace {

namespace fs = std::filesystem;
namespace v1 = kms::v1;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Pki;
using testing::Result;
using testing::RunInPty;
using testing::RunProcess;
using ::testing::StartsWith;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Hex(const std::uint8_t* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (std::size_t i = 0; i < size; ++i) {
    hex.push_back(kDigits[data[i] >> 4]);
    hex.push_back(kDigits[data[i] & 0xf]);
  }
  return hex;
}

std::string Base64(const std::uint8_t* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// AdminService behind the check the key service binary makes: a verified client
// certificate is required (the port is shared with KeyService, whose callers have none,
// so TLS only requests one).
class AdminGate final : public v1::AdminService::Service {
 public:
  explicit AdminGate(kms::AdminServiceImpl& impl) : impl_(impl) {}

#define CLOAK_GATED(Rpc, Request, Response)                                                  \
  grpc::Status Rpc(grpc::ServerContext* context, const Request* request, Response* response) \
      override {                                                                             \
    if (context->auth_context()->GetPeerIdentity().empty()) {                                \
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,                                 \
                          "AdminService requires a client certificate signed by the admin "  \
                          "CA; none was presented");                                         \
    }                                                                                        \
    return impl_.Rpc(context, request, response);                                            \
  }
  CLOAK_GATED(ListVolumes, v1::ListVolumesRequest, v1::ListVolumesResponse)
  CLOAK_GATED(GetVolume, v1::GetVolumeRequest, v1::VolumeInfo)
  CLOAK_GATED(RotateKek, v1::RotateKekRequest, v1::RotationStatus)
  CLOAK_GATED(GetRotationStatus, v1::GetRotationStatusRequest, v1::RotationStatus)
  CLOAK_GATED(GetPolicy, v1::GetPolicyRequest, v1::Policy)
  CLOAK_GATED(SetPolicy, v1::SetPolicyRequest, v1::Policy)
  CLOAK_GATED(ListAudit, v1::ListAuditRequest, v1::ListAuditResponse)
  CLOAK_GATED(Health, v1::HealthRequest, v1::HealthResponse)
#undef CLOAK_GATED

 private:
  kms::AdminServiceImpl& impl_;
};

class CloakctlKmsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Pki::Get().ok());
    std::string pattern = fs::temp_directory_path() / "cloakctl-kms-XXXXXX";
    dir_ = mkdtemp(pattern.data());
    home_ = dir_ + "/home";
    fs::create_directories(home_);
    const char* binary_dir = std::getenv("CLOAK_BINARY_DIR");
    ASSERT_NE(binary_dir, nullptr) << "run through ctest, which sets CLOAK_BINARY_DIR";
    cloakctl_ = std::string(binary_dir) + "/cli/cloakctl";
    ASSERT_TRUE(fs::exists(cloakctl_)) << cloakctl_;

    auto keks = kms::FileKekProvider::Initialize(dir_ + "/kek");
    ASSERT_TRUE(keks.ok()) << keks.status();
    keks_ = *std::move(keks);
    auto store = kms::SqliteKeyStore::Open(store_path(), clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    versions_ = std::make_unique<kms::FileKekVersionManager>(*keks_);
    rotator_ = std::make_unique<kms::KekRotator>(
        *store_, *keks_, *versions_,
        kms::KekRotator::Options{.batch_size = 20, .actor = "kek-rotator"});
    admin_ = std::make_unique<kms::AdminServiceImpl>(
        kms::AdminServiceContext{.store = store_.get(),
                                 .keks = keks_.get(),
                                 .rotator = rotator_.get(),
                                 .run_in_background =
                                     [this](std::function<void()> work) {
                                       std::lock_guard lock(background_mutex_);
                                       background_.emplace_back(std::move(work));
                                     },
                                 .actor = "cloak-admin",
                                 .description = {.store = "sqlite",
                                                 .kek_provider = "file",
                                                 .evidence_types = {"tpm", "sev-snp"},
                                                 .insecure_allow_unattested = false},
                                 .check_policy = nullptr,
                                 .policy_stored = nullptr});
    gate_ = std::make_unique<AdminGate>(*admin_);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    {
      std::lock_guard lock(background_mutex_);
      for (std::thread& thread : background_) thread.join();
    }
    server_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  std::string store_path() const { return dir_ + "/store.db"; }

  // Serves the gated AdminService with TLS; `request_client_cert` false models a
  // client whose certificate never reaches the service.
  void Serve(bool request_client_cert = true) {
    const Pki& pki = Pki::Get();
    grpc::SslServerCredentialsOptions options(request_client_cert
                                                  ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
                                                  : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    options.pem_root_certs = ReadFile(pki.Path("ca.pem"));
    options.pem_key_cert_pairs.push_back(
        {ReadFile(pki.Path("server.key")), ReadFile(pki.Path("server.pem"))});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(options), &port_);
    builder.RegisterService(gate_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // `count` volumes pvc-0000..., each with a fresh random DEK wrapped under the current
  // KEK, created as the key service does. Their DEKs and wrapped keys are remembered in
  // every encoding an output could leak them in.
  void AddVolumes(int count) {
    for (int i = 0; i < count; ++i) {
      char id[16];
      std::snprintf(id, sizeof(id), "pvc-%04d", i);
      SecretBytes dek(64);
      ASSERT_EQ(RAND_bytes(dek.MutableSecretData(), static_cast<int>(dek.size())), 1);
      const std::uint32_t kek = keks_->CurrentVersion();
      auto wrapped = keks_->Wrap(kek, dek, kms::WrapAad(id, 1));
      ASSERT_TRUE(wrapped.ok()) << wrapped.status();
      for (auto [data, size] :
           {std::pair{dek.SecretData(), dek.size()},
            std::pair<const std::uint8_t*, std::size_t>{wrapped->data(), wrapped->size()}}) {
        forbidden_.push_back(Hex(data, size).substr(0, 32));
        forbidden_.push_back(Base64(data, size).substr(0, 24));
        forbidden_.emplace_back(reinterpret_cast<const char*>(data), 16);
      }
      kms::NewVolume volume{.volume_id = id,
                            .record_json = crypt::SerializeVolumeRecord(
                                *crypt::DefaultRecord(id, crypt::IntegrityMode::kNone)),
                            .key_version = 1,
                            .kek_version = kek,
                            .wrapped_dek = kms::WrappedKey(*std::move(wrapped)),
                            .labels = {{"app", "db"}, {"index", std::to_string(i)}}};
      kms::Volume stored;
      ASSERT_TRUE(store_
                      ->CreateVolume(volume,
                                     kms::AuditEvent{.actor = "controller/test",
                                                     .action = "CreateVolumeKey",
                                                     .volume_id = id,
                                                     .outcome = "ok",
                                                     .details = {}},
                                     &stored)
                      .ok());
    }
  }

  // cloakctl with the test's TLS files; HOME points into the test directory so that a
  // developer's own config file is never read.
  Result Cloakctl(std::vector<std::string> args, bool with_tls_flags = true) {
    const Pki& pki = Pki::Get();
    std::vector<std::string> argv = {cloakctl_};
    if (with_tls_flags) {
      argv.insert(argv.end(), {"--kms", address(), "--ca", pki.Path("ca.pem"), "--cert",
                               pki.Path("client.pem"), "--key", pki.Path("client.key")});
    }
    argv.insert(argv.end(), args.begin(), args.end());
    Result r = RunProcess(argv, {"HOME=" + home_});
    if (std::getenv("CLOAKCTL_TEST_ECHO") != nullptr) {  // debugging aid
      std::cerr << "$ cloakctl";
      for (const std::string& arg : args) std::cerr << " " << arg;
      std::cerr << "\n[exit " << r.exit_code << "]\n--- stdout\n"
                << r.out.substr(0, 2000) << "--- stderr\n"
                << r.err << "\n";
    }
    for (const std::string& secret : forbidden_) {
      EXPECT_EQ(r.out.find(secret), std::string::npos) << "key bytes in stdout";
      EXPECT_EQ(r.err.find(secret), std::string::npos) << "key bytes in stderr";
    }
    return r;
  }

  // Runs SQL on the store's file from a second connection, as an attacker with write
  // access to the file would.
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(store_path().c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
        << (error != nullptr ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  std::string dir_;
  std::string home_;
  std::string cloakctl_;
  kms::SystemClock clock_;
  std::unique_ptr<kms::FileKekProvider> keks_;
  std::unique_ptr<kms::SqliteKeyStore> store_;
  std::unique_ptr<kms::FileKekVersionManager> versions_;
  std::unique_ptr<kms::KekRotator> rotator_;
  std::unique_ptr<kms::AdminServiceImpl> admin_;
  std::unique_ptr<AdminGate> gate_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::mutex background_mutex_;
  std::vector<std::thread> background_;
  std::vector<std::string> forbidden_;
};

TEST_F(CloakctlKmsTest, HealthInTextAndJson) {
  Serve();
  Result text = Cloakctl({"health"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("key service:         " + address() + "\n"));
  EXPECT_THAT(text.out, HasSubstr("serving:             yes\n"));
  EXPECT_THAT(text.out, HasSubstr("current KEK version: 1\n"));
  Result json = Cloakctl({"health", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["serving"], true);
  EXPECT_EQ(doc["current_kek_version"], 1);
}

TEST_F(CloakctlKmsTest, SettingsComeFromTheConfigFileInHome) {
  Serve();
  const Pki& pki = Pki::Get();
  fs::create_directories(home_ + "/.config/cloak");
  std::ofstream(home_ + "/.config/cloak/cloakctl.yaml")
      << "kms: " << address() << "\nca: " << pki.Path("ca.pem")
      << "\ncert: " << pki.Path("client.pem") << "\nkey: " << pki.Path("client.key") << "\n";
  Result r = Cloakctl({"health"}, /*with_tls_flags=*/false);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // A flag overrides the file: an address with nothing listening fails.
  Result flag = Cloakctl({"--kms", "127.0.0.1:1", "health"}, /*with_tls_flags=*/false);
  EXPECT_EQ(flag.exit_code, 1);
  EXPECT_THAT(flag.err, HasSubstr("cannot reach the key service at 127.0.0.1:1"));
}

TEST_F(CloakctlKmsTest, MissingSettingsAreUsageErrors) {
  Serve();
  Result r = Cloakctl({"health"}, /*with_tls_flags=*/false);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("cloakctl health: no key service address: pass --kms"));
  Result no_key = Cloakctl({"--kms", address(), "--ca", Pki::Get().Path("ca.pem"), "--cert",
                            Pki::Get().Path("client.pem"), "health"},
                           /*with_tls_flags=*/false);
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_THAT(no_key.err, HasSubstr("--key FILE"));
  Result bad_file =
      Cloakctl({"--kms", address(), "--ca", dir_ + "/absent.pem", "--cert",
                Pki::Get().Path("client.pem"), "--key", Pki::Get().Path("client.key"), "health"},
               /*with_tls_flags=*/false);
  EXPECT_EQ(bad_file.exit_code, 2);
  EXPECT_THAT(bad_file.err, HasSubstr("absent.pem (--ca, config key `ca`)"));
}

TEST_F(CloakctlKmsTest, VolumesListPagesThroughEveryVolume) {
  AddVolumes(250);
  Serve();
  Result all = Cloakctl({"volumes", "list", "--all", "-o", "json"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  nlohmann::json doc = nlohmann::json::parse(all.out);
  ASSERT_EQ(doc["volumes"].size(), 250u);
  EXPECT_EQ(doc["truncated"], false);
  for (std::size_t i = 0; i < 250; ++i) {
    char id[16];
    std::snprintf(id, sizeof(id), "pvc-%04zu", i);
    EXPECT_EQ(doc["volumes"][i]["volume_id"], id);
  }
  EXPECT_EQ(doc["volumes"][0]["state"], "created");
  EXPECT_EQ(doc["volumes"][0]["kek_version"], 1);
  EXPECT_EQ(doc["volumes"][0]["record"]["header"]["label"], "pvc-0000");
  for (const auto& [name, value] : doc["volumes"][0].items()) {
    EXPECT_THAT(name, Not(HasSubstr("dek"))) << name;
  }
  // Three ListVolumes pages of at most 100, each audited by the service.
  auto audit = store_->ListAudit(0, 1000);
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(std::count_if(audit->begin(), audit->end(),
                          [](const kms::AuditEntry& e) { return e.event.action == "ListVolumes"; }),
            3);

  Result first = Cloakctl({"volumes", "list"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.out, StartsWith("VOLUME    STATE    KEY  KEK  SOURCE  CREATED"));
  EXPECT_EQ(std::count(first.out.begin(), first.out.end(), '\n'), 101);
  EXPECT_THAT(first.err, HasSubstr("showing the first 100 volumes; more exist"));

  Result limited = Cloakctl({"volumes", "list", "--limit", "150"});
  ASSERT_EQ(limited.exit_code, 0) << limited.err;
  EXPECT_EQ(std::count(limited.out.begin(), limited.out.end(), '\n'), 151);
  EXPECT_THAT(limited.out, HasSubstr("\npvc-0149 "));
  EXPECT_THAT(limited.out, Not(HasSubstr("pvc-0150")));
}

TEST_F(CloakctlKmsTest, VolumesShow) {
  AddVolumes(3);
  Serve();
  Result text = Cloakctl({"volumes", "show", "pvc-0002"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("volume:        pvc-0002\n"));
  EXPECT_THAT(text.out, HasSubstr("labels:        app=db,index=2\n"));
  EXPECT_THAT(text.out, HasSubstr("\"label\": \"pvc-0002\""));
  Result json = Cloakctl({"-o", "json", "volumes", "show", "pvc-0001"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(nlohmann::json::parse(json.out)["key_id"], "pvc-0001");
  Result missing = Cloakctl({"volumes", "show", "pvc-9999"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err,
              HasSubstr("volume pvc-9999 is not known to the key service at " + address()));
  EXPECT_EQ(missing.out, "");
}

TEST_F(CloakctlKmsTest, KekRotateWaitRewrapsEveryVolume) {
  AddVolumes(300);
  Serve();
  Result before = Cloakctl({"kek", "status"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  EXPECT_EQ(before.out, "no KEK rotation has run; current KEK version: 1\n");

  Result r = Cloakctl({"kek", "rotate", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Not a terminal: plain lines, no carriage returns.
  EXPECT_THAT(r.out, Not(HasSubstr("\r")));
  EXPECT_THAT(r.out, HasSubstr("KEK rotation to version 2 completed: 300/300 volumes "
                               "rewrapped; retired KEK versions: 1\n"));

  Result status = Cloakctl({"kek", "status", "-o", "json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  nlohmann::json doc = nlohmann::json::parse(status.out);
  EXPECT_EQ(doc["state"], "completed");
  EXPECT_EQ(doc["target_kek_version"], 2);
  EXPECT_EQ(doc["done"], 300);
  EXPECT_EQ(doc["retired_kek_versions"], nlohmann::json::array({1}));
  auto counts = store_->CountByKekVersion();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(*counts, (std::map<std::uint32_t, std::int64_t>{{2, 300}}));
  Result health = Cloakctl({"health", "-o", "json"});
  EXPECT_EQ(nlohmann::json::parse(health.out)["current_kek_version"], 2);
}

TEST_F(CloakctlKmsTest, KekRotateWaitOnATerminalRedrawsOneLine) {
  AddVolumes(200);
  Serve();
  const Pki& pki = Pki::Get();
  Result r =
      RunInPty({cloakctl_, "--kms", address(), "--ca", pki.Path("ca.pem"), "--cert",
                pki.Path("client.pem"), "--key", pki.Path("client.key"), "kek", "rotate", "--wait"},
               {"HOME=" + home_});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("\r[##############################] 100%  200/200 volumes "
                               "rewrapped to KEK version 2"));
  EXPECT_THAT(r.out, HasSubstr("KEK rotation to version 2 completed: 200/200"));
  EXPECT_THAT(r.out, Not(HasSubstr("KEK rotation to version 2: running")));  // no plain lines
}

TEST_F(CloakctlKmsTest, AuditListAndVerifyOnAnIntactLog) {
  AddVolumes(30);
  Serve();
  ASSERT_EQ(Cloakctl({"volumes", "show", "pvc-0003"}).exit_code, 0);
  Result list = Cloakctl({"audit", "list", "--from", "5", "--limit", "3", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  nlohmann::json entries = nlohmann::json::parse(list.out)["entries"];
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0]["sequence"], 5);
  EXPECT_EQ(entries[0]["action"], "CreateVolumeKey");
  EXPECT_EQ(entries[0]["volume_id"], "pvc-0004");
  EXPECT_EQ(entries[2]["sequence"], 7);
  Result table = Cloakctl({"audit", "list", "--from", "31"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("cloak-admin  GetVolume  pvc-0003  ok"));

  Result verify = Cloakctl({"audit", "verify"});
  ASSERT_EQ(verify.exit_code, 0) << verify.err;
  auto head = store_->VerifyAuditChain();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(verify.out, "audit log verified: " + std::to_string(head->sequence) +
                            " entries, head " + kms::AuditHashHex(head->hash) + "\n");
  Result json = Cloakctl({"audit", "verify", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(nlohmann::json::parse(json.out)["verified"], true);
}

TEST_F(CloakctlKmsTest, AuditVerifyNamesAModifiedEntry) {
  AddVolumes(10);
  Serve();
  Sql("DROP TRIGGER audit_log_no_update;"
      "UPDATE audit_log SET volume_id = 'pvc-0009' WHERE sequence = 4");
  Result r = Cloakctl({"audit", "verify"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("cloakctl audit verify: FAILED at sequence 4: "));
  EXPECT_THAT(r.err, HasSubstr("its contents do not match its hash"));
  Result json = Cloakctl({"audit", "verify", "-o", "json"});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_EQ(nlohmann::json::parse(json.out)["first_bad_sequence"], 4);
}

TEST_F(CloakctlKmsTest, AuditVerifyWithARecordedHeadCatchesACutOffTail) {
  AddVolumes(10);
  Serve();
  Result first = Cloakctl({"audit", "verify", "-o", "json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  nlohmann::json doc = nlohmann::json::parse(first.out);
  const std::string recorded =
      std::to_string(doc["head_sequence"].get<int>()) + ":" + doc["head"].get<std::string>();
  Sql("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE sequence >= 9");
  EXPECT_EQ(Cloakctl({"audit", "verify"}).exit_code, 0);  // the chain alone cannot tell
  Result r = Cloakctl({"audit", "verify", "--expect-head", recorded});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("the log ends at sequence 8 but the recorded head is at "
                               "sequence 10: entries were removed from its end"));
}

TEST_F(CloakctlKmsTest, AuditVerifyNamesARemovedEntry) {
  AddVolumes(10);
  Serve();
  Sql("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE sequence = 6");
  Result r = Cloakctl({"audit", "verify"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("FAILED at sequence 6: "));
  EXPECT_THAT(r.err, HasSubstr("expected sequence 6 but found 7"));
}

TEST_F(CloakctlKmsTest, AuditVerifyNamesSwappedEntries) {
  AddVolumes(10);
  Serve();
  Sql("DROP TRIGGER audit_log_no_update;"
      "UPDATE audit_log SET sequence = 100 WHERE sequence = 3;"
      "UPDATE audit_log SET sequence = 3 WHERE sequence = 8;"
      "UPDATE audit_log SET sequence = 8 WHERE sequence = 100;");
  Result r = Cloakctl({"audit", "verify"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("FAILED at sequence 3: "));
}

TEST_F(CloakctlKmsTest, ClientCertificateThatNeverReachesTheServiceIsExplained) {
  Serve(/*request_client_cert=*/false);
  Result r = Cloakctl({"health"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("did not accept this client"));
  EXPECT_THAT(r.err, HasSubstr("requires a client certificate"));
  EXPECT_THAT(r.err, HasSubstr("pass --cert and --key"));
}

TEST_F(CloakctlKmsTest, WrongCaIsRefused) {
  Serve();
  const Pki& pki = Pki::Get();
  Result r = Cloakctl({"--kms", address(), "--ca", pki.Path("other-ca.pem"), "--cert",
                       pki.Path("client.pem"), "--key", pki.Path("client.key"), "health"},
                      /*with_tls_flags=*/false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot reach the key service at " + address()));
  EXPECT_THAT(r.err, HasSubstr("the TLS handshake failed: check that --ca"));
  EXPECT_THAT(r.err, Not(HasSubstr("ssl_transport_security.cc")));  // gRPC's own log
  EXPECT_EQ(r.out, "");
}

TEST_F(CloakctlKmsTest, ClientCertificateFromAnotherCaIsRefused) {
  Serve();
  const Pki& pki = Pki::Get();
  Result r = Cloakctl(
      {"--kms", address(), "--ca", pki.Path("ca.pem"), "--cert", pki.Path("rogue-client.pem"),
       "--key", pki.Path("rogue-client.key"), "audit", "verify"},
      /*with_tls_flags=*/false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot reach the key service at " + address()));
  EXPECT_EQ(r.out, "");
}

TEST_F(CloakctlKmsTest, NothingListening) {
  Serve();
  const std::string closed = address();
  server_->Shutdown();
  server_.reset();
  Result r = Cloakctl({"volumes", "list"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(
      r.err, StartsWith("cloakctl volumes list: cannot reach the key service at " + closed + ": "));
  EXPECT_THAT(r.err, HasSubstr("nothing listens there"));
}

}  // namespace
}  // namespace cloak::cli
