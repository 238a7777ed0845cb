#pragma once

// The SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP Firmware ABI, "ATTESTATION_REPORT
// Structure"): a strict parser for the 0x4A0-byte layout of report versions 2 to 5, and the
// per-product decoding of TCB_VERSION. Parsing checks structure only; authenticity is the
// verifier's job (verifier.h).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "attest/claims.h"

namespace cloak::attest::snp {

inline constexpr std::size_t kReportSize = 0x4A0;
inline constexpr std::size_t kSignedSize = 0x2A0;  // the signature covers bytes [0, 0x2A0)
inline constexpr std::size_t kSignatureOffset = 0x2A0;
inline constexpr std::size_t kSignatureComponentSize = 72;  // r and s, little-endian
inline constexpr std::uint32_t kMinReportVersion = 2;
inline constexpr std::uint32_t kMaxReportVersion = 5;
inline constexpr std::uint32_t kSignatureAlgoEcdsaP384Sha384 = 1;

// Which key signed the report (bits 4:2 of the word at 0x48).
enum class SnpSigningKey { kVcek, kVlek, kNone };

// A structurally valid report. Every field is still untrusted until verified.
struct SnpReport {
  std::uint32_t version = 0;
  std::uint32_t guest_svn = 0;
  std::uint64_t policy = 0;
  std::array<std::uint8_t, 16> family_id{};
  std::array<std::uint8_t, 16> image_id{};
  std::uint32_t vmpl = 0;
  std::uint32_t signature_algo = 0;
  std::uint64_t current_tcb = 0;
  std::uint64_t platform_info = 0;
  bool author_key_en = false;
  SnpSigningKey signing_key = SnpSigningKey::kVcek;
  std::array<std::uint8_t, 64> report_data{};
  std::array<std::uint8_t, 48> measurement{};
  std::array<std::uint8_t, 32> host_data{};
  std::array<std::uint8_t, 48> id_key_digest{};
  std::array<std::uint8_t, 48> author_key_digest{};
  std::array<std::uint8_t, 32> report_id{};
  std::array<std::uint8_t, 32> report_id_ma{};
  std::uint64_t reported_tcb = 0;
  // Versions 3 and later: CPUID_FAM_ID, CPUID_MOD_ID, CPUID_STEP (0x188..0x18A).
  std::uint8_t cpuid_family = 0;
  std::uint8_t cpuid_model = 0;
  std::uint8_t cpuid_stepping = 0;
  std::array<std::uint8_t, 64> chip_id{};
  std::uint64_t committed_tcb = 0;
  std::uint64_t launch_tcb = 0;
  // Version 5 and later.
  std::uint64_t launch_mit_vector = 0;
  std::uint64_t current_mit_vector = 0;
  std::array<std::uint8_t, kSignatureComponentSize> signature_r{};  // little-endian
  std::array<std::uint8_t, kSignatureComponentSize> signature_s{};  // little-endian

  // The product the CPUID fields name (versions 3+); nullopt for version 2 reports, which
  // do not carry it. UNAUTHENTICATED for a family/model that is no known SNP product.
  absl::StatusOr<std::optional<SnpProduct>> CpuidProduct() const;
};

// Parses a report. UNAUTHENTICATED, naming the field and its offset, for a wrong size, an
// unsupported version (only 2..5), a signature algorithm other than ECDSA P-384/SHA-384,
// a reserved must-be-zero area that is not zero, guest policy bit 17 clear, or a signing
// key other than the VCEK.
absl::StatusOr<SnpReport> ParseSnpReport(std::span<const std::uint8_t> bytes);

// Decodes a TCB_VERSION for `product`: Milan and Genoa put bootloader, TEE, SNP and
// microcode in bytes 0, 1, 6, 7; Turin puts FMC, bootloader, TEE, SNP in bytes 0..3 and
// microcode in byte 7.
SnpTcb DecodeTcb(std::uint64_t raw, SnpProduct product);

// Encodes the components of `tcb` back into a TCB_VERSION for `product` (reserved bytes 0).
std::uint64_t EncodeTcb(const SnpTcb& tcb, SnpProduct product);

// "Milan", "Genoa", "Turin".
std::string_view ProductName(SnpProduct product);

// The product called `name` (as AMD's productName extension spells it, e.g. "Milan-B0":
// the part before '-'). nullopt when unknown.
std::optional<SnpProduct> ProductFromName(std::string_view name);

}  // namespace cloak::attest::snp
