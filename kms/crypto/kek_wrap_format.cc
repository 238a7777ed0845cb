#include "kms/crypto/kek_wrap_format.h"

#include <cstring>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/aes_gcm.h"
#include "kms/crypto/random.h"

namespace cloak::kms {
namespace {

constexpr std::size_t kNonceOffset = kWrapHeaderSize;
constexpr std::size_t kCiphertextOffset = kNonceOffset + kAesGcmNonceSize;
constexpr std::size_t kMinWrappedSize = kCiphertextOffset + 1 + kAesGcmTagSize;

absl::Status CheckKek(const SecretBytes& kek) {
  if (kek.size() != kKekSize) {
    return absl::InvalidArgumentError(
        fmt::format("KEK is {} bytes; AES-256-GCM wrapping needs {}", kek.size(), kKekSize));
  }
  return absl::OkStatus();
}

// header || aad: what GCM authenticates besides the ciphertext.
std::vector<std::uint8_t> GcmAad(std::span<const std::uint8_t> header,
                                 std::span<const std::uint8_t> aad) {
  std::vector<std::uint8_t> out(header.size() + aad.size());
  std::memcpy(out.data(), header.data(), header.size());
  if (!aad.empty()) std::memcpy(out.data() + header.size(), aad.data(), aad.size());
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::uint8_t>> WrapWithKek(const SecretBytes& kek,
                                                      std::uint32_t kek_version,
                                                      const SecretBytes& plaintext,
                                                      std::span<const std::uint8_t> aad) {
  RETURN_IF_ERROR(CheckKek(kek));
  if (plaintext.empty()) return absl::InvalidArgumentError("nothing to wrap: the key is empty");
  std::vector<std::uint8_t> wrapped(kCiphertextOffset);
  wrapped[0] = kWrapFormatVersion;
  for (std::size_t i = 0; i < 4; ++i) {
    wrapped[1 + i] = static_cast<std::uint8_t>(kek_version >> (24 - 8 * i));
  }
  const std::span<std::uint8_t> nonce(wrapped.data() + kNonceOffset, kAesGcmNonceSize);
  RETURN_IF_ERROR(FillPublicRandom(nonce));
  const std::span<const std::uint8_t> header(wrapped.data(), kWrapHeaderSize);
  ASSIGN_OR_RETURN(std::vector<std::uint8_t> sealed,
                   AesGcmSeal(AesGcmKeySize::kAes256, kek.SecretSpan(), nonce, GcmAad(header, aad),
                              plaintext.SecretSpan()));
  wrapped.insert(wrapped.end(), sealed.begin(), sealed.end());
  return wrapped;
}

absl::StatusOr<std::uint32_t> WrappedKekVersion(std::span<const std::uint8_t> wrapped) {
  if (wrapped.size() < kMinWrappedSize) {
    return absl::InvalidArgumentError(fmt::format(
        "wrapped key is {} bytes, shorter than the minimum {}", wrapped.size(), kMinWrappedSize));
  }
  if (wrapped[0] != kWrapFormatVersion) {
    return absl::InvalidArgumentError(
        fmt::format("wrapped key has unknown format version {}", wrapped[0]));
  }
  return (std::uint32_t{wrapped[1]} << 24) | (std::uint32_t{wrapped[2]} << 16) |
         (std::uint32_t{wrapped[3]} << 8) | std::uint32_t{wrapped[4]};
}

absl::StatusOr<SecretBytes> UnwrapWithKek(const SecretBytes& kek,
                                          std::span<const std::uint8_t> wrapped,
                                          std::span<const std::uint8_t> aad) {
  RETURN_IF_ERROR(CheckKek(kek));
  RETURN_IF_ERROR(WrappedKekVersion(wrapped).status());
  absl::StatusOr<SecretBytes> plaintext = AesGcmOpen(
      AesGcmKeySize::kAes256, kek.SecretSpan(), wrapped.subspan(kNonceOffset, kAesGcmNonceSize),
      GcmAad(wrapped.first(kWrapHeaderSize), aad), wrapped.subspan(kCiphertextOffset));
  if (absl::IsUnauthenticated(plaintext.status())) {
    return absl::UnauthenticatedError(
        "wrapped key does not verify: it was altered, or it belongs to another volume or key "
        "version");
  }
  return plaintext;
}

}  // namespace cloak::kms
