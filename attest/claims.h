#pragma once

// What verified evidence says about a guest, per TEE kind (DESIGN §6).
//
// Verifiers (attest/snp, attest/tpm) establish authenticity — signatures, certificate
// chains, freshness binding — and fill these structs only from evidence that passed.
// The policy (attest/policy) then decides acceptability: debug, VMPL, measurements,
// minimum TCB, PCR values, identities. Nothing here is raw evidence or key material.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cloak::attest {

// AMD product line of the chip that signed an SEV-SNP report.
enum class SnpProduct { kMilan, kGenoa, kTurin };

// An SEV-SNP TCB_VERSION, decoded per product (Turin adds an FMC component and moves
// the others; Milan and Genoa share one layout).
struct SnpTcb {
  std::uint8_t fmc = 0;  // Turin only; 0 elsewhere
  std::uint8_t bootloader = 0;
  std::uint8_t tee = 0;
  std::uint8_t snp = 0;
  std::uint8_t microcode = 0;
  std::uint64_t raw = 0;  // the 8 bytes as a little-endian integer

  friend bool operator==(const SnpTcb&, const SnpTcb&) = default;
};

// Fields of a verified SEV-SNP attestation report (AMD SEV-SNP ABI, Table "ATTESTATION_
// REPORT Structure"), already checked to be signed by a VCEK that chains to a pinned ARK.
struct SnpClaims {
  SnpProduct product = SnpProduct::kMilan;
  std::uint32_t version = 0;  // report format version, 2..5
  std::uint32_t guest_svn = 0;
  std::uint64_t guest_policy = 0;  // bit 19: DEBUG allowed; bit 16: SMT; bit 17: reserved 1
  std::array<std::uint8_t, 16> family_id{};
  std::array<std::uint8_t, 16> image_id{};
  std::uint32_t vmpl = 0;
  std::uint32_t signature_algo = 0;
  SnpTcb current_tcb;
  SnpTcb reported_tcb;  // the TCB the VCEK was derived for
  SnpTcb committed_tcb;
  SnpTcb launch_tcb;
  std::uint64_t platform_info = 0;
  std::array<std::uint8_t, 64> report_data{};  // equal to the expected binding once verified
  std::array<std::uint8_t, 48> measurement{};
  std::array<std::uint8_t, 32> host_data{};
  std::array<std::uint8_t, 48> id_key_digest{};
  std::array<std::uint8_t, 48> author_key_digest{};
  std::array<std::uint8_t, 32> report_id{};
  std::array<std::uint8_t, 64> chip_id{};  // zero when the guest policy masks it

  bool debug_allowed() const { return (guest_policy >> 19) & 1u; }
};

// A verified TPM 2.0 quote: signed by an attestation key the verifier trusts, over the
// PCR values below, with extraData equal to the expected binding's SHA-256.
struct TpmClaims {
  // SHA-256 bank only (SHA-1 banks are refused by the verifier). PCR index -> digest.
  std::map<std::uint32_t, std::vector<std::uint8_t>> pcrs;
  std::vector<std::uint8_t> pcr_digest;  // SHA-256 over the selected PCRs, as quoted
  std::string ak_fingerprint;            // hex SHA-256 of the AK's TPMT_PUBLIC (marshalled)
  std::string ak_trust;                  // how the AK was trusted: "pinned" or "ek-ca"
  std::string ek_subject;                // EK certificate subject when trusted through the EK CA
  std::uint64_t clock = 0;               // TPMS_CLOCK_INFO.clock (ms)
  std::uint32_t reset_count = 0;
  std::uint32_t restart_count = 0;
  std::uint64_t firmware_version = 0;
  std::vector<std::uint8_t> qualified_signer;  // TPM2B_NAME of the AK
};

}  // namespace cloak::attest
