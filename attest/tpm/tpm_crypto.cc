#include "attest/tpm/tpm_crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <cstdlib>
#include <memory>

#include "attest/tpm/tpm_constants.h"
#include "fmt/format.h"

namespace cloak::attest::tpm {
namespace {

struct BnDeleter {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct ParamBldDeleter {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamDeleter {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct EcdsaSigDeleter {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;

const EVP_MD* DigestFor(std::uint16_t hash_alg) {
  switch (hash_alg) {
    case kAlgSha256:
      return EVP_sha256();
    case kAlgSha384:
      return EVP_sha384();
    case kAlgSha512:
      return EVP_sha512();
    default:
      return nullptr;
  }
}

absl::StatusOr<kms::EvpPkeyPtr> KeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, ParamDeleter> params(OSSL_PARAM_BLD_to_param(bld));
  kms::EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    kms::ClearOpenSslErrors();
    return absl::UnauthenticatedError("TPMT_PUBLIC: key material is not a valid public key");
  }
  kms::EvpPkeyPtr key(raw);
  kms::EvpPkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    kms::ClearOpenSslErrors();
    return absl::UnauthenticatedError("TPMT_PUBLIC: public key fails validation");
  }
  return key;
}

absl::StatusOr<kms::EvpPkeyPtr> EccKey(const TpmtPublic& key) {
  const char* group = nullptr;
  std::size_t size = 0;
  if (key.curve == kEccNistP256) {
    group = "prime256v1";
    size = 32;
  } else if (key.curve == kEccNistP384) {
    group = "secp384r1";
    size = 48;
  } else {
    return absl::UnauthenticatedError(
        fmt::format("TPMT_PUBLIC: ECC curve 0x{:04x} not supported", key.curve));
  }
  if (key.ecc_x.empty() || key.ecc_y.empty() || key.ecc_x.size() > size ||
      key.ecc_y.size() > size) {
    return absl::UnauthenticatedError("TPMT_PUBLIC: ECC point coordinates have the wrong size");
  }
  std::vector<std::uint8_t> point(1 + 2 * size, 0);
  point[0] = 0x04;
  std::copy(key.ecc_x.begin(), key.ecc_x.end(), point.begin() + 1 + (size - key.ecc_x.size()));
  std::copy(key.ecc_y.begin(), key.ecc_y.end(), point.end() - key.ecc_y.size());
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return kms::OpenSslError("OSSL_PARAM_BLD (EC)");
  }
  return KeyFromParams("EC", bld.get());
}

absl::StatusOr<kms::EvpPkeyPtr> RsaKey(const TpmtPublic& key) {
  BnPtr n(BN_bin2bn(key.rsa_modulus.data(), static_cast<int>(key.rsa_modulus.size()), nullptr));
  BnPtr e(BN_new());
  if (n == nullptr || e == nullptr ||
      BN_set_word(e.get(), key.rsa_exponent == 0 ? 65537 : key.rsa_exponent) != 1) {
    return kms::OpenSslError("BIGNUM (RSA)");
  }
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldDeleter> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return kms::OpenSslError("OSSL_PARAM_BLD (RSA)");
  }
  return KeyFromParams("RSA", bld.get());
}

// DER ECDSA-Sig-Value from the TPM's r and s.
absl::StatusOr<std::vector<std::uint8_t>> EcdsaDer(const TpmtSignature& signature) {
  std::unique_ptr<ECDSA_SIG, EcdsaSigDeleter> sig(ECDSA_SIG_new());
  BnPtr r(BN_bin2bn(signature.ecdsa_r.data(), static_cast<int>(signature.ecdsa_r.size()), nullptr));
  BnPtr s(BN_bin2bn(signature.ecdsa_s.data(), static_cast<int>(signature.ecdsa_s.size()), nullptr));
  if (sig == nullptr || r == nullptr || s == nullptr ||
      ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return kms::OpenSslError("ECDSA_SIG");
  }
  (void)r.release();
  (void)s.release();
  const int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) return kms::OpenSslError("i2d_ECDSA_SIG");
  std::vector<std::uint8_t> der(static_cast<std::size_t>(length));
  std::uint8_t* cursor = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &cursor) != length) return kms::OpenSslError("i2d_ECDSA_SIG");
  return der;
}

}  // namespace

