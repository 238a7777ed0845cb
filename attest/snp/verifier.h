#pragma once

// SnpVerifier: verifies SEV-SNP evidence in the key service (DESIGN §6). Pure: no file,
// network or clock access while verifying; the verification time is passed in.
//
// A report is accepted when it parses strictly (snp_report.h), its REPORT_DATA equals the
// expected 64-byte binding, its ECDSA P-384 signature verifies under a VCEK, the VCEK
// chains VCEK <- ASK <- ARK with RSA-PSS/SHA-384 to an ARK pinned for the report's product,
// all three certificates are valid at the given time, and the VCEK's SPL and hwID
// extensions equal the report's REPORTED_TCB and CHIP_ID. Policy (debug, VMPL,
// measurements, minimum TCB) is not decided here; see reference_values.h.

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attest/claims.h"
#include "attest/snp/chain_cache.h"
#include "attest/snp/trust_anchors.h"
#include "attest/snp/vcek_cache.h"

namespace cloak::attest::snp {

struct SnpVerifierOptions {
  SnpTrustAnchors anchors = SnpTrustAnchors::Default();
  // VCEKs for evidence without a certificate table; may be null.
  std::shared_ptr<const SnpVcekCache> vcek_cache;
  std::size_t chain_cache_capacity = 1024;
};

// Counters, for operators and tests.
struct SnpVerifierStats {
  std::uint64_t reports_verified = 0;     // reports that passed every check
  std::uint64_t chain_verifications = 0;  // full VCEK <- ASK <- ARK verifications
  std::uint64_t chain_cache_hits = 0;     // reports whose VCEK chain came from the cache
};

class SnpVerifier {
 public:
  // INVALID_ARGUMENT when no product has a pinned ARK.
  static absl::StatusOr<std::unique_ptr<SnpVerifier>> Create(SnpVerifierOptions options);
  ~SnpVerifier();
  SnpVerifier(const SnpVerifier&) = delete;
  SnpVerifier& operator=(const SnpVerifier&) = delete;

  // Verifies a serialized cloak.attest.v1.SevSnpEvidence against `expected_report_data`
  // (64 bytes) at time `now`. UNAUTHENTICATED, naming the field or certificate, for
  // evidence that is malformed or not authentic; INVALID_ARGUMENT when
  // `expected_report_data` is not 64 bytes. Thread-safe.
  absl::StatusOr<SnpClaims> VerifyEvidence(std::string_view serialized_evidence,
                                           std::span<const std::uint8_t> expected_report_data,
                                           absl::Time now) const;

  // The same for a report and its certificate table (possibly empty). Thread-safe.
  absl::StatusOr<SnpClaims> Verify(std::span<const std::uint8_t> report,
                                   std::span<const std::uint8_t> certificate_table,
                                   std::span<const std::uint8_t> expected_report_data,
                                   absl::Time now) const;

  // Counters since creation. Thread-safe.
  SnpVerifierStats Stats() const;

 private:
  explicit SnpVerifier(SnpVerifierOptions options);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cloak::attest::snp
