#pragma once

// TpmQuoteEvidence <-> the TpmEvidence wire message (attest/proto/evidence.proto).

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "attest/tpm/tpm_evidence.h"
#include "attest/tpm/tpm_verifier.h"

namespace cloak::attest::tpm {

// Serialises `evidence` as a TpmEvidence message. Thread-safe.
std::vector<std::uint8_t> EncodeTpmEvidence(const TpmQuoteEvidence& evidence);

// Parses a TpmEvidence message. UNAUTHENTICATED when the bytes are not one. Thread-safe.
absl::StatusOr<TpmQuoteEvidence> DecodeTpmEvidence(std::span<const std::uint8_t> bytes);

// DecodeTpmEvidence, then verifier.Verify. Same codes as Verify. Thread-safe.
absl::StatusOr<TpmClaims> VerifyTpmEvidence(
    const TpmQuoteVerifier& verifier, std::span<const std::uint8_t> evidence,
    std::span<const std::uint8_t, kExtraDataSize> expected_extra_data);

}  // namespace cloak::attest::tpm
