#pragma once

// Pkcs11Token: a token found by label or slot, logged in as the user, with a pool of
// read/write sessions. It keeps one extra session open for its whole life: Cryptoki
// logs the user out when an application's last session on a token closes, and pool
// sessions may close after errors.

#include <p11-kit/pkcs11.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "kms/crypto/pkcs11_module.h"
#include "kms/crypto/pkcs11_session_pool.h"

namespace cloak::kms {

struct Pkcs11TokenOptions {
  std::string module_path;
  std::string token_label;
  std::optional<std::uint64_t> slot_id;
  std::string pin_file;
  std::size_t max_sessions = 4;
};

struct Pkcs11Token {
  Pkcs11Token(std::shared_ptr<Pkcs11Module> module, CK_SLOT_ID slot, std::string description,
              CK_SESSION_HANDLE login_session, std::size_t max_sessions)
      : module(module),
        slot(slot),
        description(std::move(description)),
        login_session(login_session),
        pool(std::move(module), slot, max_sessions) {}
  Pkcs11Token(const Pkcs11Token&) = delete;
  Pkcs11Token& operator=(const Pkcs11Token&) = delete;
  // Closes the login session and the pool's sessions. Never calls C_Logout: another
  // Pkcs11Token in this process may share the login.
  ~Pkcs11Token();

  CK_FUNCTION_LIST& functions() const { return module->functions(); }

  const std::shared_ptr<Pkcs11Module> module;
  const CK_SLOT_ID slot;
  const std::string description;  // "token 'label' in slot N of /path/module.so"
  const CK_SESSION_HANDLE login_session;
  Pkcs11SessionPool pool;
};

// Loads the module, finds the token, reads the PIN file and logs in as CKU_USER. The
// PIN lives only in locked memory and only during the call. Error codes as for
// Pkcs11KekProvider::Open. When this process is already logged in to the token (another
// Pkcs11Token on it), the login is shared and the PIN is not checked again.
absl::StatusOr<std::unique_ptr<Pkcs11Token>> OpenPkcs11Token(const Pkcs11TokenOptions& options);

// A token label as Cryptoki stores it (32 bytes, blank-padded) without the padding.
std::string TrimTokenLabel(const CK_UTF8CHAR (&label)[32]);

}  // namespace cloak::kms
