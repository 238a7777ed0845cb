// SEV-SNP attestations verified per second once the VCEK chain is cached, over 1 and 2
// threads, next to the ceiling: ECDSA P-384/SHA-384 verifies per second measured directly
// with EVP over the same 0x2A0 bytes, and `openssl speed ecdsap384` run as a child process.
// Reports numbers only.
//
//   snp_verify_bench [--seconds=3] [--threads=1,2]

#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "attest/snp/snp_report.h"
#include "attest/snp/verifier.h"
#include "fmt/format.h"
#include "tests/attest/snp/synthetic_chain.h"

namespace cloak::attest::snp {
namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  double seconds = 3;
  std::vector<int> threads = {1, 2};
};

Args Parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--seconds=")) {
      args.seconds = std::atof(argv[i] + 10);
    } else if (arg.starts_with("--threads=")) {
      args.threads.clear();
      std::string list(arg.substr(10));
      for (std::size_t start = 0; start <= list.size();) {
        const std::size_t comma = std::min(list.find(',', start), list.size());
        args.threads.push_back(std::atoi(list.substr(start, comma - start).c_str()));
        start = comma + 1;
      }
    } else {
      std::fprintf(stderr, "usage: snp_verify_bench [--seconds=3] [--threads=1,2]\n");
      std::exit(2);
    }
  }
  return args;
}

// Runs `op(thread, i)` on `threads` threads for `seconds`; returns operations per second.
double Rate(int threads, double seconds, const std::function<bool(int, long)>& op) {
  std::atomic<long> total{0};
  std::atomic<bool> failed{false};
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      long n = 0;
      while (Clock::now() < end) {
        if (!op(t, n)) failed = true;
        ++n;
      }
      total += n;
    });
  }
  for (auto& th : pool) th.join();
  if (failed) std::fprintf(stderr, "warning: some operations failed\n");
  return static_cast<double>(total) / std::chrono::duration<double>(Clock::now() - start).count();
}

// Verifies/s from `openssl speed -seconds 3 ecdsap384`, or 0 when it cannot be run.
double OpensslSpeed() {
  FILE* p = ::popen("openssl speed -seconds 3 ecdsap384 2>/dev/null", "r");
  if (p == nullptr) return 0;
  char line[512];
  double verifies = 0;
  while (std::fgets(line, sizeof(line), p) != nullptr) {
    double sign_s = 0, verify_s = 0, signs = 0, verifs = 0;
    if (std::sscanf(line, " 384 bits ecdsa (nistp384) %lfs %lfs %lf %lf", &sign_s, &verify_s,
                    &signs, &verifs) == 4) {
      verifies = verifs;
    }
  }
  ::pclose(p);
  return verifies;
}

int Main(int argc, char** argv) {
  const Args args = Parse(argc, argv);
  const auto& chain = snp_test::SyntheticChain::Get();
  snp_test::VcekSpec vcek_spec;
  const auto table = snp_test::TableFor(chain.MakeVcek(vcek_spec), SnpProduct::kMilan);

  constexpr int kReports = 64;
  std::vector<std::vector<std::uint8_t>> reports;
  std::vector<std::array<std::uint8_t, 64>> bindings;
  for (int i = 0; i < kReports; ++i) {
    snp_test::ReportSpec spec;
    spec.chip_id = snp_test::TestChipId(SnpProduct::kMilan, 1);
    spec.report_data.fill(static_cast<std::uint8_t>(i));
    reports.push_back(snp_test::SignedReport(spec));
    bindings.push_back(spec.report_data);
  }
  SnpVerifierOptions options;
  options.anchors = chain.Anchors();
  auto verifier = *SnpVerifier::Create(std::move(options));
  const absl::Time now = absl::FromUnixSeconds(1750000000);
  if (!verifier->Verify(reports[0], table, bindings[0], now).ok()) {
    std::fprintf(stderr, "synthetic report does not verify\n");
    return 1;
  }

  // The ceiling: the P-384 signature check alone, on the same key and bytes.
  std::vector<std::vector<std::uint8_t>> der_sigs;
  for (const auto& r : reports) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha384(), nullptr, chain.VcekKey());
    EVP_DigestSign(ctx, nullptr, &len, r.data(), kSignedSize);
    std::vector<std::uint8_t> sig(len);
    EVP_DigestSign(ctx, sig.data(), &len, r.data(), kSignedSize);
    sig.resize(len);
    EVP_MD_CTX_free(ctx);
    der_sigs.push_back(std::move(sig));
  }
  auto evp_verify = [&](int, long i) {
    const std::size_t k = static_cast<std::size_t>(i) % kReports;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok =
        EVP_DigestVerifyInit(ctx, nullptr, EVP_sha384(), nullptr, chain.VcekKey()) == 1 &&
        EVP_DigestVerify(ctx, der_sigs[k].data(), der_sigs[k].size(), reports[k].data(),
                         kSignedSize) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
  };
  auto attest = [&](int, long i) {
    const std::size_t k = static_cast<std::size_t>(i) % kReports;
    return verifier->Verify(reports[k], table, bindings[k], now).ok();
  };

  const double speed = OpensslSpeed();
  fmt::print("openssl speed -seconds 3 ecdsap384: {:.0f} verifies/s (1 thread)\n", speed);
  fmt::print("{:>7}  {:>12}  {:>14}  {:>8}  {:>12}\n", "threads", "attest/s", "EVP verify/s",
             "ratio", "vs speed");
  for (int threads : args.threads) {
    const double ceiling = Rate(threads, args.seconds, evp_verify);
    const double rate = Rate(threads, args.seconds, attest);
    fmt::print("{:>7}  {:>12.0f}  {:>14.0f}  {:>8.3f}  {:>12.3f}\n", threads, rate, ceiling,
               rate / ceiling, speed > 0 ? rate / (speed * threads) : 0.0);
  }
  const SnpVerifierStats stats = verifier->Stats();
  fmt::print("chain verifications: {}, cache hits: {}, reports verified: {}\n",
             stats.chain_verifications, stats.chain_cache_hits, stats.reports_verified);
  return 0;
}

}  // namespace
}  // namespace cloak::attest::snp

int main(int argc, char** argv) { return cloak::attest::snp::Main(argc, argv); }
