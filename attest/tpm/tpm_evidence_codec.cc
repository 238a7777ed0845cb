#include "attest/tpm/tpm_evidence_codec.h"

#include "attest/proto/evidence.pb.h"
#include "common/status.h"

namespace cloak::attest::tpm {
namespace {

std::vector<std::uint8_t> ToBytes(const std::string& s) { return {s.begin(), s.end()}; }

std::string ToString(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

}  // namespace

std::vector<std::uint8_t> EncodeTpmEvidence(const TpmQuoteEvidence& evidence) {
  cloak::attest::v1::TpmEvidence message;
  message.set_attest(ToString(evidence.attest));
  message.set_signature(ToString(evidence.signature));
  message.set_ak_public(ToString(evidence.ak_public));
  for (const auto& [index, digest] : evidence.pcrs) {
    auto* pcr = message.add_pcrs();
    pcr->set_index(index);
    pcr->set_digest(ToString(digest));
  }
  message.set_ek_certificate(ToString(evidence.ek_certificate));
  message.set_ek_public(ToString(evidence.ek_public));
  const std::string wire = message.SerializeAsString();
  return ToBytes(wire);
}

absl::StatusOr<TpmQuoteEvidence> DecodeTpmEvidence(std::span<const std::uint8_t> bytes) {
  cloak::attest::v1::TpmEvidence message;
  if (bytes.size() > 1u << 20 ||
      !message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::UnauthenticatedError("TpmEvidence: not a valid message");
  }
  TpmQuoteEvidence out;
  out.attest = ToBytes(message.attest());
  out.signature = ToBytes(message.signature());
  out.ak_public = ToBytes(message.ak_public());
  for (const auto& pcr : message.pcrs()) out.pcrs.emplace_back(pcr.index(), ToBytes(pcr.digest()));
  out.ek_certificate = ToBytes(message.ek_certificate());
  out.ek_public = ToBytes(message.ek_public());
  return out;
}

absl::StatusOr<TpmClaims> VerifyTpmEvidence(
    const TpmQuoteVerifier& verifier, std::span<const std::uint8_t> evidence,
    std::span<const std::uint8_t, kExtraDataSize> expected_extra_data) {
  ASSIGN_OR_RETURN(const TpmQuoteEvidence decoded, DecodeTpmEvidence(evidence));
  return verifier.Verify(decoded, expected_extra_data);
}

}  // namespace cloak::attest::tpm