Sha256Digest Sha256(std::initializer_list<std::span<const std::uint8_t>> parts) {
  // EVP_MD_CTX_new fails only when memory is exhausted, where aborting is the answer.
  Sha256Digest out{};
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> md(EVP_MD_CTX_new());
  unsigned int length = 0;
  if (md == nullptr || EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr) != 1) std::abort();
  for (const auto& part : parts) EVP_DigestUpdate(md.get(), part.data(), part.size());
  if (EVP_DigestFinal_ex(md.get(), out.data(), &length) != 1) std::abort();
  return out;
}

absl::StatusOr<std::vector<std::uint8_t>> TpmObjectName(std::uint16_t name_alg,
                                                        std::span<const std::uint8_t> public_area) {
  const EVP_MD* md = DigestFor(name_alg);
  if (md == nullptr) {
    return absl::InvalidArgumentError(fmt::format("nameAlg 0x{:04x} not supported", name_alg));
  }
  std::vector<std::uint8_t> name(2 + static_cast<std::size_t>(EVP_MD_get_size(md)));
  name[0] = static_cast<std::uint8_t>(name_alg >> 8);
  name[1] = static_cast<std::uint8_t>(name_alg);
  unsigned int length = 0;
  if (EVP_Digest(public_area.data(), public_area.size(), name.data() + 2, &length, md, nullptr) !=
      1) {
    return kms::OpenSslError("EVP_Digest (object name)");
  }
  return name;
}

std::string Hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::string PublicFingerprint(std::span<const std::uint8_t> public_area) {
  return Hex(Sha256({public_area}));
}

absl::StatusOr<kms::EvpPkeyPtr> PublicKeyFromTpmt(const TpmtPublic& key) {
  return key.type == kAlgEcc ? EccKey(key) : RsaKey(key);
}

absl::Status VerifyTpmSignature(const TpmtPublic& key_public, EVP_PKEY* key,
                                const TpmtSignature& signature,
                                std::span<const std::uint8_t> message) {
  if (signature.hash != kAlgSha256) {
    return absl::UnauthenticatedError("TPMT_SIGNATURE: only SHA-256 signatures are accepted");
  }
  std::vector<std::uint8_t> sig_bytes;
  int padding = 0;
  if (key_public.type == kAlgEcc) {
    if (signature.sig_alg != kAlgEcdsa) {
      return absl::UnauthenticatedError("TPMT_SIGNATURE: an ECC key signs with ECDSA only");
    }
    if (signature.ecdsa_r.empty() || signature.ecdsa_s.empty()) {
      return absl::UnauthenticatedError("TPMT_SIGNATURE: empty ECDSA r or s");
    }
    absl::StatusOr<std::vector<std::uint8_t>> der = EcdsaDer(signature);
    if (!der.ok()) return der.status();
    sig_bytes = *std::move(der);
  } else {
    if (signature.sig_alg != kAlgRsassa && signature.sig_alg != kAlgRsapss) {
      return absl::UnauthenticatedError("TPMT_SIGNATURE: an RSA key signs with RSASSA or RSAPSS");
    }
    padding = signature.sig_alg == kAlgRsassa ? RSA_PKCS1_PADDING : RSA_PKCS1_PSS_PADDING;
    sig_bytes = signature.rsa_signature;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) != 1) {
    return kms::OpenSslError("EVP_DigestVerifyInit");
  }
  if (padding != 0) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, padding) != 1 ||
        (padding == RSA_PKCS1_PSS_PADDING &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1)) {
      return kms::OpenSslError("RSA padding");
    }
  }
  const int ok = EVP_DigestVerify(ctx.get(), sig_bytes.data(), sig_bytes.size(), message.data(),
                                  message.size());
  if (ok != 1) {
    kms::ClearOpenSslErrors();
    return absl::UnauthenticatedError("quote signature does not verify with the AK");
  }
  return absl::OkStatus();
}

}  // namespace cloak::attest::tpm
