#pragma once

// Cryptoki return values as absl statuses: names for the CK_RV codes a token can hand
// back to Cloak, and the one mapping from those codes to status codes.

#include <p11-kit/pkcs11.h>

#include <string_view>

#include "absl/status/status.h"

namespace cloak::kms {

// CKR_AEAD_DECRYPT_FAILED from PKCS#11 3.0; p11-kit's 2.40 header does not define it.
inline constexpr CK_RV kCkrAeadDecryptFailed = 0x35;

// The symbolic name of `rv` ("CKR_PIN_INCORRECT"), or "CKR_UNKNOWN" for a code outside the
// table. Thread-safe.
std::string_view CkrName(CK_RV rv);

// OK for CKR_OK; otherwise a status reading "<function>: <CKR name> (0x<hex>): <context>"
// whose code follows the table in docs/kms-crypto.md (PIN problems PERMISSION_DENIED, a
// missing or unusable token UNAVAILABLE, a refused key use FAILED_PRECONDITION, ...).
// Callers that know better (a tag failure in C_Decrypt) pick their own code. Thread-safe.
absl::Status CkrToStatus(CK_RV rv, std::string_view function, std::string_view context);

}  // namespace cloak::kms
