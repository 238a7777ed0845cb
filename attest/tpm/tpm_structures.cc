#include "attest/tpm/tpm_structures.h"

#include "attest/tpm/tpm_constants.h"
#include "attest/tpm/tpm_reader.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::tpm {
namespace {

absl::StatusOr<std::vector<PcrSelection>> ReadPcrSelectionList(TpmReader& in) {
  ASSIGN_OR_RETURN(const std::uint32_t count, in.U32("TPML_PCR_SELECTION.count"));
  if (count > kMaxPcrBanks) {
    return in.Malformed(fmt::format("TPML_PCR_SELECTION.count {} exceeds {}", count, kMaxPcrBanks));
  }
  std::vector<PcrSelection> out;
  for (std::uint32_t i = 0; i < count; ++i) {
    PcrSelection selection;
    ASSIGN_OR_RETURN(selection.hash, in.U16("TPMS_PCR_SELECTION.hash"));
    ASSIGN_OR_RETURN(const std::uint8_t size, in.U8("TPMS_PCR_SELECTION.sizeofSelect"));
    if (size < kMinPcrSelectSize || size > kMaxPcrSelectSize) {
      return in.Malformed(fmt::format("TPMS_PCR_SELECTION.sizeofSelect {} outside {}..{}", size,
                                      kMinPcrSelectSize, kMaxPcrSelectSize));
    }
    ASSIGN_OR_RETURN(selection.select, in.Bytes(size, "TPMS_PCR_SELECTION.pcrSelect"));
    out.push_back(std::move(selection));
  }
  return out;
}

// TPMT_SYM_DEF_OBJECT: NULL, or AES with 128/192/256 bits in CFB mode (the only mode a
// storage parent may use).
absl::StatusOr<SymDefObject> ReadSymDefObject(TpmReader& in) {
  SymDefObject out;
  ASSIGN_OR_RETURN(out.algorithm, in.U16("TPMT_SYM_DEF_OBJECT.algorithm"));
  if (out.algorithm == kAlgNull) return out;
  if (out.algorithm != kAlgAes) {
    return in.Malformed(fmt::format("symmetric algorithm 0x{:04x} not supported", out.algorithm));
  }
  ASSIGN_OR_RETURN(out.key_bits, in.U16("TPMT_SYM_DEF_OBJECT.keyBits"));
  ASSIGN_OR_RETURN(out.mode, in.U16("TPMT_SYM_DEF_OBJECT.mode"));
  if ((out.key_bits != 128 && out.key_bits != 192 && out.key_bits != 256) || out.mode != kAlgCfb) {
    return in.Malformed("symmetric definition is not AES-{128,192,256}-CFB");
  }
  return out;
}

// A scheme selector and, unless it is NULL, its hashAlg (ECDAA adds a count).
absl::Status ReadScheme(TpmReader& in, std::string_view field, std::uint16_t& scheme,
                        std::uint16_t& hash) {
  ASSIGN_OR_RETURN(scheme, in.U16(field));
  if (scheme == kAlgNull) return absl::OkStatus();
  switch (scheme) {
    case kAlgRsassa:
    case kAlgRsapss:
    case kAlgOaep:
    case kAlgEcdsa:
    case kAlgEcdh:
    case kAlgEcschnorr:
    case kAlgKdf1Sp800_56a:
    case kAlgKdf2:
    case kAlgKdf1Sp800_108:
      break;
    case kAlgRsaes:  // TPMS_ENC_SCHEME_RSAES is empty
      return absl::OkStatus();
    case kAlgEcdaa: {
      ASSIGN_OR_RETURN(hash, in.U16(field));
      ASSIGN_OR_RETURN(const std::uint16_t count, in.U16(field));
      (void)count;
      return absl::OkStatus();
    }
    default:
      return in.Malformed(fmt::format("{} 0x{:04x} not supported", field, scheme));
  }
  ASSIGN_OR_RETURN(hash, in.U16(field));
  return absl::OkStatus();
}

}  // namespace

std::vector<std::uint32_t> PcrSelection::Indices() const {
  std::vector<std::uint32_t> out;
  for (std::size_t byte = 0; byte < select.size(); ++byte) {
    for (std::uint32_t bit = 0; bit < 8; ++bit) {
      if ((select[byte] >> bit) & 1u) out.push_back(static_cast<std::uint32_t>(byte * 8 + bit));
    }
  }
  return out;
}

std::size_t TpmDigestSize(std::uint16_t hash_alg) {
  switch (hash_alg) {
    case kAlgSha1:
      return 20;
    case kAlgSha256:
      return 32;
    case kAlgSha384:
      return 48;
    case kAlgSha512:
      return 64;
    default:
      return 0;
  }
}

