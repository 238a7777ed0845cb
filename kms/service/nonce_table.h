#pragma once

// NonceTable: the single-use challenges of Attest (DESIGN §6 step 1). In memory, per
// replica: a client runs Challenge and Attest against the same replica. Bounded: expired
// entries are purged on every issue, and a table full of live nonces refuses new ones.

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kms/service/evidence_verifier.h"
#include "kms/store/clock.h"

namespace cloak::kms {

using Nonce = std::array<std::uint8_t, kNonceSize>;

struct IssuedNonce {
  Nonce nonce{};
  absl::Time expires_at;
};

class NonceTable {
 public:
  static constexpr absl::Duration kDefaultTtl = absl::Seconds(60);
  static constexpr std::size_t kDefaultCapacity = 100'000;

  // `clock` must outlive the table.
  explicit NonceTable(const Clock& clock, absl::Duration ttl = kDefaultTtl,
                      std::size_t capacity = kDefaultCapacity)
      : clock_(clock), ttl_(ttl), capacity_(capacity) {}

  // A fresh random nonce valid for the TTL. Thread-safe. RESOURCE_EXHAUSTED when the
  // table holds `capacity` live nonces (retry later); INTERNAL when the DRBG fails.
  absl::StatusOr<IssuedNonce> Issue();

  // Removes `nonce` if it is live. Thread-safe. UNAUTHENTICATED when it is unknown,
  // already used or expired (an expired one is removed too).
  absl::Status Consume(std::span<const std::uint8_t> nonce);

  // Live and expired-but-unpurged entries. Thread-safe.
  std::size_t size() const;

 private:
  void PurgeExpiredLocked(absl::Time now);

  const Clock& clock_;
  const absl::Duration ttl_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, absl::Time> entries_;
  // Issue order; with one TTL this is also expiry order, so purging pops from the front.
  std::deque<std::pair<absl::Time, std::string>> expiry_queue_;
};

}  // namespace cloak::kms
