#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"

namespace cloak::crypt {

inline constexpr std::string_view kKeyslotPassphraseInfo = "cloak-keyslot-v1";
inline constexpr std::size_t kKeyslotPassphraseBytes = 32;

// The passphrase of a volume's single keyslot: HKDF-SHA256 with the DEK as input key
// material, no salt, and info "cloak-keyslot-v1" followed by the volume id; 32 bytes.
// The DEK has full entropy, so the keyslot KDF needs no work factor (DESIGN §5).
// INVALID_ARGUMENT for an empty DEK or volume id; INTERNAL when OpenSSL fails.
absl::StatusOr<SecretBytes> DeriveKeyslotPassphrase(const SecretBytes& dek,
                                                    std::string_view volume_id);

}  // namespace cloak::crypt
