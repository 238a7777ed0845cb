#pragma once

// The KEK objects on a PKCS#11 token: AES-256 secret keys labelled `<prefix>-v<N>`,
// generated inside the token, sensitive and never extractable. A retired version keeps
// its object with CKA_ENCRYPT and CKA_DECRYPT set to false, so the token itself refuses
// to use it. See docs/kms-crypto.md, "PKCS#11".

#include <p11-kit/pkcs11.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kms/crypto/kek_provider.h"

namespace cloak::kms {

struct Pkcs11KekObject {
  std::uint32_t version = 0;
  KekState state = KekState::kActive;
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
};

// "<prefix>-v<version>".
std::string Pkcs11KekLabel(std::string_view prefix, std::uint32_t version);

// The KEK objects labelled `<prefix>-v<N>` visible in `session`, ascending by version;
// other objects are ignored. FAILED_PRECONDITION when such an object is not a sensitive,
// non-extractable 32-byte AES key, or two carry the same version; Cryptoki errors as
// CkrToStatus. Thread-safe for distinct sessions.
absl::StatusOr<std::vector<Pkcs11KekObject>> ListPkcs11KekObjects(CK_FUNCTION_LIST& functions,
                                                                  CK_SESSION_HANDLE session,
                                                                  std::string_view prefix);

// Generates a new KEK object for `version` inside the token (C_GenerateKey,
// CKM_AES_KEY_GEN) and returns its handle. Cryptoki errors as CkrToStatus.
absl::StatusOr<CK_OBJECT_HANDLE> GeneratePkcs11KekObject(CK_FUNCTION_LIST& functions,
                                                         CK_SESSION_HANDLE session,
                                                         std::string_view prefix,
                                                         std::uint32_t version);

// How many token objects in `session` carry exactly `label`. Cryptoki errors as
// CkrToStatus.
absl::StatusOr<std::size_t> CountPkcs11ObjectsLabelled(CK_FUNCTION_LIST& functions,
                                                       CK_SESSION_HANDLE session,
                                                       std::string_view label);

// Retires a KEK object: sets CKA_ENCRYPT and CKA_DECRYPT to false in one call.
// FAILED_PRECONDITION when the token refuses the change (CKA_MODIFIABLE false, read-only
// attributes); other Cryptoki errors as CkrToStatus.
absl::Status RetirePkcs11KekObject(CK_FUNCTION_LIST& functions, CK_SESSION_HANDLE session,
                                   CK_OBJECT_HANDLE handle);

}  // namespace cloak::kms
