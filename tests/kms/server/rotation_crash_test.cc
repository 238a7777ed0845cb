// KEK rotation of 10,000 volumes through the real binary, with a SIGKILL in the middle:
// after a restart the rotation resumes and completes, and every DEK still unwraps to the
// same bytes.
//
// The store lives on tmpfs (/dev/shm) when there is one: SQLite runs synchronous=FULL, and
// 20,000 fsyncs on a disk would dominate the test. A SIGKILL loses nothing the kernel has
// accepted (the page cache survives the process), so tmpfs tests the same crash semantics;
// power loss is the SQLite crash tests' subject.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kms/server/kms_process.h"

namespace cloak::kms::server_test {
namespace {

using ::testing::HasSubstr;

constexpr int kVolumes = 10'000;
constexpr int kClientThreads = 8;
constexpr int kSampleEvery = 50;  // 200 volumes sampled

std::string VolumeId(int i) { return absl::StrFormat("rot-%05d", i); }

std::string ScratchBase() { return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : ""; }

v1::RotationStatus RotationStatus(v1::AdminService::Stub& admin) {
  v1::RotationStatus status;
  grpc::ClientContext context;
  EXPECT_TRUE(admin.GetRotationStatus(&context, v1::GetRotationStatusRequest(), &status).ok());
  return status;
}

std::map<std::string, std::string> SampleDeks(v1::KeyService::Stub& keys) {
  std::map<std::string, std::string> deks;
  auto node = Attest(keys, "node/sampler");
  EXPECT_TRUE(node.ok()) << node.status();
  if (!node.ok()) return deks;
  for (int i = 0; i < kVolumes; i += kSampleEvery) {
    auto dek = FetchDek(keys, *node, VolumeId(i));
    EXPECT_TRUE(dek.ok()) << VolumeId(i) << ": " << dek.status();
    if (dek.ok()) deks[VolumeId(i)] = AsString(dek->SecretSpan());
  }
  return deks;
}

TEST(RotationCrashTest, RotationInterruptedBySigkillResumesAndKeepsEveryDek) {
  const auto started = std::chrono::steady_clock::now();
  // Each rotation step (100 volumes) is followed by a 20 ms pause, so that the rotation
  // is observably half-way for long enough to kill it there.
  const std::vector<std::string> slow_steps = {
      "CLOAK_FAULT_POINTS=kms.server.rotation.after_step=delay:20"};
  auto kms = InitAndServe({"--insecure-allow-unattested"}, slow_steps, ScratchBase());
  ASSERT_TRUE(kms.ok()) << kms.status();
  TlsFiles tls = AdminTlsFiles((*kms)->dir);
  TlsFiles anonymous = tls;
  anonymous.cert_pem.clear();
  anonymous.key_pem.clear();
  auto channel = MakeChannel((*kms)->address, anonymous);
  auto keys = v1::KeyService::NewStub(channel);
  auto admin = v1::AdminService::NewStub(MakeChannel((*kms)->address, tls));

  // 10,000 volumes from parallel controller calls (one session, several streams).
  auto controller = Attest(*keys, "controller/cloak");
  ASSERT_TRUE(controller.ok()) << controller.status();
  std::atomic<int> next{0}, failures{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < kClientThreads; ++t) {
    workers.emplace_back([&] {
      auto stub = v1::KeyService::NewStub(channel);
      for (int i = next++; i < kVolumes; i = next++) {
        v1::CreateVolumeKeyRequest request;
        request.set_session_token(controller->token);
        request.set_volume_id(VolumeId(i));
        request.set_integrity_mode(v1::INTEGRITY_MODE_NONE);
        v1::CreateVolumeKeyResponse response;
        grpc::ClientContext context;
        if (!stub->CreateVolumeKey(&context, request, &response).ok()) ++failures;
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  ASSERT_EQ(failures.load(), 0);
  const auto created = std::chrono::steady_clock::now();

  const std::map<std::string, std::string> before = SampleDeks(*keys);
  ASSERT_EQ(before.size(), static_cast<std::size_t>(kVolumes / kSampleEvery));

  v1::RotationStatus rotate;
  grpc::ClientContext rotate_context;
  ASSERT_TRUE(admin->RotateKek(&rotate_context, v1::RotateKekRequest(), &rotate).ok());
  EXPECT_EQ(rotate.state(), v1::RotationStatus::STATE_RUNNING);
  EXPECT_EQ(rotate.target_kek_version(), 2u);
  EXPECT_EQ(rotate.total(), kVolumes);

  // Kill once a few thousand are done.
  v1::RotationStatus partial;
  for (int polls = 0; polls < 3000; ++polls) {
    partial = RotationStatus(*admin);
    if (partial.done() >= 2000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  (*kms)->process->Signal(SIGKILL);
  EXPECT_EQ((*kms)->process->WaitExit(std::chrono::seconds(10)), 128 + SIGKILL);
  ASSERT_EQ(partial.state(), v1::RotationStatus::STATE_RUNNING);
  ASSERT_GE(partial.done(), 2000);
  ASSERT_LT(partial.done(), kVolumes) << "the rotation finished before the kill";

  // Restart without the pauses: the rotation resumes on its own and completes.
  ASSERT_TRUE(Restart(**kms, {"--insecure-allow-unattested"}).ok());
  keys = v1::KeyService::NewStub(MakeChannel((*kms)->address, anonymous));
  admin = v1::AdminService::NewStub(MakeChannel((*kms)->address, tls));
  v1::RotationStatus final_status;
  for (int polls = 0; polls < 6000; ++polls) {
    final_status = RotationStatus(*admin);
    if (final_status.state() != v1::RotationStatus::STATE_RUNNING) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(final_status.state(), v1::RotationStatus::STATE_COMPLETED);
  EXPECT_EQ(final_status.target_kek_version(), 2u);
  EXPECT_EQ(final_status.done(), kVolumes);
  EXPECT_EQ(final_status.total(), kVolumes);
  EXPECT_THAT(final_status.retired_kek_versions(), ::testing::ElementsAre(1u));
  EXPECT_THAT(ReadFile((*kms)->log), HasSubstr("resuming an unfinished KEK rotation"));

  // Every volume is wrapped under version 2 now.
  int counted = 0;
  std::string page_token;
  do {
    v1::ListVolumesRequest request;
    request.set_page_size(1000);
    request.set_page_token(page_token);
    v1::ListVolumesResponse response;
    grpc::ClientContext context;
    ASSERT_TRUE(admin->ListVolumes(&context, request, &response).ok());
    for (const auto& volume : response.volumes()) {
      EXPECT_EQ(volume.kek_version(), 2u) << volume.volume_id();
      ++counted;
    }
    page_token = response.next_page_token();
  } while (!page_token.empty());
  EXPECT_EQ(counted, kVolumes);

  // The same DEKs, released by a fresh session after the rotation.
  EXPECT_EQ(SampleDeks(*keys), before);

  (*kms)->process->Signal(SIGTERM);
  EXPECT_EQ((*kms)->process->WaitExit(std::chrono::seconds(10)), 0);
  const auto done = std::chrono::steady_clock::now();
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  std::printf("rotation test: created %d volumes in %lld ms; killed at %lld/%d; total %lld ms\n",
              kVolumes,
              static_cast<long long>(duration_cast<milliseconds>(created - started).count()),
              static_cast<long long>(partial.done()), kVolumes,
              static_cast<long long>(duration_cast<milliseconds>(done - started).count()));
}

}  // namespace
}  // namespace cloak::kms::server_test
