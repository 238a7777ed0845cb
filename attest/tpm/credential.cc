#include "attest/tpm/credential.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <memory>

#include "attest/tpm/tpm_constants.h"
#include "attest/tpm/tpm_crypto.h"
#include "attest/tpm/tpm_structures.h"
#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/openssl_util.h"
#include "kms/crypto/random.h"

namespace cloak::attest::tpm {
namespace {

constexpr std::size_t kCredentialSize = 32;
constexpr std::string_view kIdentityLabel = "IDENTITY";

struct BnDeleter {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};

const char* DigestName(std::uint16_t hash_alg) {
  switch (hash_alg) {
    case kAlgSha256:
      return "SHA256";
    case kAlgSha384:
      return "SHA384";
    case kAlgSha512:
      return "SHA512";
    default:
      return nullptr;
  }
}

void PutU16(std::vector<std::uint8_t>& out, std::size_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

void PutU32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

void Append(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

// The label with its terminating zero, as both KDFs want it.
void AppendLabel(std::vector<std::uint8_t>& out, std::string_view label) {
  out.insert(out.end(), label.begin(), label.end());
  out.push_back(0);
}

absl::StatusOr<SecretBytes> Hmac(std::uint16_t hash_alg, std::span<const std::uint8_t> key,
                                 std::span<const std::uint8_t> data) {
  const char* digest = DigestName(hash_alg);
  if (digest == nullptr) return absl::InvalidArgumentError("KDF hash not supported");
  SecretBytes out(TpmDigestSize(hash_alg));
  std::size_t length = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, digest, nullptr, key.data(), key.size(), data.data(),
                data.size(), out.MutableSecretData(), out.size(), &length) == nullptr ||
      length != out.size()) {
    return kms::OpenSslError("HMAC");
  }
  return out;
}

struct EkParams {
  TpmtPublic key;
  std::size_t digest_size = 0;
};

absl::StatusOr<EkParams> CheckEk(std::span<const std::uint8_t> ek_public) {
  absl::StatusOr<TpmtPublic> key = ParseTpmtPublic(ek_public);
  if (!key.ok()) return absl::InvalidArgumentError(key.status().message());
  const std::uint32_t attrs = key->object_attributes;
  if ((attrs & kAttrRestricted) == 0 || (attrs & kAttrDecrypt) == 0 || (attrs & kAttrSign) != 0) {
    return absl::InvalidArgumentError("EK is not a restricted decryption key");
  }
  if (key->symmetric.algorithm != kAlgAes) {
    return absl::InvalidArgumentError("EK has no AES-CFB symmetric definition");
  }
  if (DigestName(key->name_alg) == nullptr) {
    return absl::InvalidArgumentError("EK nameAlg is not SHA-256/384/512");
  }
  const std::size_t digest_size = TpmDigestSize(key->name_alg);
  return EkParams{*std::move(key), digest_size};
}

// RSA EK: a random seed, RSA-OAEP encrypted with the label "IDENTITY\0".
absl::Status RsaSeed(const EkParams& ek, SecretBytes& seed, std::vector<std::uint8_t>& encrypted) {
  ASSIGN_OR_RETURN(const kms::EvpPkeyPtr key, PublicKeyFromTpmt(ek.key));
  ASSIGN_OR_RETURN(seed, kms::RandomSecret(ek.digest_size));
  kms::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  const EVP_MD* md = EVP_get_digestbyname(DigestName(ek.key.name_alg));
  auto* label = static_cast<unsigned char*>(OPENSSL_malloc(kIdentityLabel.size() + 1));
  if (label == nullptr) return kms::OpenSslError("OPENSSL_malloc");
  std::copy(kIdentityLabel.begin(), kIdentityLabel.end(), label);
  label[kIdentityLabel.size()] = 0;
  if (ctx == nullptr || md == nullptr || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1) {
    OPENSSL_free(label);
    return kms::OpenSslError("RSA-OAEP init");
  }
  if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), label,
                                       static_cast<int>(kIdentityLabel.size() + 1)) != 1) {
    OPENSSL_free(label);
    return kms::OpenSslError("RSA-OAEP label");
  }
  std::size_t length = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &length, seed.SecretData(), seed.size()) != 1) {
    return kms::OpenSslError("RSA-OAEP encrypt");
  }
  encrypted.resize(length);
  if (EVP_PKEY_encrypt(ctx.get(), encrypted.data(), &length, seed.SecretData(), seed.size()) != 1) {
    return kms::OpenSslError("RSA-OAEP encrypt");
  }
  encrypted.resize(length);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::uint8_t>> Coordinate(EVP_PKEY* key, const char* name,
                                                     std::size_t size) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) return kms::OpenSslError("EC coordinate");
  std::unique_ptr<BIGNUM, BnDeleter> bn(raw);
  std::vector<std::uint8_t> out(size);
  if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(size)) != static_cast<int>(size)) {
    return kms::OpenSslError("BN_bn2binpad");
  }
  return out;
}