absl::StatusOr<TpmsAttestQuote> ParseTpmsAttestQuote(std::span<const std::uint8_t> data) {
  TpmReader in(data, "TPMS_ATTEST");
  ASSIGN_OR_RETURN(const std::uint32_t magic, in.U32("magic"));
  if (magic != kTpmGeneratedValue) return in.Malformed("magic is not TPM_GENERATED_VALUE");
  ASSIGN_OR_RETURN(const std::uint16_t type, in.U16("type"));
  if (type != kStAttestQuote) {
    return in.Malformed(fmt::format("type 0x{:04x} is not TPM_ST_ATTEST_QUOTE", type));
  }
  TpmsAttestQuote out;
  ASSIGN_OR_RETURN(out.qualified_signer, in.Tpm2b(kMaxNameSize, "qualifiedSigner"));
  ASSIGN_OR_RETURN(out.extra_data, in.Tpm2b(kMaxDigestSize, "extraData"));
  ASSIGN_OR_RETURN(out.clock, in.U64("clockInfo.clock"));
  ASSIGN_OR_RETURN(out.reset_count, in.U32("clockInfo.resetCount"));
  ASSIGN_OR_RETURN(out.restart_count, in.U32("clockInfo.restartCount"));
  ASSIGN_OR_RETURN(const std::uint8_t safe, in.U8("clockInfo.safe"));
  if (safe > 1) return in.Malformed("clockInfo.safe is not a TPMI_YES_NO");
  out.safe = safe == 1;
  ASSIGN_OR_RETURN(out.firmware_version, in.U64("firmwareVersion"));
  ASSIGN_OR_RETURN(out.pcr_select, ReadPcrSelectionList(in));
  ASSIGN_OR_RETURN(out.pcr_digest, in.Tpm2b(kMaxDigestSize, "pcrDigest"));
  RETURN_IF_ERROR(in.ExpectEnd());
  return out;
}

absl::StatusOr<TpmtSignature> ParseTpmtSignature(std::span<const std::uint8_t> data) {
  TpmReader in(data, "TPMT_SIGNATURE");
  TpmtSignature out;
  ASSIGN_OR_RETURN(out.sig_alg, in.U16("sigAlg"));
  ASSIGN_OR_RETURN(out.hash, in.U16("hash"));
  switch (out.sig_alg) {
    case kAlgEcdsa: {
      ASSIGN_OR_RETURN(out.ecdsa_r, in.Tpm2b(kMaxEccParameterSize, "signatureR"));
      ASSIGN_OR_RETURN(out.ecdsa_s, in.Tpm2b(kMaxEccParameterSize, "signatureS"));
      break;
    }
    case kAlgRsassa:
    case kAlgRsapss: {
      ASSIGN_OR_RETURN(out.rsa_signature, in.Tpm2b(kMaxRsaKeyBytes, "sig"));
      break;
    }
    default:
      return in.Malformed(fmt::format("sigAlg 0x{:04x} not supported", out.sig_alg));
  }
  RETURN_IF_ERROR(in.ExpectEnd());
  return out;
}

absl::StatusOr<TpmtPublic> ParseTpmtPublic(std::span<const std::uint8_t> data) {
  TpmReader in(data, "TPMT_PUBLIC");
  TpmtPublic out;
  ASSIGN_OR_RETURN(out.type, in.U16("type"));
  if (out.type != kAlgRsa && out.type != kAlgEcc) {
    return in.Malformed(fmt::format("type 0x{:04x} is neither RSA nor ECC", out.type));
  }
  ASSIGN_OR_RETURN(out.name_alg, in.U16("nameAlg"));
  ASSIGN_OR_RETURN(out.object_attributes, in.U32("objectAttributes"));
  ASSIGN_OR_RETURN(out.auth_policy, in.Tpm2b(kMaxDigestSize, "authPolicy"));
  ASSIGN_OR_RETURN(out.symmetric, ReadSymDefObject(in));
  if (out.type == kAlgRsa) {
    RETURN_IF_ERROR(ReadScheme(in, "scheme", out.scheme, out.scheme_hash));
    ASSIGN_OR_RETURN(out.rsa_key_bits, in.U16("keyBits"));
    if (out.rsa_key_bits != 2048 && out.rsa_key_bits != 3072 && out.rsa_key_bits != 4096) {
      return in.Malformed(fmt::format("RSA keyBits {} not supported", out.rsa_key_bits));
    }
    ASSIGN_OR_RETURN(out.rsa_exponent, in.U32("exponent"));
    ASSIGN_OR_RETURN(out.rsa_modulus, in.Tpm2b(kMaxRsaKeyBytes, "unique.rsa"));
    if (out.rsa_modulus.size() != out.rsa_key_bits / 8u) {
      return in.Malformed("unique.rsa size does not match keyBits");
    }
  } else {
    RETURN_IF_ERROR(ReadScheme(in, "scheme", out.scheme, out.scheme_hash));
    ASSIGN_OR_RETURN(out.curve, in.U16("curveID"));
    RETURN_IF_ERROR(ReadScheme(in, "kdf", out.kdf, out.kdf_hash));
    ASSIGN_OR_RETURN(out.ecc_x, in.Tpm2b(kMaxEccParameterSize, "unique.ecc.x"));
    ASSIGN_OR_RETURN(out.ecc_y, in.Tpm2b(kMaxEccParameterSize, "unique.ecc.y"));
  }
  RETURN_IF_ERROR(in.ExpectEnd());
  return out;
}

}  // namespace cloak::attest::tpm
