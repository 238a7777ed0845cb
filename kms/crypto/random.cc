#include "kms/crypto/random.h"

#include <openssl/rand.h>

#include "fmt/format.h"
#include "kms/crypto/openssl_util.h"

namespace cloak::kms {
namespace {

constexpr std::size_t kMaxRandomSecret = 4096;

}  // namespace

absl::StatusOr<SecretBytes> RandomSecret(std::size_t size) {
  if (size == 0 || size > kMaxRandomSecret) {
    return absl::InvalidArgumentError(
        fmt::format("random secret size {} is outside 1..{}", size, kMaxRandomSecret));
  }
  SecretBytes secret(size);
  if (RAND_priv_bytes(secret.MutableSecretData(), static_cast<int>(size)) != 1) {
    return OpenSslError("RAND_priv_bytes");
  }
  return secret;
}

absl::StatusOr<SecretBytes> GenerateDek(std::size_t size) {
  if (size != kDekSize && size != kDekSizeWithHmacIntegrity) {
    return absl::InvalidArgumentError(
        fmt::format("DEK size {} is not supported; use {} (aes-xts-plain64) or {} (with "
                    "hmac-sha256 integrity)",
                    size, kDekSize, kDekSizeWithHmacIntegrity));
  }
  return RandomSecret(size);
}

absl::Status FillPublicRandom(std::span<std::uint8_t> out) {
  if (out.empty()) return absl::OkStatus();
  if (!FitsInt(out.size())) return absl::InvalidArgumentError("random request too large");
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return OpenSslError("RAND_bytes");
  }
  return absl::OkStatus();
}

}  // namespace cloak::kms
