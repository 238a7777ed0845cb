#include "attest/snp/amd_cert.h"

#include <openssl/asn1t.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <array>
#include <cstring>
#include <ctime>
#include <memory>

#include "absl/status/status.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::snp {
namespace {

constexpr int kPssSaltLength = 48;

absl::Status Refuse(std::string_view what, std::string_view why) {
  return absl::UnauthenticatedError(fmt::format("{} rejected: {}", what, why));
}

bool IsSha384(const X509_ALGOR* alg) {
  if (alg == nullptr || OBJ_obj2nid(alg->algorithm) != NID_sha384) return false;
  // Parameters absent or NULL, as RFC 4055 allows.
  return alg->parameter == nullptr || alg->parameter->type == V_ASN1_NULL;
}

bool IntegerIs(const ASN1_INTEGER* value, std::int64_t expected) {
  std::int64_t v = 0;
  return value != nullptr && ASN1_INTEGER_get_int64(&v, value) == 1 && v == expected;
}

// Checks RSASSA-PSS-params: SHA-384, MGF1 with SHA-384, salt 48, trailer field 1.
absl::Status CheckPssParams(const X509_ALGOR* alg, std::string_view what) {
  if (OBJ_obj2nid(alg->algorithm) != NID_rsassaPss) {
    return Refuse(what, "its signature algorithm is not RSASSA-PSS (AMD signs with PSS/SHA-384)");
  }
  if (alg->parameter == nullptr || alg->parameter->type != V_ASN1_SEQUENCE) {
    return Refuse(what, "its RSASSA-PSS parameters are absent (the defaults mean SHA-1)");
  }
  std::unique_ptr<RSA_PSS_PARAMS, decltype(&RSA_PSS_PARAMS_free)> pss(
      static_cast<RSA_PSS_PARAMS*>(
          ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS), alg->parameter)),
      &RSA_PSS_PARAMS_free);
  if (pss == nullptr) {
    ClearOpenSslErrors();
    return Refuse(what, "its RSASSA-PSS parameters do not parse");
  }
  if (!IsSha384(pss->hashAlgorithm)) {
    return Refuse(what, "its RSASSA-PSS hash is not SHA-384");
  }
  const X509_ALGOR* mgf = pss->maskGenAlgorithm;
  if (mgf == nullptr || OBJ_obj2nid(mgf->algorithm) != NID_mgf1 || mgf->parameter == nullptr ||
      mgf->parameter->type != V_ASN1_SEQUENCE) {
    return Refuse(what, "its RSASSA-PSS mask generation is not MGF1 with stated parameters");
  }
  std::unique_ptr<X509_ALGOR, decltype(&X509_ALGOR_free)> mgf_hash(
      static_cast<X509_ALGOR*>(
          ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_ALGOR), mgf->parameter)),
      &X509_ALGOR_free);
  if (!IsSha384(mgf_hash.get())) {
    ClearOpenSslErrors();
    return Refuse(what, "its RSASSA-PSS MGF1 hash is not SHA-384");
  }
  if (!IntegerIs(pss->saltLength, kPssSaltLength)) {
    return Refuse(what, "its RSASSA-PSS salt length is not 48");
  }
  if (pss->trailerField != nullptr && !IntegerIs(pss->trailerField, 1)) {
    return Refuse(what, "its RSASSA-PSS trailer field is not 1");
  }
  return absl::OkStatus();
}

// Reads one DER TLV header at `p`; returns the element's full size (header + content), or 0.
std::size_t DerElementSize(std::span<const std::uint8_t> b, std::size_t& header) {
  if (b.size() < 2) return 0;
  std::size_t len = b[1];
  header = 2;
  if (len & 0x80) {
    const std::size_t n = len & 0x7F;
    if (n == 0 || n > 4 || b.size() < 2 + n) return 0;
    len = 0;
    for (std::size_t i = 0; i < n; ++i) len = (len << 8) | b[2 + i];
    header = 2 + n;
  }
  if (len > b.size() - header) return 0;
  return header + len;
}

