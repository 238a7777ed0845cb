#pragma once

// Reference values for verified SEV-SNP claims: the SNP-specific checks the attestation
// policy (attest/policy) applies after SnpVerifier accepted the evidence.

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "attest/claims.h"

namespace cloak::attest::snp {

struct SnpReferenceValues {
  bool allow_debug = false;    // accept guests whose policy allows debugging (tests only)
  std::uint32_t max_vmpl = 0;  // highest VMPL accepted; 0 = only the most privileged level
  // Accepted launch measurements. Empty accepts nothing.
  std::vector<std::array<std::uint8_t, 48>> measurements;
  // Per-component minimum of REPORTED_TCB; fmc is compared on Turin only.
  SnpTcb minimum_tcb;
  // When set, only these CHIP_IDs are accepted.
  std::optional<std::vector<std::array<std::uint8_t, 64>>> chip_ids;
  // When set, only these HOST_DATA values are accepted.
  std::optional<std::vector<std::array<std::uint8_t, 32>>> host_data;
};

// OK when `claims` meet `reference`; otherwise PERMISSION_DENIED whose message starts with
// the first failing check: "debug", "vmpl", "measurement", "tcb.<component>", "chip_id",
// "host_data". Pure and thread-safe.
absl::Status CheckSnpReferenceValues(const SnpReferenceValues& reference, const SnpClaims& claims);

}  // namespace cloak::attest::snp
