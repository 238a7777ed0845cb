#pragma once

// SnpChainCache: VCEKs whose chain to a pinned ARK has been verified, keyed by the SHA-256
// of the VCEK certificate bytes, so that verifying one more report from a known chip costs
// one P-384 signature check. Bounded: when full, the oldest entry goes.

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>

#include "attest/claims.h"
#include "attest/snp/amd_cert.h"
#include "attest/snp/trust_anchors.h"

namespace cloak::attest::snp {

// A VCEK whose chain (VCEK <- ASK <- pinned ARK) verified.
struct VerifiedVcek {
  SnpProduct product = SnpProduct::kMilan;
  std::shared_ptr<EVP_PKEY> key;  // the P-384 public key
  VcekExtensions extensions;
  ValidityWindow validity;  // where VCEK, ASK and ARK are all valid
};

class SnpChainCache {
 public:
  // A cache holding at most `capacity` chains (at least 1).
  explicit SnpChainCache(std::size_t capacity);

  // The chain cached under `vcek_sha256`, or nullptr. Thread-safe.
  std::shared_ptr<const VerifiedVcek> Find(const Sha256Digest& vcek_sha256) const;

  // Caches `chain` under `vcek_sha256`, evicting the oldest entry when full. Thread-safe.
  void Insert(const Sha256Digest& vcek_sha256, std::shared_ptr<const VerifiedVcek> chain);

  // How many chains are cached. Thread-safe.
  std::size_t size() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::map<Sha256Digest, std::shared_ptr<const VerifiedVcek>> entries_;
  std::deque<Sha256Digest> order_;  // insertion order, oldest first
};

}  // namespace cloak::attest::snp