// ECC EK: an ephemeral ECDH key; seed = KDFe(Z, "IDENTITY", ephemeral.x, ek.x); the
// encrypted secret is the ephemeral point (TPMS_ECC_POINT).
absl::Status EccSeed(const EkParams& ek, SecretBytes& seed, std::vector<std::uint8_t>& encrypted) {
  ASSIGN_OR_RETURN(const kms::EvpPkeyPtr ek_key, PublicKeyFromTpmt(ek.key));
  const bool p256 = ek.key.curve == kEccNistP256;
  const std::size_t size = p256 ? 32 : 48;
  kms::EvpPkeyPtr ephemeral(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", p256 ? "P-256" : "P-384"));
  if (ephemeral == nullptr) return kms::OpenSslError("EC keygen");
  kms::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ephemeral.get(), nullptr));
  std::size_t z_size = 0;
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), ek_key.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &z_size) != 1 || z_size != size) {
    return kms::OpenSslError("ECDH");
  }
  SecretBytes z(z_size);
  if (EVP_PKEY_derive(ctx.get(), z.MutableSecretData(), &z_size) != 1) {
    return kms::OpenSslError("ECDH");
  }
  ASSIGN_OR_RETURN(const std::vector<std::uint8_t> x,
                   Coordinate(ephemeral.get(), OSSL_PKEY_PARAM_EC_PUB_X, size));
  ASSIGN_OR_RETURN(const std::vector<std::uint8_t> y,
                   Coordinate(ephemeral.get(), OSSL_PKEY_PARAM_EC_PUB_Y, size));
  std::vector<std::uint8_t> ek_x(size - std::min(size, ek.key.ecc_x.size()), 0);
  Append(ek_x, ek.key.ecc_x);
  ASSIGN_OR_RETURN(
      seed, Kdfe(ek.key.name_alg, z.SecretSpan(), kIdentityLabel, x, ek_x, ek.digest_size * 8));
  encrypted.clear();
  PutU16(encrypted, x.size());
  Append(encrypted, x);
  PutU16(encrypted, y.size());
  Append(encrypted, y);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::uint8_t>> AesCfbEncrypt(std::span<const std::uint8_t> key,
                                                        std::span<const std::uint8_t> plaintext) {
  const EVP_CIPHER* cipher = key.size() == 16   ? EVP_aes_128_cfb128()
                             : key.size() == 24 ? EVP_aes_192_cfb128()
                                                : EVP_aes_256_cfb128();
  kms::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  const std::uint8_t iv[16] = {};
  std::vector<std::uint8_t> out(plaintext.size());
  int length = 0;
  int final_length = 0;
  if (ctx == nullptr || EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, key.data(), iv) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &length, plaintext.data(),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + length, &final_length) != 1 ||
      static_cast<std::size_t>(length + final_length) != plaintext.size()) {
    return kms::OpenSslError("AES-CFB encrypt");
  }
  return out;
}

}  // namespace

absl::StatusOr<SecretBytes> Kdfa(std::uint16_t hash_alg, std::span<const std::uint8_t> key,
                                 std::string_view label, std::span<const std::uint8_t> context_u,
                                 std::span<const std::uint8_t> context_v, std::size_t bits) {
  const std::size_t digest_size = TpmDigestSize(hash_alg);
  if (DigestName(hash_alg) == nullptr || bits == 0 || bits % 8 != 0 || bits > 8 * 1024) {
    return absl::InvalidArgumentError("KDFa: unsupported hash or size");
  }
  SecretBytes out(bits / 8);
  std::size_t done = 0;
  for (std::uint32_t counter = 1; done < out.size(); ++counter) {
    std::vector<std::uint8_t> input;
    PutU32(input, counter);
    AppendLabel(input, label);
    Append(input, context_u);
    Append(input, context_v);
    PutU32(input, static_cast<std::uint32_t>(bits));
    ASSIGN_OR_RETURN(const SecretBytes block, Hmac(hash_alg, key, input));
    const std::size_t take = std::min(digest_size, out.size() - done);
    std::copy_n(block.SecretData(), take, out.MutableSecretData() + done);
    done += take;
  }
  return out;
}

