#pragma once

// Pkcs11Module: one loaded and initialised PKCS#11 (Cryptoki) library. The only file
// that calls dlopen. C_Initialize and C_Finalize act on the whole process, so instances
// loaded from the same file share one initialisation: the first Load initialises the
// module, the last release finalises it. This process-wide count is the one piece of
// global state in the PKCS#11 provider, and it is forced by the Cryptoki standard.

#include <p11-kit/pkcs11.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace cloak::kms {

class Pkcs11Module {
 public:
  // Loads the module at `path` (dlopen, C_GetFunctionList) and initialises it with
  // CKF_OS_LOCKING_OK, or shares the instance already loaded from the same file.
  // NOT_FOUND when the file is missing; FAILED_PRECONDITION when it is not a PKCS#11
  // module; C_Initialize errors as CkrToStatus. Thread-safe.
  static absl::StatusOr<std::shared_ptr<Pkcs11Module>> Load(const std::string& path);

  Pkcs11Module(const Pkcs11Module&) = delete;
  Pkcs11Module& operator=(const Pkcs11Module&) = delete;

  // The module's function table; valid while this object lives. Cryptoki calls are
  // thread-safe (the module was initialised with CKF_OS_LOCKING_OK).
  CK_FUNCTION_LIST& functions() const { return *functions_; }
  // The canonical path the module was loaded from.
  const std::string& path() const { return path_; }

 private:
  Pkcs11Module(std::string path, CK_FUNCTION_LIST* functions)
      : path_(std::move(path)), functions_(functions) {}
  static void Release(Pkcs11Module* module);

  const std::string path_;
  CK_FUNCTION_LIST* const functions_;
};

}  // namespace cloak::kms
