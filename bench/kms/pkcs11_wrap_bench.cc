// Wraps and unwraps of 64-byte DEKs per second, for the file KEK provider and the PKCS#11
// provider, over 1..N threads. Reports numbers only.
//
//   pkcs11_wrap_bench [--threads=1,2,4,8] [--ops=4000] [--sessions=8]
//                     [--module=PATH --token=LABEL --pin-file=PATH]
//
// Without --module the PKCS#11 side runs on a throwaway SoftHSM2 token in a temp dir.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "kms/crypto/file_kek_provider.h"
#include "kms/crypto/key_binding.h"
#include "kms/crypto/pkcs11_kek_provider.h"
#include "kms/crypto/random.h"
#include "tests/kms/crypto/pkcs11_test_token.h"

namespace cloak::kms {
namespace {

struct Args {
  std::vector<int> threads = {1, 2, 4, 8};
  int ops = 4000;  // per measurement, split across the threads
  std::size_t sessions = 8;
  std::string module, token, pin_file;
};

bool Flag(std::string_view arg, std::string_view name, std::string* value) {
  if (!arg.starts_with(name) || arg.size() <= name.size() || arg[name.size()] != '=') return false;
  *value = std::string(arg.substr(name.size() + 1));
  return true;
}

bool Parse(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    std::string value;
    const std::string_view arg = argv[i];
    if (Flag(arg, "--threads", &value)) {
      args->threads.clear();
      for (std::size_t start = 0; start <= value.size();) {
        const std::size_t comma = std::min(value.find(',', start), value.size());
        args->threads.push_back(std::atoi(value.substr(start, comma - start).c_str()));
        start = comma + 1;
      }
    } else if (Flag(arg, "--ops", &value)) {
      args->ops = std::atoi(value.c_str());
    } else if (Flag(arg, "--sessions", &value)) {
      args->sessions = static_cast<std::size_t>(std::atoi(value.c_str()));
    } else if (!Flag(arg, "--module", &args->module) && !Flag(arg, "--token", &args->token) &&
               !Flag(arg, "--pin-file", &args->pin_file)) {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return false;
    }
  }
  for (const int t : args->threads) {
    if (t < 1) return false;
  }
  return args->ops > 0;
}

// Runs `op(thread, i)` ops times over `threads` threads; returns operations per second,
// or a negative number when an operation failed.
template <typename Op>
double Rate(int threads, int ops, const Op& op) {
  std::vector<std::thread> workers;
  std::vector<int> failed(threads, 0);
  const int per_thread = ops / threads;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) failed[t] |= op(t, i) ? 0 : 1;
    });
  }
  for (std::thread& worker : workers) worker.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const int f : failed) {
    if (f != 0) return -1;
  }
  return per_thread * threads / seconds;
}

void Measure(std::string_view name, KekProvider& provider, const Args& args) {
  const SecretBytes dek = *GenerateDek(kDekSize);
  const std::uint32_t version = provider.CurrentVersion();
  for (const int threads : args.threads) {
    const int per_thread = args.ops / threads;
    std::vector<std::vector<std::vector<std::uint8_t>>> blobs(threads);
    for (auto& list : blobs) list.resize(per_thread);
    const double wraps = Rate(threads, args.ops, [&](int t, int i) {
      absl::StatusOr<std::vector<std::uint8_t>> wrapped =
          provider.Wrap(version, dek, WrapAad(fmt::format("pvc-{}", t), i));
      if (!wrapped.ok()) return false;
      blobs[t][i] = *std::move(wrapped);
      return true;
    });
    const double unwraps = Rate(threads, args.ops, [&](int t, int i) {
      absl::StatusOr<SecretBytes> dek_out =
          provider.Unwrap(version, blobs[t][i], WrapAad(fmt::format("pvc-{}", t), i));
      return dek_out.ok() && *dek_out == dek;
    });
    std::printf("%-8s threads=%-3d wraps/s=%10.0f  unwraps/s=%10.0f%s\n", std::string(name).c_str(),
                threads, wraps, unwraps, wraps < 0 || unwraps < 0 ? "  (an operation FAILED)" : "");
  }
}

int Main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: %s [--threads=1,2,4,8] [--ops=4000] [--sessions=8] "
                 "[--module=PATH --token=LABEL --pin-file=PATH]\n",
                 argv[0]);
    return 2;
  }
  kms_test::TempDir dir;
  absl::StatusOr<std::unique_ptr<FileKekProvider>> file =
      FileKekProvider::Initialize(dir.File("kek.bin"));
  if (!file.ok()) {
    std::fprintf(stderr, "file provider: %s\n", file.status().ToString().c_str());
    return 1;
  }
  Measure("file", **file, args);

  kms_test::SoftHsmToken softhsm;
  Pkcs11Options options;
  if (args.module.empty()) {
    if (absl::Status created = softhsm.Create(); !created.ok()) {
      std::fprintf(stderr, "SoftHSM2 token: %s\n", created.ToString().c_str());
      return 1;
    }
    options = softhsm.Options();
  } else {
    options.module_path = args.module;
    options.token_label = args.token;
    options.pin_file = args.pin_file;
  }
  options.max_sessions = args.sessions;
  absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> pkcs11 =
      args.module.empty() ? Pkcs11KekProvider::Initialize(options) : OpenPkcs11KekProvider(options);
  if (!pkcs11.ok()) {
    std::fprintf(stderr, "PKCS#11 provider: %s\n", pkcs11.status().ToString().c_str());
    return 1;
  }
  Measure("pkcs11", **pkcs11, args);
  return 0;
}

}  // namespace
}  // namespace cloak::kms

int main(int argc, char** argv) { return cloak::kms::Main(argc, argv); }