absl::StatusOr<SecretBytes> Kdfe(std::uint16_t hash_alg, std::span<const std::uint8_t> z,
                                 std::string_view label, std::span<const std::uint8_t> party_u,
                                 std::span<const std::uint8_t> party_v, std::size_t bits) {
  const char* digest = DigestName(hash_alg);
  if (digest == nullptr || bits == 0 || bits % 8 != 0 || bits > 8 * 1024) {
    return absl::InvalidArgumentError("KDFe: unsupported hash or size");
  }
  const EVP_MD* md = EVP_get_digestbyname(digest);
  SecretBytes out(bits / 8);
  std::size_t done = 0;
  for (std::uint32_t counter = 1; done < out.size(); ++counter) {
    std::vector<std::uint8_t> input;
    PutU32(input, counter);
    Append(input, z);
    AppendLabel(input, label);
    Append(input, party_u);
    Append(input, party_v);
    SecretBytes block(TpmDigestSize(hash_alg));
    unsigned int length = 0;
    const int ok =
        EVP_Digest(input.data(), input.size(), block.MutableSecretData(), &length, md, nullptr);
    OPENSSL_cleanse(input.data(), input.size());
    if (ok != 1) return kms::OpenSslError("KDFe digest");
    const std::size_t take = std::min(block.size(), out.size() - done);
    std::copy_n(block.SecretData(), take, out.MutableSecretData() + done);
    done += take;
  }
  return out;
}

absl::StatusOr<MadeCredential> MakeCredential(std::span<const std::uint8_t> ek_public,
                                              std::span<const std::uint8_t> ak_name) {
  ASSIGN_OR_RETURN(const EkParams ek, CheckEk(ek_public));
  if (ak_name.size() < 2 || ak_name.size() > kMaxNameSize) {
    return absl::InvalidArgumentError("AK name has an impossible size");
  }
  MadeCredential out;
  SecretBytes seed;
  if (ek.key.type == kAlgRsa) {
    RETURN_IF_ERROR(RsaSeed(ek, seed, out.encrypted_secret));
  } else {
    if (ek.key.curve != kEccNistP256 && ek.key.curve != kEccNistP384) {
      return absl::InvalidArgumentError("ECC EK is not on P-256 or P-384");
    }
    RETURN_IF_ERROR(EccSeed(ek, seed, out.encrypted_secret));
  }
  ASSIGN_OR_RETURN(out.expected_secret, kms::RandomSecret(kCredentialSize));

  ASSIGN_OR_RETURN(const SecretBytes sym_key, Kdfa(ek.key.name_alg, seed.SecretSpan(), "STORAGE",
                                                   ak_name, {}, ek.key.symmetric.key_bits));
  // The plaintext is a marshalled TPM2B_DIGEST holding the credential.
  SecretBytes plaintext(2 + kCredentialSize);
  plaintext.MutableSecretData()[0] = 0;
  plaintext.MutableSecretData()[1] = static_cast<std::uint8_t>(kCredentialSize);
  std::copy_n(out.expected_secret.SecretData(), kCredentialSize, plaintext.MutableSecretData() + 2);
  ASSIGN_OR_RETURN(const std::vector<std::uint8_t> enc_identity,
                   AesCfbEncrypt(sym_key.SecretSpan(), plaintext.SecretSpan()));

  ASSIGN_OR_RETURN(const SecretBytes hmac_key, Kdfa(ek.key.name_alg, seed.SecretSpan(), "INTEGRITY",
                                                    {}, {}, ek.digest_size * 8));
  std::vector<std::uint8_t> hmac_input = enc_identity;
  Append(hmac_input, ak_name);
  ASSIGN_OR_RETURN(const SecretBytes outer_hmac,
                   Hmac(ek.key.name_alg, hmac_key.SecretSpan(), hmac_input));

  PutU16(out.credential_blob, outer_hmac.size());
  Append(out.credential_blob, outer_hmac.SecretSpan());
  Append(out.credential_blob, enc_identity);
  return out;
}

}  // namespace cloak::attest::tpm
