#pragma once

// Small helpers for code that drives the TPM through tss2-esys: TSS return codes as
// statuses, owned ESYS allocations, and the EK policy session.

#include <tss2/tss2_esys.h>

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cloak::attest::tpm {

// OK for TSS2_RC_SUCCESS; otherwise "<what> failed: <decoded rc>" with a code that
// follows the failure: UNAVAILABLE for TCTI errors, INTERNAL for the rest.
absl::Status EsysStatus(TSS2_RC rc, std::string_view what);

struct EsysFreer {
  void operator()(void* p) const { Esys_Free(p); }
};
template <typename T>
using EsysPtr = std::unique_ptr<T, EsysFreer>;

// A policy session that satisfies the TCG EK policy (PolicySecret on the endorsement
// hierarchy, empty endorsement password); flushed when it goes out of scope.
class EkPolicySession {
 public:
  static absl::StatusOr<EkPolicySession> Start(ESYS_CONTEXT* esys);
  EkPolicySession(EkPolicySession&& other) noexcept : esys_(other.esys_), handle_(other.handle_) {
    other.handle_ = ESYS_TR_NONE;
  }
  EkPolicySession& operator=(EkPolicySession&&) = delete;
  ~EkPolicySession();

  ESYS_TR handle() const { return handle_; }

 private:
  EkPolicySession(ESYS_CONTEXT* esys, ESYS_TR handle) : esys_(esys), handle_(handle) {}
  ESYS_CONTEXT* esys_;
  ESYS_TR handle_;
};

}  // namespace cloak::attest::tpm
