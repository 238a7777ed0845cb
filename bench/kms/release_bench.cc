// Key releases per second through the real cloak-kms binary over loopback TLS 1.3:
// N concurrent clients, each on its own connection, each attested once (a node session),
// each calling GetVolumeKey in a closed loop over pre-created volumes and opening the
// HPKE-sealed DEK as a node does. Then a KEK rotation over every volume, timed from
// RotateKek to COMPLETED (keys rewrapped per second). Reports numbers only.
//
//   release_bench [--stores=sqlite,etcd] [--clients=1,4,16,64] [--seconds=10]
//                 [--volumes=2000] [--log-level=info]
//
// The service runs with --insecure-allow-unattested (NONE evidence) so that the numbers
// measure key release, not an evidence verifier; attestation happens once per client.

#include <signal.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "fmt/format.h"
#include "tests/kms/server/kms_process.h"
#include "tests/kms/store/etcd_test_server.h"

namespace cloak::kms::server_test {
namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::vector<std::string> stores = {"sqlite", "etcd"};
  std::vector<int> clients = {1, 4, 16, 64};
  int seconds = 10;
  int volumes = 2000;
  std::string log_level = "info";
};

bool Flag(std::string_view arg, std::string_view name, std::string* value) {
  if (!arg.starts_with(name) || arg.size() <= name.size() || arg[name.size()] != '=') return false;
  *value = std::string(arg.substr(name.size() + 1));
  return true;
}

bool ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    std::string value;
    if (Flag(arg, "--stores", &value)) {
      args->stores = absl::StrSplit(value, ',');
    } else if (Flag(arg, "--clients", &value)) {
      args->clients.clear();
      for (absl::string_view part : absl::StrSplit(value, ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(part, &n) || n < 1 || n > 1024) return false;
        args->clients.push_back(n);
      }
    } else if (Flag(arg, "--seconds", &value)) {
      if (!absl::SimpleAtoi(value, &args->seconds) || args->seconds < 1) return false;
    } else if (Flag(arg, "--volumes", &value)) {
      if (!absl::SimpleAtoi(value, &args->volumes) || args->volumes < 1) return false;
    } else if (Flag(arg, "--log-level", &value)) {
      args->log_level = value;
    } else {
      return false;
    }
  }
  for (const std::string& store : args->stores) {
    if (store != "sqlite" && store != "etcd") return false;
  }
  return true;
}

// The build tree this binary sits in (build/bench/kms/release_bench -> build).
void SetBinaryDirFromSelf() {
  if (std::getenv("CLOAK_BINARY_DIR") != nullptr) return;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  setenv("CLOAK_BINARY_DIR", self.parent_path().parent_path().parent_path().c_str(), 1);
}

double Percentile(std::vector<double>& sorted_us, double p) {
  if (sorted_us.empty()) return 0;
  const std::size_t index =
      std::min(sorted_us.size() - 1, static_cast<std::size_t>(p * sorted_us.size()));
  return sorted_us[index];
}

struct LoadResult {
  std::int64_t releases = 0;
  std::int64_t errors = 0;
  double seconds = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;
};

