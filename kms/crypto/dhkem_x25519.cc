#include "kms/crypto/dhkem_x25519.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/hpke_labeled.h"
#include "kms/crypto/openssl_util.h"

namespace cloak::kms {
namespace {

const std::array<std::uint8_t, 5> kKemSuite = KemSuiteId(kKemDhkemX25519HkdfSha256);

absl::Status CheckKeySize(std::span<const std::uint8_t> key, std::string_view what) {
  if (key.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(
        fmt::format("{} is {} bytes; an X25519 key is {}", what, key.size(), kX25519KeySize));
  }
  return absl::OkStatus();
}

absl::StatusOr<EvpPkeyPtr> PrivateKey(const SecretBytes& private_key) {
  RETURN_IF_ERROR(CheckKeySize(private_key.SecretSpan(), "X25519 private key"));
  EvpPkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.SecretData(),
                                              private_key.size()));
  if (key == nullptr) return OpenSslError("X25519 private key import");
  return key;
}

absl::StatusOr<X25519PublicKey> PublicKeyOf(EVP_PKEY* key) {
  X25519PublicKey public_key{};
  std::size_t length = public_key.size();
  if (EVP_PKEY_get_raw_public_key(key, public_key.data(), &length) != 1 ||
      length != public_key.size()) {
    return OpenSslError("X25519 public key export");
  }
  return public_key;
}

// DH(sk, pk): the raw X25519 output. INVALID_ARGUMENT for an all-zero result, which
// means `peer_public_key` is a low-order point (RFC 9180 §7.1.4).
absl::StatusOr<SecretBytes> Dh(const SecretBytes& private_key,
                               std::span<const std::uint8_t> peer_public_key) {
  RETURN_IF_ERROR(CheckKeySize(peer_public_key, "X25519 public key"));
  ASSIGN_OR_RETURN(EvpPkeyPtr own, PrivateKey(private_key));
  EvpPkeyPtr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer_public_key.data(),
                                              peer_public_key.size()));
  if (peer == nullptr) return OpenSslError("X25519 public key import");
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new(own.get(), nullptr));
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    return OpenSslError("X25519 derive setup");
  }
  SecretBytes shared(kX25519KeySize);
  std::size_t length = shared.size();
  if (EVP_PKEY_derive(ctx.get(), shared.MutableSecretData(), &length) != 1 ||
      length != shared.size()) {
    // OpenSSL refuses an all-zero X25519 result itself; report it as the input's fault.
    ClearOpenSslErrors();
    return absl::InvalidArgumentError(
        "X25519 key agreement failed: the public key is not a valid X25519 point");
  }
  static constexpr std::uint8_t kZero[kX25519KeySize] = {};
  if (CRYPTO_memcmp(shared.SecretData(), kZero, kX25519KeySize) == 0) {
    return absl::InvalidArgumentError(
        "X25519 key agreement produced zero: the public key is a low-order point");
  }
  return shared;
}

// ExtractAndExpand(dh, kem_context) of RFC 9180 §4.1.
absl::StatusOr<SecretBytes> ExtractAndExpand(const SecretBytes& dh,
                                             std::span<const std::uint8_t> enc,
                                             std::span<const std::uint8_t> recipient_public_key) {
  std::array<std::uint8_t, 2 * kX25519KeySize> kem_context{};
  std::copy(enc.begin(), enc.end(), kem_context.begin());
  std::copy(recipient_public_key.begin(), recipient_public_key.end(),
            kem_context.begin() + kX25519KeySize);
  ASSIGN_OR_RETURN(SecretBytes eae_prk,
                   LabeledExtract(HkdfHash::kSha256, kKemSuite, {}, "eae_prk", dh.SecretSpan()));
  return LabeledExpand(HkdfHash::kSha256, kKemSuite, eae_prk.SecretSpan(), "shared_secret",
                       kem_context, kX25519KeySize);
}

}  // namespace

absl::StatusOr<X25519KeyPair> GenerateX25519KeyPair() {
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return OpenSslError("X25519 key generation");
  }
  EvpPkeyPtr key(raw);
  X25519KeyPair pair{SecretBytes(kX25519KeySize), {}};
  std::size_t length = pair.private_key.size();
  if (EVP_PKEY_get_raw_private_key(key.get(), pair.private_key.MutableSecretData(), &length) != 1 ||
      length != kX25519KeySize) {
    return OpenSslError("X25519 private key export");
  }
  ASSIGN_OR_RETURN(pair.public_key, PublicKeyOf(key.get()));
  return pair;
}

absl::StatusOr<X25519KeyPair> DeriveX25519KeyPair(std::span<const std::uint8_t> ikm) {
  if (ikm.size() < kX25519KeySize) {
    return absl::InvalidArgumentError(
        fmt::format("DeriveKeyPair needs at least {} bytes of ikm", kX25519KeySize));
  }
  ASSIGN_OR_RETURN(SecretBytes dkp_prk,
                   LabeledExtract(HkdfHash::kSha256, kKemSuite, {}, "dkp_prk", ikm));
  ASSIGN_OR_RETURN(
      SecretBytes private_key,
      LabeledExpand(HkdfHash::kSha256, kKemSuite, dkp_prk.SecretSpan(), "sk", {}, kX25519KeySize));
  ASSIGN_OR_RETURN(X25519PublicKey public_key, X25519PublicKeyOf(private_key));
  return X25519KeyPair{std::move(private_key), public_key};
}

absl::StatusOr<X25519PublicKey> X25519PublicKeyOf(const SecretBytes& private_key) {
  ASSIGN_OR_RETURN(EvpPkeyPtr key, PrivateKey(private_key));
  return PublicKeyOf(key.get());
}

absl::StatusOr<KemEncapsulation> X25519Encap(std::span<const std::uint8_t> recipient_public_key,
                                             const X25519KeyPair& ephemeral) {
  ASSIGN_OR_RETURN(SecretBytes dh, Dh(ephemeral.private_key, recipient_public_key));
  ASSIGN_OR_RETURN(SecretBytes shared_secret,
                   ExtractAndExpand(dh, ephemeral.public_key, recipient_public_key));
  return KemEncapsulation{std::move(shared_secret), ephemeral.public_key};
}

absl::StatusOr<SecretBytes> X25519Decap(std::span<const std::uint8_t> enc,
                                        const SecretBytes& recipient_private_key) {
  RETURN_IF_ERROR(CheckKeySize(enc, "HPKE enc"));
  ASSIGN_OR_RETURN(SecretBytes dh, Dh(recipient_private_key, enc));
  ASSIGN_OR_RETURN(X25519PublicKey recipient_public_key, X25519PublicKeyOf(recipient_private_key));
  return ExtractAndExpand(dh, enc, recipient_public_key);
}

}  // namespace cloak::kms
