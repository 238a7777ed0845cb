#pragma once

// A private SoftHSM2 token for one test: a temp directory with its own softhsm2.conf
// and token directory, a token initialised through PKCS#11 (C_InitToken, C_InitPIN; no
// PIN on any command line), and a user PIN file with mode 0600. Everything is removed
// afterwards. SOFTHSM2_CONF (a path, not a secret) is set in this process's
// environment, which is where SoftHSM2 reads it at C_Initialize.

#include <p11-kit/pkcs11.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "kms/crypto/pkcs11_kek_provider.h"
#include "kms/crypto/pkcs11_module.h"
#include "tests/kms/crypto/temp_dir.h"

namespace cloak::kms::kms_test {

inline constexpr char kSoftHsmModule[] = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr char kTestTokenLabel[] = "cloak-test";
inline constexpr char kTestUserPin[] = "31415926";

class SoftHsmToken {
 public:
  SoftHsmToken() = default;
  SoftHsmToken(const SoftHsmToken&) = delete;
  SoftHsmToken& operator=(const SoftHsmToken&) = delete;

  // Writes the configuration, initialises the token and the user PIN, writes the PIN
  // file. FAILED_PRECONDITION naming scripts/install-deps when SoftHSM2 is not installed.
  absl::Status Create();

  // Options that open the token with the right PIN file.
  Pkcs11Options Options() const;
  std::string TokenDir() const { return dir_.File("tokens"); }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
};

// A logged-in session on the test token, for looking at objects from outside the
// provider. Shares the module (and the login) with providers alive in the process.
class TokenInspector {
 public:
  static absl::StatusOr<std::unique_ptr<TokenInspector>> Open();
  ~TokenInspector();

  CK_FUNCTION_LIST& f() const { return module_->functions(); }
  CK_SESSION_HANDLE session() const { return session_; }
  // The one token object labelled `label`; CK_INVALID_HANDLE when there is not exactly one.
  CK_OBJECT_HANDLE FindByLabel(const std::string& label) const;

 private:
  TokenInspector(std::shared_ptr<Pkcs11Module> module, CK_SESSION_HANDLE session)
      : module_(std::move(module)), session_(session) {}

  std::shared_ptr<Pkcs11Module> module_;
  CK_SESSION_HANDLE session_;
};

}  // namespace cloak::kms::kms_test
