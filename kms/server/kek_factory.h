#pragma once

// MakeKekProvider: the one place that turns the `kek:` configuration into a KEK provider
// and the version manager KEK rotation needs. The file provider is built in; PKCS#11
// joins here when its provider lands.

#include <memory>

#include "absl/status/statusor.h"
#include "kms/crypto/kek_provider.h"
#include "kms/server/config.h"
#include "kms/service/kek_rotator.h"

namespace cloak::kms::server {

struct KekBackend {
  // Declared first so that it is destroyed last: `versions` may refer to it.
  std::unique_ptr<KekProvider> provider;
  std::unique_ptr<KekVersionManager> versions;
};

// Opens the configured provider. FAILED_PRECONDITION naming the key for a provider type
// this binary lacks; otherwise the provider's own errors (missing
// file, mode, owner, format).
absl::StatusOr<KekBackend> MakeKekProvider(const KekConfig& config);

// Puts KEK version 1 where the configured provider keeps its keys: a new KEK file
// (file), or a non-extractable AES-256 key generated inside the token (pkcs11). Returns
// the current version afterwards. ALREADY_EXISTS when a KEK is already there (never
// replaces one); otherwise the provider's errors, naming the configuration key.
absl::StatusOr<std::uint32_t> InitializeKek(const KekConfig& config);

}  // namespace cloak::kms::server
