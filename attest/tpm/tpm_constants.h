#pragma once

// TPM 2.0 constants the verifier and the collector agree on (TPM 2.0 Library, Part 2:
// Structures). Values are the spec's; names follow the spec with a k prefix.

#include <cstddef>
#include <cstdint>

namespace cloak::attest::tpm {

inline constexpr std::uint32_t kTpmGeneratedValue = 0xff544347;  // TPM_GENERATED_VALUE
inline constexpr std::uint16_t kStAttestQuote = 0x8018;          // TPM_ST_ATTEST_QUOTE

// TPM_ALG_ID.
inline constexpr std::uint16_t kAlgRsa = 0x0001;
inline constexpr std::uint16_t kAlgSha1 = 0x0004;
inline constexpr std::uint16_t kAlgAes = 0x0006;
inline constexpr std::uint16_t kAlgSha256 = 0x000b;
inline constexpr std::uint16_t kAlgSha384 = 0x000c;
inline constexpr std::uint16_t kAlgSha512 = 0x000d;
inline constexpr std::uint16_t kAlgNull = 0x0010;
inline constexpr std::uint16_t kAlgRsassa = 0x0014;
inline constexpr std::uint16_t kAlgRsaes = 0x0015;
inline constexpr std::uint16_t kAlgRsapss = 0x0016;
inline constexpr std::uint16_t kAlgOaep = 0x0017;
inline constexpr std::uint16_t kAlgEcdsa = 0x0018;
inline constexpr std::uint16_t kAlgEcdh = 0x0019;
inline constexpr std::uint16_t kAlgEcdaa = 0x001a;
inline constexpr std::uint16_t kAlgEcschnorr = 0x001c;
inline constexpr std::uint16_t kAlgKdf1Sp800_56a = 0x0020;
inline constexpr std::uint16_t kAlgKdf2 = 0x0021;
inline constexpr std::uint16_t kAlgKdf1Sp800_108 = 0x0022;
inline constexpr std::uint16_t kAlgEcc = 0x0023;
inline constexpr std::uint16_t kAlgCfb = 0x0043;

// TPM_ECC_CURVE.
inline constexpr std::uint16_t kEccNistP256 = 0x0003;
inline constexpr std::uint16_t kEccNistP384 = 0x0004;

// TPMA_OBJECT bits.
inline constexpr std::uint32_t kAttrFixedTpm = 1u << 1;
inline constexpr std::uint32_t kAttrStClear = 1u << 2;
inline constexpr std::uint32_t kAttrFixedParent = 1u << 4;
inline constexpr std::uint32_t kAttrSensitiveDataOrigin = 1u << 5;
inline constexpr std::uint32_t kAttrUserWithAuth = 1u << 6;
inline constexpr std::uint32_t kAttrAdminWithPolicy = 1u << 7;
inline constexpr std::uint32_t kAttrNoDa = 1u << 10;
inline constexpr std::uint32_t kAttrEncryptedDuplication = 1u << 11;
inline constexpr std::uint32_t kAttrRestricted = 1u << 16;
inline constexpr std::uint32_t kAttrDecrypt = 1u << 17;
inline constexpr std::uint32_t kAttrSign = 1u << 18;

// What an attestation key must have, and must not have.
inline constexpr std::uint32_t kAkRequiredAttributes =
    kAttrFixedTpm | kAttrFixedParent | kAttrSensitiveDataOrigin | kAttrRestricted | kAttrSign;
inline constexpr std::uint32_t kAkForbiddenAttributes = kAttrDecrypt;

// Size limits of the TPM2B types the parsers accept (sizeof the union they wrap).
inline constexpr std::size_t kMaxDigestSize = 64;        // TPMU_HA
inline constexpr std::size_t kMaxNameSize = 2 + 64;      // TPMU_NAME: TPMT_HA
inline constexpr std::size_t kMaxEccParameterSize = 66;  // P-521 coordinates
inline constexpr std::size_t kMaxRsaKeyBytes = 512;      // TPM2B_PUBLIC_KEY_RSA
inline constexpr std::size_t kMaxPcrSelectSize = 4;      // PCR_SELECT_MAX (32 PCRs)
inline constexpr std::size_t kMinPcrSelectSize = 3;      // PCR_SELECT_MIN (24 PCRs)
inline constexpr std::size_t kMaxPcrBanks = 16;          // HASH_COUNT, generously
inline constexpr std::uint32_t kPcrCount = 24;           // PCRs a PC-client TPM has

inline constexpr std::size_t kSha256Size = 32;

// NV indices of the EK certificates (TCG EK Credential Profile, low range).
inline constexpr std::uint32_t kNvRsaEkCert = 0x01c00002;
inline constexpr std::uint32_t kNvEccEkCert = 0x01c0000a;

}  // namespace cloak::attest::tpm
