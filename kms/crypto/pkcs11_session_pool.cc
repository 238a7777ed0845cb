#include "kms/crypto/pkcs11_session_pool.h"

#include "fmt/format.h"
#include "kms/crypto/pkcs11_error.h"

namespace cloak::kms {

Pkcs11SessionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Return(session_, discard_);
}

Pkcs11SessionPool::Pkcs11SessionPool(std::shared_ptr<Pkcs11Module> module, CK_SLOT_ID slot,
                                     std::size_t max_sessions)
    : module_(std::move(module)), slot_(slot), max_sessions_(max_sessions < 1 ? 1 : max_sessions) {}

Pkcs11SessionPool::~Pkcs11SessionPool() {
  for (CK_SESSION_HANDLE session : idle_) module_->functions().C_CloseSession(session);
}

absl::StatusOr<Pkcs11SessionPool::Lease> Pkcs11SessionPool::Acquire() {
  std::unique_lock lock(mutex_);
  returned_.wait(lock, [this] { return !idle_.empty() || open_ < max_sessions_; });
  if (!idle_.empty()) {
    const CK_SESSION_HANDLE session = idle_.back();
    idle_.pop_back();
    return Lease(this, session);
  }
  ++open_;  // Claim the slot, then open without holding the lock.
  lock.unlock();
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  const CK_RV rv = module_->functions().C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                                      nullptr, nullptr, &session);
  if (rv != CKR_OK) {
    lock.lock();
    --open_;
    returned_.notify_one();
    return CkrToStatus(rv, "C_OpenSession", fmt::format("slot {}", slot_));
  }
  return Lease(this, session);
}

void Pkcs11SessionPool::Return(CK_SESSION_HANDLE session, bool discard) {
  if (discard) module_->functions().C_CloseSession(session);
  std::lock_guard lock(mutex_);
  if (discard) {
    --open_;
  } else {
    idle_.push_back(session);
  }
  returned_.notify_one();
}

}  // namespace cloak::kms