// `clients` threads, each with its own TLS connection and node session, for `seconds`.
LoadResult RunLoad(const std::string& address, const TlsFiles& tls, int clients, int seconds,
                   int volumes) {
  std::vector<std::unique_ptr<v1::KeyService::Stub>> stubs;
  std::vector<Session> sessions;
  for (int i = 0; i < clients; ++i) {
    stubs.push_back(v1::KeyService::NewStub(MakeChannel(address, tls)));
    absl::StatusOr<Session> session = Attest(*stubs.back(), fmt::format("node/bench-{}", i));
    if (!session.ok()) {
      std::fprintf(stderr, "release_bench: attest failed: %s\n",
                   std::string(session.status().message()).c_str());
      std::exit(1);
    }
    sessions.push_back(*std::move(session));
  }
  // One warm-up release per client (connection set-up, first-touch costs).
  for (int i = 0; i < clients; ++i) (void)FetchDek(*stubs[i], sessions[i], "vol-0");

  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(clients);
  std::vector<std::int64_t> errors(clients, 0);
  std::vector<std::thread> threads;
  const Clock::time_point started = Clock::now();
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      std::uint64_t next = static_cast<std::uint64_t>(i) * 7919;
      latencies[i].reserve(200000);
      while (!stop.load(std::memory_order_relaxed)) {
        const std::string volume = fmt::format("vol-{}", next++ % volumes);
        const Clock::time_point t0 = Clock::now();
        absl::StatusOr<SecretBytes> dek = FetchDek(*stubs[i], sessions[i], volume);
        const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
        if (dek.ok() && dek->size() == 64) {
          latencies[i].push_back(us);
        } else {
          ++errors[i];
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (std::thread& t : threads) t.join();
  LoadResult result;
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::vector<double> all;
  for (int i = 0; i < clients; ++i) {
    all.insert(all.end(), latencies[i].begin(), latencies[i].end());
    result.errors += errors[i];
  }
  std::sort(all.begin(), all.end());
  result.releases = static_cast<std::int64_t>(all.size());
  result.p50_us = Percentile(all, 0.50);
  result.p99_us = Percentile(all, 0.99);
  result.max_us = all.empty() ? 0 : all.back();
  return result;
}

// Creates `count` volumes through a controller session, `parallel` at a time.
void CreateVolumes(const std::string& address, const TlsFiles& tls, int count) {
  constexpr int kParallel = 8;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kParallel; ++t) {
    threads.emplace_back([&, t] {
      auto stub = v1::KeyService::NewStub(MakeChannel(address, tls));
      absl::StatusOr<Session> controller = Attest(*stub, fmt::format("controller/bench-{}", t));
      if (!controller.ok()) {
        ++failures;
        return;
      }
      for (int i = t; i < count; i += kParallel) {
        v1::CreateVolumeKeyRequest request;
        request.set_session_token(controller->token);
        request.set_volume_id(fmt::format("vol-{}", i));
        request.set_integrity_mode(v1::INTEGRITY_MODE_NONE);
        v1::CreateVolumeKeyResponse response;
        grpc::ClientContext context;
        if (!stub->CreateVolumeKey(&context, request, &response).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  if (failures.load() != 0) {
    std::fprintf(stderr, "release_bench: %d volume creations failed\n", failures.load());
    std::exit(1);
  }
}

// RotateKek, then polls until COMPLETED; keys rewrapped per second.
double TimeRotation(const std::string& address, const TlsFiles& admin_tls, int volumes) {
  auto admin = v1::AdminService::NewStub(MakeChannel(address, admin_tls));
  const Clock::time_point started = Clock::now();
  v1::RotationStatus status;
  {
    grpc::ClientContext context;
    if (!admin->RotateKek(&context, {}, &status).ok()) return 0;
  }
  while (status.state() == v1::RotationStatus::STATE_RUNNING) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    grpc::ClientContext context;
    if (!admin->GetRotationStatus(&context, {}, &status).ok()) return 0;
  }
  if (status.state() != v1::RotationStatus::STATE_COMPLETED) return 0;
  return volumes / std::chrono::duration<double>(Clock::now() - started).count();
}

std::string EditForEtcd(const std::string& config_path, const std::string& endpoint) {
  YAML::Node config = YAML::LoadFile(config_path);
  YAML::Node store;
  store["type"] = "etcd";
  store["endpoints"].push_back(endpoint);
  config["store"] = store;
  const std::string edited = config_path + ".etcd.yaml";
  WriteFile(edited, YAML::Dump(config) + "\n");
  return edited;
}

int RunStore(const Args& args, const std::string& store) {
  ScratchDir scratch;
  const std::string dir = scratch.File("kms");
  if (RunInit(dir, scratch.File("cloakctl.yaml")) != 0) return 1;
  std::string config = dir + "/kms.yaml";
  std::unique_ptr<EtcdTestServer> etcd;
  if (store == "etcd") {
    absl::StatusOr<std::unique_ptr<EtcdTestServer>> started = EtcdTestServer::Start();
    if (!started.ok()) {
      std::fprintf(stderr, "release_bench: %s\n", std::string(started.status().message()).c_str());
      return 1;
    }
    etcd = *std::move(started);
    config = EditForEtcd(config, etcd->endpoint());
  }
  const std::string ready = scratch.File("ready");
  KmsProcess kms({.args = {"serve", "--config", config, "--listen", "127.0.0.1:0", "--ready-file",
                           ready, "--insecure-allow-unattested", "--log-level", args.log_level},
                  .env = {},
                  .log_path = scratch.File("kms.log"),
                  .ready_file = ready});
  absl::StatusOr<std::string> address = kms.WaitReady(std::chrono::seconds(30));
  if (!address.ok()) {
    std::fprintf(stderr, "release_bench: cloak-kms did not start: %s\n",
                 std::string(address.status().message()).c_str());
    return 1;
  }
  TlsFiles admin_tls = AdminTlsFiles(dir);
  TlsFiles node_tls = admin_tls;
  node_tls.cert_pem.clear();
  node_tls.key_pem.clear();

  const Clock::time_point create_start = Clock::now();
  CreateVolumes(*address, node_tls, args.volumes);
  const double create_rate =
      args.volumes / std::chrono::duration<double>(Clock::now() - create_start).count();
  std::printf("\n%s store, %d volumes (created at %.0f/s over 8 connections)\n", store.c_str(),
              args.volumes, create_rate);
  std::printf("| store | clients | releases/s | p50 ms | p99 ms | max ms | errors |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (int clients : args.clients) {
    const LoadResult r = RunLoad(*address, node_tls, clients, args.seconds, args.volumes);
    std::printf("| %s | %d | %.0f | %.2f | %.2f | %.2f | %lld |\n", store.c_str(), clients,
                r.releases / r.seconds, r.p50_us / 1000, r.p99_us / 1000, r.max_us / 1000,
                static_cast<long long>(r.errors));
    std::fflush(stdout);
  }
  const double rewrap = TimeRotation(*address, admin_tls, args.volumes);
  std::printf("KEK rotation (%s): %d keys rewrapped at %.0f keys/s\n", store.c_str(), args.volumes,
              rewrap);
  kms.Signal(SIGTERM);
  kms.WaitExit(std::chrono::seconds(15));
  return 0;
}

}  // namespace
}  // namespace cloak::kms::server_test

int main(int argc, char** argv) {
  cloak::kms::server_test::Args args;
  if (!cloak::kms::server_test::ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: release_bench [--stores=sqlite,etcd] [--clients=1,4,16,64] "
                 "[--seconds=10] [--volumes=2000] [--log-level=info]\n");
    return 2;
  }
  cloak::kms::server_test::SetBinaryDirFromSelf();
  std::printf("release_bench: %u hardware threads, %d s per measurement\n",
              std::thread::hardware_concurrency(), args.seconds);
  for (const std::string& store : args.stores) {
    if (cloak::kms::server_test::RunStore(args, store) != 0) return 1;
  }
  return 0;
}
