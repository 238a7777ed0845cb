// tpm_verify_bench: TPM quote verifications per second (pinned AK) on a real quote that
// a throwaway swtpm produces at start. Prints numbers; asserts nothing about speed.
//
//   tpm_verify_bench [seconds per run, default 3] [max threads, default 2]

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "attest/tpm/tpm_collector.h"
#include "attest/tpm/tpm_crypto.h"
#include "attest/tpm/tpm_evidence_codec.h"
#include "attest/tpm/tpm_verifier.h"
#include "tests/attest/tpm/swtpm_fixture.h"

namespace {

using namespace cloak::attest::tpm;
using Clock = std::chrono::steady_clock;

int Fail(const absl::Status& status, const char* what) {
  std::fprintf(stderr, "tpm_verify_bench: %s: %s\n", what, std::string(status.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const int max_threads = argc > 2 ? std::atoi(argv[2]) : 2;
  auto tpm = testing::Swtpm::Start();
  if (!tpm.ok()) return Fail(tpm.status(), "starting swtpm");
  std::vector<std::uint8_t> nonce(32, 7), key(32, 9),
      input = {'c', 'l', 'o', 'a', 'k', '-', 'a', 't', 't', 'e', 's', 't', '-', 'v', '1'};
  input.insert(input.end(), nonce.begin(), nonce.end());
  input.insert(input.end(), key.begin(), key.end());

  std::vector<std::uint8_t> wire;
  TpmTrustConfig config;
  {
    auto collector = TpmCollector::Create((*tpm)->TctiConf(), {});
    if (!collector.ok()) return Fail(collector.status(), "opening the TPM");
    const auto start = Clock::now();
    auto evidence = (*collector)->Collect(input);
    const double collect_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if (!evidence.ok()) return Fail(evidence.status(), "collecting a quote");
    wire = *std::move(evidence);
    config.pinned_ak_fingerprints.insert(PublicFingerprint((*collector)->AkPublic()));
    std::printf("collect (TPM2_Quote + PCR_Read of 8 PCRs, swtpm over TCP): %.2f ms\n", collect_ms);
  }
  auto verifier = TpmQuoteVerifier::Create(config);
  if (!verifier.ok()) return Fail(verifier.status(), "creating the verifier");
  const auto expected = ComputeTpmExtraData(nonce, key);
  if (auto claims = VerifyTpmEvidence(**verifier, wire, expected); !claims.ok()) {
    return Fail(claims.status(), "verifying the captured quote");
  }
  std::printf("evidence: %zu bytes (TpmEvidence with EK certificate and EK public)\n", wire.size());

  for (int threads = 1; threads <= max_threads; threads *= 2) {
    std::atomic<bool> stop{false};
    std::atomic<long> total{0};
    std::atomic<long> failures{0};
    std::vector<std::thread> workers;
    const auto start = Clock::now();
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        long n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          if (!VerifyTpmEvidence(**verifier, wire, expected).ok()) failures.fetch_add(1);
          ++n;
        }
        total.fetch_add(n);
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& w : workers) w.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("threads=%d verifications=%ld failures=%ld rate=%.0f/s latency=%.1f us\n", threads,
                total.load(), failures.load(), total.load() / elapsed,
                1e6 * elapsed * threads / static_cast<double>(total.load()));
  }
  return 0;
}
