#pragma once

// TpmQuoteEvidence: the parts of a TPM quote as they travel in TpmEvidence
// (attest/proto/evidence.proto), before anything about them is verified.

#include <cstdint>
#include <utility>
#include <vector>

namespace cloak::attest::tpm {

struct TpmQuoteEvidence {
  std::vector<std::uint8_t> attest;     // marshalled TPMS_ATTEST
  std::vector<std::uint8_t> signature;  // marshalled TPMT_SIGNATURE
  std::vector<std::uint8_t> ak_public;  // marshalled TPMT_PUBLIC of the AK
  // (PCR index, SHA-256 value) in the order of the quote's selection.
  std::vector<std::pair<std::uint32_t, std::vector<std::uint8_t>>> pcrs;
  std::vector<std::uint8_t> ek_certificate;  // DER; empty when the TPM has none
  std::vector<std::uint8_t> ek_public;       // marshalled TPMT_PUBLIC of the EK; may be empty
};

}  // namespace cloak::attest::tpm