// The DER bytes of the tbsCertificate (the signed part) inside a Certificate.
absl::StatusOr<std::span<const std::uint8_t>> TbsBytes(std::span<const std::uint8_t> der) {
  std::size_t header = 0;
  if (der.empty() || der[0] != 0x30 || DerElementSize(der, header) != der.size()) {
    return absl::UnauthenticatedError("certificate is not one DER SEQUENCE");
  }
  auto inner = der.subspan(header);
  std::size_t tbs_header = 0;
  const std::size_t tbs_size =
      inner.empty() || inner[0] != 0x30 ? 0 : DerElementSize(inner, tbs_header);
  if (tbs_size == 0) return absl::UnauthenticatedError("certificate has no tbsCertificate");
  return inner.first(tbs_size);
}

absl::StatusOr<absl::Time> ToTime(const ASN1_TIME* t, std::string_view what) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    ClearOpenSslErrors();
    return Refuse(what, "its validity time does not parse");
  }
  return absl::FromTimeT(timegm(&tm));
}

const ASN1_OCTET_STRING* ExtensionValue(X509* cert, const char* oid) {
  std::unique_ptr<ASN1_OBJECT, decltype(&ASN1_OBJECT_free)> obj(OBJ_txt2obj(oid, 1),
                                                                &ASN1_OBJECT_free);
  if (obj == nullptr) return nullptr;
  const int index = X509_get_ext_by_OBJ(cert, obj.get(), -1);
  if (index < 0) return nullptr;
  return X509_EXTENSION_get_data(X509_get_ext(cert, index));
}

// An SPL extension: a DER INTEGER 0..255.
absl::StatusOr<std::optional<std::uint8_t>> SplExtension(X509* cert, const char* oid,
                                                         std::string_view name) {
  const ASN1_OCTET_STRING* value = ExtensionValue(cert, oid);
  if (value == nullptr) return std::optional<std::uint8_t>();
  const unsigned char* p = ASN1_STRING_get0_data(value);
  const int len = ASN1_STRING_length(value);
  std::unique_ptr<ASN1_INTEGER, decltype(&ASN1_INTEGER_free)> integer(
      d2i_ASN1_INTEGER(nullptr, &p, len), &ASN1_INTEGER_free);
  std::int64_t v = -1;
  if (integer == nullptr || p != ASN1_STRING_get0_data(value) + len ||
      ASN1_INTEGER_get_int64(&v, integer.get()) != 1 || v < 0 || v > 255) {
    ClearOpenSslErrors();
    return Refuse("VCEK",
                  fmt::format("its {} extension ({}) is not a DER INTEGER in 0..255", name, oid));
  }
  return std::optional(static_cast<std::uint8_t>(v));
}

}  // namespace

absl::Status CheckRsaPssSignedBy(X509* cert, X509* issuer, std::string_view what) {
  const ASN1_BIT_STRING* signature = nullptr;
  const X509_ALGOR* outer_alg = nullptr;
  X509_get0_signature(&signature, &outer_alg, cert);
  RETURN_IF_ERROR(CheckPssParams(outer_alg, what));
  if (X509_ALGOR_cmp(outer_alg, X509_get0_tbs_sigalg(cert)) != 0) {
    return Refuse(what, "its inner and outer signature algorithms differ");
  }
  if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(issuer)) != 0) {
    return Refuse(what, "its issuer name is not the subject of the certificate above it");
  }
  EVP_PKEY* issuer_key = X509_get0_pubkey(issuer);
  if (issuer_key == nullptr || (EVP_PKEY_get_base_id(issuer_key) != EVP_PKEY_RSA &&
                                EVP_PKEY_get_base_id(issuer_key) != EVP_PKEY_RSA_PSS)) {
    ClearOpenSslErrors();
    return Refuse(what, "the key of the certificate above it is not RSA");
  }
  const std::vector<std::uint8_t> der = CertificateDer(cert);
  ASSIGN_OR_RETURN(auto tbs, TbsBytes(der));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  const bool ok = ctx != nullptr &&
                  EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha384(), nullptr, issuer_key) == 1 &&
                  EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                  EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) == 1 &&
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, kPssSaltLength) == 1 &&
                  EVP_DigestVerify(ctx.get(), ASN1_STRING_get0_data(signature),
                                   static_cast<std::size_t>(ASN1_STRING_length(signature)),
                                   tbs.data(), tbs.size()) == 1;
  if (!ok) {
    ClearOpenSslErrors();
    return Refuse(what, "its RSA-PSS signature does not verify under the certificate above it");
  }
  return absl::OkStatus();
}

