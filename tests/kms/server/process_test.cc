// The cloak-kms process: ready file, SIGTERM drain and exit codes, startup refusals.

#include <signal.h>
#include <sys/stat.h>

#include <future>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kms/server/kms_process.h"

namespace cloak::kms::server_test {
namespace {

using ::testing::HasSubstr;

TEST(ProcessTest, SigtermDrainsAnInFlightCallAndExitsZero) {
  // Every store transaction is held for 800 ms, so a call is in flight when SIGTERM comes.
  auto kms = InitAndServe({"--insecure-allow-unattested", "--drain-timeout", "5"},
                          {"CLOAK_FAULT_POINTS=kms.store.sqlite.before_commit=delay:800"});
  ASSERT_TRUE(kms.ok()) << kms.status();
  TlsFiles tls = AdminTlsFiles((*kms)->dir);
  tls.cert_pem.clear();
  tls.key_pem.clear();
  auto keys = v1::KeyService::NewStub(MakeChannel((*kms)->address, tls));
  auto controller = Attest(*keys, "controller/cloak");
  ASSERT_TRUE(controller.ok()) << controller.status();

  auto in_flight = std::async(std::launch::async, [&] {
    v1::CreateVolumeKeyRequest request;
    request.set_session_token(controller->token);
    request.set_volume_id("pvc-drain");
    request.set_integrity_mode(v1::INTEGRITY_MODE_NONE);
    v1::CreateVolumeKeyResponse response;
    grpc::ClientContext context;
    return keys->CreateVolumeKey(&context, request, &response);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto signalled = std::chrono::steady_clock::now();
  (*kms)->process->Signal(SIGTERM);
  const grpc::Status status = in_flight.get();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ((*kms)->process->WaitExit(std::chrono::seconds(5)), 0);
  const auto took = std::chrono::steady_clock::now() - signalled;
  EXPECT_LT(took, std::chrono::seconds(5));
  const std::string log = ReadFile((*kms)->log);
  EXPECT_THAT(log, HasSubstr("shutting down"));
  EXPECT_THAT(log, HasSubstr("stopped"));
}

TEST(ProcessTest, ReadyFileIsWrittenAndAStaleOneReplaced) {
  auto kms = InitAndServe({});
  ASSERT_TRUE(kms.ok()) << kms.status();
  const std::string first = (*kms)->address;
  EXPECT_EQ(ReadFile((*kms)->ready), first + "\n");
  EXPECT_THAT(first, HasSubstr("127.0.0.1:"));
  EXPECT_NE(first, "127.0.0.1:0");
  EXPECT_THAT(ReadFile((*kms)->log), HasSubstr(first));
  (*kms)->process->Signal(SIGINT);
  EXPECT_EQ((*kms)->process->WaitExit(std::chrono::seconds(10)), 0);

  WriteFile((*kms)->ready, "127.0.0.1:1\n");  // stale, from a run that is gone
  ASSERT_TRUE(Restart(**kms, {}).ok());
  EXPECT_NE((*kms)->address, "127.0.0.1:1");
  EXPECT_EQ(ReadFile((*kms)->ready), (*kms)->address + "\n");
  (*kms)->process->Signal(SIGTERM);
  EXPECT_EQ((*kms)->process->WaitExit(std::chrono::seconds(10)), 0);
}

TEST(ProcessTest, LooseSecretFileModeIsRefusedWithExitTwo) {
  ScratchDir scratch;
  const std::string dir = scratch.File("kms");
  ASSERT_EQ(RunInit(dir, scratch.File("cloakctl.yaml")), 0);
  chmod((dir + "/session-signing.key").c_str(), 0644);
  KmsProcess process({.args = {"serve", "--config", dir + "/kms.yaml", "--listen", "127.0.0.1:0"},
                      .env = {},
                      .log_path = scratch.File("log"),
                      .ready_file = scratch.File("ready")});
  EXPECT_EQ(process.WaitExit(std::chrono::seconds(10)), 2);
  const std::string log = ReadFile(scratch.File("log"));
  EXPECT_THAT(log, HasSubstr("session.signing_key_file"));
  EXPECT_THAT(log, HasSubstr("chmod 600"));
}

TEST(ProcessTest, UnknownConfigKeyIsAConfigErrorAndAnUnreachableEtcdARuntimeOne) {
  ScratchDir scratch;
  const std::string dir = scratch.File("kms");
  ASSERT_EQ(RunInit(dir, scratch.File("cloakctl.yaml")), 0);
  WriteFile(dir + "/bad.yaml", ReadFile(dir + "/kms.yaml") + "colour: blue\n");
  KmsProcess bad({.args = {"serve", "--config", dir + "/bad.yaml"},
                  .env = {},
                  .log_path = scratch.File("bad.log"),
                  .ready_file = scratch.File("ready")});
  EXPECT_EQ(bad.WaitExit(std::chrono::seconds(10)), 2);
  EXPECT_THAT(ReadFile(scratch.File("bad.log")), HasSubstr("unknown key \"colour\""));

  std::string etcd = ReadFile(dir + "/kms.yaml");
  const std::string from = "type: sqlite\n  path: store.db";
  ASSERT_NE(etcd.find(from), std::string::npos) << etcd;
  etcd.replace(etcd.find(from), from.size(),
               "type: etcd\n  endpoints: [\"127.0.0.1:1\"]\n  timeout_ms: 500");
  WriteFile(dir + "/etcd.yaml", etcd);
  KmsProcess no_etcd({.args = {"serve", "--config", dir + "/etcd.yaml", "--listen", "127.0.0.1:0"},
                      .env = {},
                      .log_path = scratch.File("etcd.log"),
                      .ready_file = scratch.File("ready")});
  EXPECT_EQ(no_etcd.WaitExit(std::chrono::seconds(10)), 1);
  EXPECT_THAT(ReadFile(scratch.File("etcd.log")), HasSubstr("store.endpoints 127.0.0.1:1"));
}

}  // namespace
}  // namespace cloak::kms::server_test
