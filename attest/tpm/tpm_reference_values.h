#pragma once

// Reference values for PCRs: which SHA-256 values a verified quote may report.

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "attest/claims.h"

namespace cloak::attest::tpm {

struct TpmReferenceValues {
  // PCR index -> the SHA-256 values it may hold. An empty map allows nothing.
  std::map<std::uint32_t, std::set<std::vector<std::uint8_t>>> pcrs;
};

// OK when every PCR named in `refs` was quoted and holds one of its allowed values.
// PERMISSION_DENIED naming the PCR otherwise, and for an empty `refs` (a policy that
// names no PCR would accept any software, so it accepts nothing). Thread-safe.
absl::Status CheckTpmReferenceValues(const TpmReferenceValues& refs, const TpmClaims& claims);

}  // namespace cloak::attest::tpm
