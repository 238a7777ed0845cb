#pragma once

// The HPKE key schedule (RFC 9180 §5.1, base mode) and the encryption context it
// produces (§5.2, §5.3). The KEM is always DHKEM(X25519, HKDF-SHA256); the KDF and AEAD
// are parameters here so that the RFC's published vectors for neighbouring suites can
// check this code. Cloak itself uses only kCloakHpkeSuite, through hpke.h.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"
#include "kms/crypto/aes_gcm.h"
#include "kms/crypto/hkdf.h"

namespace cloak::kms {

struct HpkeSuite {
  HkdfHash kdf;
  AesGcmKeySize aead;
};

// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
inline constexpr HpkeSuite kCloakHpkeSuite{HkdfHash::kSha256, AesGcmKeySize::kAes256};

// The 10-byte "HPKE" suite_id of `suite`.
std::array<std::uint8_t, 10> HpkeSuiteIdOf(const HpkeSuite& suite);

// mode || psk_id_hash || info_hash for base mode (mode 0, empty psk and psk_id).
// INTERNAL when OpenSSL fails. Thread-safe.
absl::StatusOr<std::vector<std::uint8_t>> BaseModeKeyScheduleContext(
    const HpkeSuite& suite, std::span<const std::uint8_t> info);

// secret = LabeledExtract(shared_secret, "secret", psk = ""). INTERNAL when OpenSSL
// fails. Thread-safe.
absl::StatusOr<SecretBytes> BaseModeSecret(const HpkeSuite& suite,
                                           const SecretBytes& shared_secret);

struct HpkeKeySchedule {
  SecretBytes key;              // Nk bytes
  SecretBytes base_nonce;       // Nn = 12 bytes
  SecretBytes exporter_secret;  // Nh bytes
};

// KeySchedule(mode_base, shared_secret, info, "", ""). INVALID_ARGUMENT for an empty
// shared secret; INTERNAL when OpenSSL fails. Thread-safe.
absl::StatusOr<HpkeKeySchedule> BaseModeKeySchedule(const HpkeSuite& suite,
                                                    const SecretBytes& shared_secret,
                                                    std::span<const std::uint8_t> info);

// One side of an HPKE exchange: the sender uses Seal, the recipient Open, each in
// sequence-number order starting at 0. Movable, not copyable; not thread-safe (the
// sequence number is state).
class HpkeContext {
 public:
  HpkeContext(const HpkeSuite& suite, HpkeKeySchedule schedule)
      : suite_(suite), schedule_(std::move(schedule)) {}

  // Encrypts the next message; returns ciphertext || tag. FAILED_PRECONDITION once the
  // sequence number is exhausted; INTERNAL when OpenSSL fails.
  absl::StatusOr<std::vector<std::uint8_t>> Seal(std::span<const std::uint8_t> aad,
                                                 std::span<const std::uint8_t> plaintext);

  // Decrypts the next message. UNAUTHENTICATED when it does not verify (the sequence
  // number does not advance then); INVALID_ARGUMENT for a ciphertext shorter than the
  // tag; FAILED_PRECONDITION once the sequence number is exhausted.
  absl::StatusOr<SecretBytes> Open(std::span<const std::uint8_t> aad,
                                   std::span<const std::uint8_t> ciphertext);

  // Export(exporter_context, L) of §5.3. INVALID_ARGUMENT for L of 0 or above 255 * Nh.
  absl::StatusOr<SecretBytes> Export(std::span<const std::uint8_t> exporter_context,
                                     std::size_t length) const;

  // The sequence number the next Seal or Open will use.
  std::uint64_t sequence_number() const { return sequence_number_; }

 private:
  absl::Status CheckSequence() const;
  std::array<std::uint8_t, kAesGcmNonceSize> NextNonce() const;

  HpkeSuite suite_;
  HpkeKeySchedule schedule_;
  std::uint64_t sequence_number_ = 0;
};

}  // namespace cloak::kms
