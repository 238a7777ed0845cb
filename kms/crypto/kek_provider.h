#pragma once

// KekProvider: where key-encryption keys live. The key service stores DEKs only wrapped
// under a versioned KEK; a provider wraps and unwraps without ever handing the KEK out.
// Implementations: FileKekProvider (file_kek_provider.h) and Pkcs11KekProvider
// (pkcs11_kek_provider.h), whose KEKs never leave the token.

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"

namespace cloak::kms {

enum class KekState {
  kActive,   // wraps and unwraps
  kRetired,  // kept, but refuses to wrap or unwrap; nothing is wrapped under it any more
};

struct KekVersionInfo {
  std::uint32_t version = 0;
  KekState state = KekState::kActive;

  friend bool operator==(const KekVersionInfo&, const KekVersionInfo&) = default;
};

class KekProvider {
 public:
  virtual ~KekProvider() = default;

  // Wraps `plaintext` (a DEK) under KEK `kek_version`, binding `aad` (see WrapAad).
  // NOT_FOUND for an unknown version, FAILED_PRECONDITION for a retired one,
  // INVALID_ARGUMENT for an empty plaintext. Thread-safe.
  virtual absl::StatusOr<std::vector<std::uint8_t>> Wrap(std::uint32_t kek_version,
                                                         const SecretBytes& plaintext,
                                                         std::span<const std::uint8_t> aad) = 0;

  // Unwraps what Wrap produced with the same `aad`. UNAUTHENTICATED when the blob or the
  // aad were altered; INVALID_ARGUMENT for a malformed blob or one that names another
  // KEK version; NOT_FOUND / FAILED_PRECONDITION as for Wrap. Thread-safe.
  virtual absl::StatusOr<SecretBytes> Unwrap(std::uint32_t kek_version,
                                             std::span<const std::uint8_t> wrapped,
                                             std::span<const std::uint8_t> aad) = 0;

  // The version new wraps use: the highest active one. Thread-safe.
  virtual std::uint32_t CurrentVersion() const = 0;

  // Every version the provider holds, ascending. Thread-safe.
  virtual std::vector<KekVersionInfo> Versions() const = 0;
};

}  // namespace cloak::kms
