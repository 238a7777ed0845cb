#pragma once

// SnpTrustAnchors: what the SEV-SNP verifier trusts. Per product, the SHA-256 of the ARK's
// SubjectPublicKeyInfo that a chain must end in (the pin), and optionally the ASK and ARK
// certificates to use when the evidence's certificate table does not carry them.
//
// Default() pins AMD's published ARKs for Milan, Genoa and Turin, compiled in. Extra
// certificates (`--roots FILE`) never widen that: their ARK must still match the pin of its
// product. Only ForTesting() replaces the pins, for chains a test generates itself.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "attest/claims.h"
#include "attest/snp/openssl_util.h"

namespace cloak::attest::snp {

using Sha256Digest = std::array<std::uint8_t, 32>;

class SnpTrustAnchors {
 public:
  // AMD's ARK pins for Milan, Genoa and Turin.
  static SnpTrustAnchors Default();

  // Anchors pinning exactly `pins` (product -> allowed ARK SPKI digests). For tests with a
  // generated chain; production code uses Default().
  static SnpTrustAnchors ForTesting(std::map<SnpProduct, std::vector<Sha256Digest>> pins);

  // Adds an ASK and ARK from `pem` (ASK first, then ARK, as AMD's KDS cert_chain serves
  // them), for the product whose pin the ARK matches. INVALID_ARGUMENT when the PEM does
  // not hold exactly two certificates; UNAUTHENTICATED when the ARK matches no pin or the
  // pair does not verify (RSA-PSS, CA flags). Not thread-safe: configure before sharing.
  absl::Status AddRootsPem(std::string_view pem);

  // True when `spki_sha256` is a pinned ARK key for `product`.
  bool IsPinned(SnpProduct product, const Sha256Digest& spki_sha256) const;

  // True when some ARK is pinned for `product`.
  bool HasPins(SnpProduct product) const;

  // The ASK and ARK added for `product`, or nulls.
  X509* Ask(SnpProduct product) const;
  X509* Ark(SnpProduct product) const;

 private:
  struct Roots {
    std::shared_ptr<X509> ask;
    std::shared_ptr<X509> ark;
  };
  std::map<SnpProduct, std::vector<Sha256Digest>> pins_;
  std::map<SnpProduct, Roots> roots_;
};

}  // namespace cloak::attest::snp
