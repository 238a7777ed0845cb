#include "kms/service/nonce_table.h"

#include "absl/status/status.h"
#include "common/status.h"
#include "kms/crypto/random.h"

namespace cloak::kms {

absl::StatusOr<IssuedNonce> NonceTable::Issue() {
  IssuedNonce issued;
  RETURN_IF_ERROR(FillPublicRandom(issued.nonce));
  const absl::Time now = clock_.Now();
  issued.expires_at = now + ttl_;
  std::lock_guard lock(mutex_);
  PurgeExpiredLocked(now);
  if (entries_.size() >= capacity_) {
    return absl::ResourceExhaustedError(
        "too many outstanding attestation challenges; retry in a few seconds");
  }
  std::string key(issued.nonce.begin(), issued.nonce.end());
  entries_.emplace(key, issued.expires_at);
  expiry_queue_.emplace_back(issued.expires_at, std::move(key));
  return issued;
}

absl::Status NonceTable::Consume(std::span<const std::uint8_t> nonce) {
  if (nonce.size() != kNonceSize) {
    return absl::UnauthenticatedError("nonce: unknown, already used or expired");
  }
  const absl::Time now = clock_.Now();
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(nonce.begin(), nonce.end()));
  if (it == entries_.end()) {
    return absl::UnauthenticatedError(
        "nonce: unknown or already used; call Challenge again on the same replica");
  }
  const absl::Time expires_at = it->second;
  entries_.erase(it);
  if (now >= expires_at) {
    return absl::UnauthenticatedError("nonce: expired; call Challenge again");
  }
  return absl::OkStatus();
}

std::size_t NonceTable::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void NonceTable::PurgeExpiredLocked(absl::Time now) {
  while (!expiry_queue_.empty() && now >= expiry_queue_.front().first) {
    entries_.erase(expiry_queue_.front().second);  // a no-op when it was consumed
    expiry_queue_.pop_front();
  }
  // A clock stepped backwards can leave consumed entries queued; bound the queue too.
  while (expiry_queue_.size() > 2 * capacity_) {
    entries_.erase(expiry_queue_.front().second);
    expiry_queue_.pop_front();
  }
}

}  // namespace cloak::kms