absl::Status NarrowValidity(X509* cert, std::string_view what, ValidityWindow& window) {
  ASSIGN_OR_RETURN(absl::Time not_before, ToTime(X509_get0_notBefore(cert), what));
  ASSIGN_OR_RETURN(absl::Time not_after, ToTime(X509_get0_notAfter(cert), what));
  window.not_before = std::max(window.not_before, not_before);
  window.not_after = std::min(window.not_after, not_after);
  return absl::OkStatus();
}

absl::StatusOr<VcekExtensions> ParseVcekExtensions(X509* vcek) {
  VcekExtensions ext;
  struct Spl {
    const char* oid;
    const char* name;
    std::uint8_t* out;
  };
  const Spl required[] = {
      {"1.3.6.1.4.1.3704.1.3.1", "blSPL", &ext.bootloader},
      {"1.3.6.1.4.1.3704.1.3.2", "teeSPL", &ext.tee},
      {"1.3.6.1.4.1.3704.1.3.3", "snpSPL", &ext.snp},
      {"1.3.6.1.4.1.3704.1.3.8", "ucodeSPL", &ext.microcode},
  };
  for (const Spl& spl : required) {
    ASSIGN_OR_RETURN(auto value, SplExtension(vcek, spl.oid, spl.name));
    if (!value.has_value()) {
      return Refuse("VCEK", fmt::format("it lacks the {} extension ({})", spl.name, spl.oid));
    }
    *spl.out = *value;
  }
  ASSIGN_OR_RETURN(ext.fmc, SplExtension(vcek, "1.3.6.1.4.1.3704.1.3.9", "fmcSPL"));
  const ASN1_OCTET_STRING* hwid = ExtensionValue(vcek, "1.3.6.1.4.1.3704.1.4");
  if (hwid == nullptr) {
    return Refuse("VCEK", "it lacks the hwID extension (1.3.6.1.4.1.3704.1.4)");
  }
  const unsigned char* h = ASN1_STRING_get0_data(hwid);
  ext.hwid.assign(h, h + ASN1_STRING_length(hwid));
  if (ext.hwid.size() != 64 && ext.hwid.size() != 8) {
    return Refuse("VCEK", "its hwID extension is neither 64 nor 8 (Turin) bytes");
  }
  if (const ASN1_OCTET_STRING* name = ExtensionValue(vcek, "1.3.6.1.4.1.3704.1.2")) {
    const unsigned char* p = ASN1_STRING_get0_data(name);
    const int len = ASN1_STRING_length(name);
    std::unique_ptr<ASN1_IA5STRING, decltype(&ASN1_IA5STRING_free)> ia5(
        d2i_ASN1_IA5STRING(nullptr, &p, len), &ASN1_IA5STRING_free);
    if (ia5 == nullptr || p != ASN1_STRING_get0_data(name) + len) {
      ClearOpenSslErrors();
      return Refuse("VCEK", "its productName extension is not an IA5String");
    }
    ext.product_name.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(ia5.get())),
                            static_cast<std::size_t>(ASN1_STRING_length(ia5.get())));
  }
  return ext;
}

absl::StatusOr<EvpPkeyPtr> VcekPublicKey(X509* vcek) {
  EvpPkeyPtr key(X509_get_pubkey(vcek));
  char group[32] = {0};
  std::size_t group_len = 0;
  if (key == nullptr || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC ||
      EVP_PKEY_get_group_name(key.get(), group, sizeof(group), &group_len) != 1 ||
      std::strcmp(group, SN_secp384r1) != 0) {
    ClearOpenSslErrors();
    return Refuse("VCEK", "its public key is not an EC key on P-384");
  }
  return key;
}

absl::Status CheckIsCa(X509* cert, std::string_view what) {
  if (X509_check_ca(cert) < 1) {
    ClearOpenSslErrors();
    return Refuse(what, "it is not a CA certificate (basicConstraints cA is not set)");
  }
  return absl::OkStatus();
}

}  // namespace cloak::attest::snp
