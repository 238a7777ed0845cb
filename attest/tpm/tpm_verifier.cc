#include "attest/tpm/tpm_verifier.h"

#include <openssl/crypto.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <string_view>

#include "attest/tpm/ek_certificate.h"
#include "attest/tpm/tpm_constants.h"
#include "attest/tpm/tpm_crypto.h"
#include "attest/tpm/tpm_structures.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::tpm {
namespace {

constexpr std::string_view kBindingLabel = "cloak-attest-v1";

std::span<const std::uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

bool IsFingerprint(const std::string& text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status CheckAkKey(const TpmtPublic& ak) {
  if (ak.name_alg != kAlgSha256) return absl::UnauthenticatedError("AK nameAlg is not SHA-256");
  if ((ak.object_attributes & kAkRequiredAttributes) != kAkRequiredAttributes) {
    return absl::UnauthenticatedError(
        fmt::format("AK objectAttributes 0x{:08x} lack restricted|sign|fixedTPM|fixedParent|"
                    "sensitiveDataOrigin",
                    ak.object_attributes));
  }
  if ((ak.object_attributes & kAkForbiddenAttributes) != 0) {
    return absl::UnauthenticatedError("AK objectAttributes include decrypt");
  }
  if (ak.symmetric.algorithm != kAlgNull) {
    return absl::UnauthenticatedError("AK has a symmetric definition; a signing key has none");
  }
  if (ak.scheme_hash != kAlgSha256) {
    return absl::UnauthenticatedError("AK signing scheme does not use SHA-256");
  }
  if (ak.type == kAlgEcc) {
    if (ak.curve != kEccNistP256) return absl::UnauthenticatedError("ECC AK is not on P-256");
    if (ak.scheme != kAlgEcdsa) return absl::UnauthenticatedError("ECC AK scheme is not ECDSA");
    if (ak.kdf != kAlgNull) return absl::UnauthenticatedError("ECC AK has a KDF");
  } else if (ak.scheme != kAlgRsassa && ak.scheme != kAlgRsapss) {
    return absl::UnauthenticatedError("RSA AK scheme is neither RSASSA nor RSAPSS");
  }
  return absl::OkStatus();
}

// The SHA-256 PCR indices of the quote's selection; refuses any other bank.
absl::StatusOr<std::vector<std::uint32_t>> QuotedIndices(const TpmsAttestQuote& quote) {
  if (quote.pcr_select.size() != 1) {
    for (const PcrSelection& s : quote.pcr_select) {
      if (s.hash != kAlgSha256) {
        return absl::UnauthenticatedError(fmt::format(
            "quote selects PCR bank 0x{:04x}; only the SHA-256 bank is accepted", s.hash));
      }
    }
    return absl::UnauthenticatedError(
        fmt::format("quote has {} PCR selections; exactly one SHA-256 selection is accepted",
                    quote.pcr_select.size()));
  }
  const PcrSelection& selection = quote.pcr_select.front();
  if (selection.hash != kAlgSha256) {
    return absl::UnauthenticatedError(
        fmt::format("quote selects PCR bank 0x{:04x}{}; only the SHA-256 bank is accepted",
                    selection.hash, selection.hash == kAlgSha1 ? " (SHA-1)" : ""));
  }
  std::vector<std::uint32_t> indices = selection.Indices();
  if (indices.empty()) return absl::UnauthenticatedError("quote selects no PCR");
  if (indices.back() >= kPcrCount) {
    return absl::UnauthenticatedError(fmt::format("quote selects PCR {}", indices.back()));
  }
  return indices;
}

absl::Status CheckPcrs(const TpmsAttestQuote& quote, const TpmQuoteEvidence& evidence,
                       TpmClaims& claims) {
  ASSIGN_OR_RETURN(const std::vector<std::uint32_t> indices, QuotedIndices(quote));
  if (evidence.pcrs.size() != indices.size()) {
    return absl::UnauthenticatedError(
        fmt::format("evidence reports {} PCR values for a quote over {}", evidence.pcrs.size(),
                    indices.size()));
  }
  std::vector<std::uint8_t> concatenated;
  for (std::size_t i = 0; i < indices.size(); ++i) {
    const auto& [index, value] = evidence.pcrs[i];
    if (index != indices[i]) {
      return absl::UnauthenticatedError(fmt::format(
          "reported PCR {} at position {} where the quote selects PCR {}", index, i, indices[i]));
    }
    if (value.size() != kSha256Size) {
      return absl::UnauthenticatedError(
          fmt::format("reported PCR {} value is {} bytes, not 32", index, value.size()));
    }
    concatenated.insert(concatenated.end(), value.begin(), value.end());
  }
  const Sha256Digest digest = Sha256({concatenated});
  if (quote.pcr_digest.size() != digest.size() ||
      CRYPTO_memcmp(quote.pcr_digest.data(), digest.data(), digest.size()) != 0) {
    return absl::UnauthenticatedError("quoted pcrDigest does not match the reported PCR values");
  }
  for (const auto& [index, value] : evidence.pcrs) claims.pcrs[index] = value;
  claims.pcr_digest = quote.pcr_digest;
  return absl::OkStatus();
}

constexpr std::uint32_t kRhOwner = 0x40000001;
constexpr std::uint32_t kRhEndorsement = 0x4000000b;

std::vector<std::uint8_t> HandleBytes(std::uint32_t handle) {
  return {static_cast<std::uint8_t>(handle >> 24), static_cast<std::uint8_t>(handle >> 16),
          static_cast<std::uint8_t>(handle >> 8), static_cast<std::uint8_t>(handle)};
}

// QN(child) = nameAlg || SHA-256(QN(parent) || Name(child)) (Part 1 §16), SHA-256 only.
std::vector<std::uint8_t> QualifiedName(std::span<const std::uint8_t> parent_qn,
                                        std::span<const std::uint8_t> name) {
  const Sha256Digest digest = Sha256({parent_qn, name});
  std::vector<std::uint8_t> out(2 + digest.size());
  out[1] = 0x0b;  // TPM_ALG_SHA256, big-endian
  std::copy(digest.begin(), digest.end(), out.begin() + 2);
  return out;
}

// A quote's qualifiedSigner is the AK's Qualified Name, which depends on where the AK
// sits. Accepted: a primary key of the endorsement or owner hierarchy, or a child of
// the reported EK as a primary key of the endorsement hierarchy (TpmCollector's layout).
absl::Status CheckQualifiedSigner(std::span<const std::uint8_t> qualified_signer,
                                  std::span<const std::uint8_t> ak_name,
                                  std::span<const std::uint8_t> ek_public) {
  std::vector<std::vector<std::uint8_t>> candidates = {
      QualifiedName(HandleBytes(kRhEndorsement), ak_name),
      QualifiedName(HandleBytes(kRhOwner), ak_name)};
  if (!ek_public.empty()) {
    absl::StatusOr<TpmtPublic> ek = ParseTpmtPublic(ek_public);
    if (!ek.ok()) return ek.status();
    if (ek->name_alg == kAlgSha256) {
      ASSIGN_OR_RETURN(const std::vector<std::uint8_t> ek_name,
                       TpmObjectName(kAlgSha256, ek_public));
      candidates.push_back(
          QualifiedName(QualifiedName(HandleBytes(kRhEndorsement), ek_name), ak_name));
    }
  }
  for (const auto& candidate : candidates) {
    if (std::equal(candidate.begin(), candidate.end(), qualified_signer.begin(),
                   qualified_signer.end())) {
      return absl::OkStatus();
    }
  }
  return absl::UnauthenticatedError(
      "quote's qualifiedSigner is not the AK's qualified name (as a primary key, or as a child "
      "of the reported EK)");
}

}  // namespace

std::array<std::uint8_t, kExtraDataSize> ComputeTpmExtraData(
    std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> ephemeral_public_key) {
  return Sha256({AsBytes(kBindingLabel), nonce, ephemeral_public_key});
}

absl::StatusOr<AttestationKeyInfo> ValidateAttestationKey(std::span<const std::uint8_t> ak_public) {
  ASSIGN_OR_RETURN(const TpmtPublic ak, ParseTpmtPublic(ak_public));
  RETURN_IF_ERROR(CheckAkKey(ak));
  AttestationKeyInfo info;
  ASSIGN_OR_RETURN(info.name, TpmObjectName(ak.name_alg, ak_public));
  info.fingerprint = PublicFingerprint(ak_public);
  return info;
}

absl::StatusOr<std::unique_ptr<TpmQuoteVerifier>> TpmQuoteVerifier::Create(TpmTrustConfig config) {
  for (const std::string& fingerprint : config.pinned_ak_fingerprints) {
    if (!IsFingerprint(fingerprint)) {
      return absl::InvalidArgumentError(
          "pinned AK fingerprint is not 64 lower-case hex digits (SHA-256 of the TPMT_PUBLIC)");
    }
  }
  for (const auto& [ak, ek] : config.ek_bound_aks) {
    if (!IsFingerprint(ak) || !IsFingerprint(ek)) {
      return absl::InvalidArgumentError("EK-bound AK entry is not a pair of SHA-256 fingerprints");
    }
  }
  X509_STORE* store = nullptr;
  if (!config.ek_ca_certificates_pem.empty()) {
    ASSIGN_OR_RETURN(store, MakeEkCaStore(config.ek_ca_certificates_pem));
  }
  return std::unique_ptr<TpmQuoteVerifier>(new TpmQuoteVerifier(std::move(config), store));
}

TpmQuoteVerifier::~TpmQuoteVerifier() { X509_STORE_free(store_); }

absl::Status TpmQuoteVerifier::CheckAkTrust(const TpmQuoteEvidence& evidence,
                                            const std::string& ak_fingerprint,
                                            TpmClaims& claims) const {
  if (config_.pinned_ak_fingerprints.contains(ak_fingerprint)) {
    claims.ak_trust = "pinned";
    return absl::OkStatus();
  }
  const std::string untrusted = fmt::format("attestation key {} is not trusted", ak_fingerprint);
  if (store_ == nullptr) {
    return absl::UnauthenticatedError(untrusted + ": not pinned and no EK CA is configured");
  }
  if (evidence.ek_certificate.empty() || evidence.ek_public.empty()) {
    return absl::UnauthenticatedError(untrusted +
                                      ": not pinned and the evidence has no EK certificate");
  }
  absl::StatusOr<std::string> subject =
      VerifyEkCertificate(store_, evidence.ek_certificate, evidence.ek_public);
  if (!subject.ok()) {
    return absl::UnauthenticatedError(
        fmt::format("{}: {}", untrusted, std::string(subject.status().message())));
  }
  const std::string ek_fingerprint = PublicFingerprint(evidence.ek_public);
  const auto bound = config_.ek_bound_aks.find(ak_fingerprint);
  if (bound == config_.ek_bound_aks.end() || bound->second != ek_fingerprint) {
    return absl::UnauthenticatedError(
        fmt::format("{}: not pinned and not bound by credential activation to EK {}", untrusted,
                    ek_fingerprint));
  }
  claims.ak_trust = "ek-ca";
  claims.ek_subject = *std::move(subject);
  return absl::OkStatus();
}

absl::StatusOr<TpmClaims> TpmQuoteVerifier::Verify(
    const TpmQuoteEvidence& evidence,
    std::span<const std::uint8_t, kExtraDataSize> expected_extra_data) const {
  ASSIGN_OR_RETURN(const TpmsAttestQuote quote, ParseTpmsAttestQuote(evidence.attest));
  ASSIGN_OR_RETURN(const TpmtSignature signature, ParseTpmtSignature(evidence.signature));
  ASSIGN_OR_RETURN(const TpmtPublic ak, ParseTpmtPublic(evidence.ak_public));
  RETURN_IF_ERROR(CheckAkKey(ak));
  ASSIGN_OR_RETURN(const std::vector<std::uint8_t> ak_name,
                   TpmObjectName(ak.name_alg, evidence.ak_public));
  RETURN_IF_ERROR(CheckQualifiedSigner(quote.qualified_signer, ak_name, evidence.ek_public));
  TpmClaims claims;
  claims.ak_fingerprint = PublicFingerprint(evidence.ak_public);
  RETURN_IF_ERROR(CheckAkTrust(evidence, claims.ak_fingerprint, claims));

  if (signature.sig_alg != ak.scheme) {
    return absl::UnauthenticatedError("TPMT_SIGNATURE: sigAlg is not the AK's scheme");
  }
  ASSIGN_OR_RETURN(const kms::EvpPkeyPtr ak_key, PublicKeyFromTpmt(ak));
  RETURN_IF_ERROR(VerifyTpmSignature(ak, ak_key.get(), signature, evidence.attest));

  if (quote.extra_data.size() != kExtraDataSize ||
      CRYPTO_memcmp(quote.extra_data.data(), expected_extra_data.data(), kExtraDataSize) != 0) {
    return absl::UnauthenticatedError(
        "quote's extraData does not bind the expected nonce and ephemeral key");
  }
  RETURN_IF_ERROR(CheckPcrs(quote, evidence, claims));
  claims.clock = quote.clock;
  claims.reset_count = quote.reset_count;
  claims.restart_count = quote.restart_count;
  claims.firmware_version = quote.firmware_version;
  claims.qualified_signer = quote.qualified_signer;
  return claims;
}

}  // namespace cloak::attest::tpm
