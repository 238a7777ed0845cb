#include "attest/tpm/tpm_reference_values.h"

#include "fmt/format.h"

namespace cloak::attest::tpm {

absl::Status CheckTpmReferenceValues(const TpmReferenceValues& refs, const TpmClaims& claims) {
  if (refs.pcrs.empty()) {
    return absl::PermissionDeniedError(
        "TPM reference values name no PCR; an empty policy accepts no quote");
  }
  for (const auto& [index, allowed] : refs.pcrs) {
    const auto quoted = claims.pcrs.find(index);
    if (quoted == claims.pcrs.end()) {
      return absl::PermissionDeniedError(
          fmt::format("PCR {} is named by the reference values but not quoted", index));
    }
    if (!allowed.contains(quoted->second)) {
      return absl::PermissionDeniedError(
          fmt::format("PCR {} holds a value outside the reference values", index));
    }
  }
  return absl::OkStatus();
}

}  // namespace cloak::attest::tpm
