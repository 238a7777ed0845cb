#pragma once

// Pkcs11SessionPool: read/write sessions on one token, shared by concurrent callers. A
// session runs one operation at a time, so each caller leases one for the length of an
// operation; the pool opens sessions on demand up to a limit and then makes callers wait.

#include <p11-kit/pkcs11.h>

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kms/crypto/pkcs11_module.h"

namespace cloak::kms {

class Pkcs11SessionPool {
 public:
  // A session leased from the pool; returns it on destruction.
  class Lease {
   public:
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)),
          session_(other.session_),
          discard_(other.discard_) {}
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    CK_SESSION_HANDLE session() const { return session_; }
    // Closes the session instead of returning it (after an error that says the session
    // or the token went away).
    void Discard() { discard_ = true; }

   private:
    friend class Pkcs11SessionPool;
    Lease(Pkcs11SessionPool* pool, CK_SESSION_HANDLE session) : pool_(pool), session_(session) {}

    Pkcs11SessionPool* pool_;
    CK_SESSION_HANDLE session_;
    bool discard_ = false;
  };

  // A pool of at most `max_sessions` (>= 1) sessions on `slot`. Opens nothing yet.
  Pkcs11SessionPool(std::shared_ptr<Pkcs11Module> module, CK_SLOT_ID slot,
                    std::size_t max_sessions);
  Pkcs11SessionPool(const Pkcs11SessionPool&) = delete;
  Pkcs11SessionPool& operator=(const Pkcs11SessionPool&) = delete;
  // Closes every idle session. Every lease must have been returned.
  ~Pkcs11SessionPool();

  // An idle session, a newly opened one, or (at the limit) the next one returned.
  // C_OpenSession errors as CkrToStatus. Thread-safe.
  absl::StatusOr<Lease> Acquire();

  CK_FUNCTION_LIST& functions() const { return module_->functions(); }

 private:
  void Return(CK_SESSION_HANDLE session, bool discard);

  const std::shared_ptr<Pkcs11Module> module_;
  const CK_SLOT_ID slot_;
  const std::size_t max_sessions_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<CK_SESSION_HANDLE> idle_;
  std::size_t open_ = 0;
};

}  // namespace cloak::kms
