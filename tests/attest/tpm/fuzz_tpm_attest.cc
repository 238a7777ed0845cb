// fuzz_tpm_attest: the TPM quote parsers and the verifier on arbitrary bytes.
//
// Every input goes to the TPMS_ATTEST, TPMT_SIGNATURE and TPMT_PUBLIC parsers as a
// whole. It is also read as a framed quote — u16 length + TPMS_ATTEST, u16 length +
// TPMT_SIGNATURE, u16 length + AK TPMT_PUBLIC, u16 length + EK TPMT_PUBLIC, then 32-byte
// PCR values — and verified
// with that AK pinned and the quote's own extraData expected, so the fuzzer reaches the
// signature, binding and PCR checks. The seed corpus (corpus/) is a real swtpm quote.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "attest/tpm/tpm_crypto.h"
#include "attest/tpm/tpm_structures.h"
#include "attest/tpm/tpm_verifier.h"

namespace {

using namespace cloak::attest::tpm;

bool TakeFramed(std::span<const std::uint8_t>& in, std::vector<std::uint8_t>& out) {
  if (in.size() < 2) return false;
  const std::size_t size = (std::size_t{in[0]} << 8) | in[1];
  if (in.size() - 2 < size) return false;
  out.assign(in.begin() + 2, in.begin() + 2 + static_cast<std::ptrdiff_t>(size));
  in = in.subspan(2 + size);
  return true;
}

void VerifyFramed(std::span<const std::uint8_t> in) {
  TpmQuoteEvidence evidence;
  if (!TakeFramed(in, evidence.attest) || !TakeFramed(in, evidence.signature) ||
      !TakeFramed(in, evidence.ak_public) || !TakeFramed(in, evidence.ek_public)) {
    return;
  }
  absl::StatusOr<TpmsAttestQuote> quote = ParseTpmsAttestQuote(evidence.attest);
  std::array<std::uint8_t, kExtraDataSize> expected{};
  if (quote.ok() && quote->extra_data.size() == expected.size()) {
    std::copy(quote->extra_data.begin(), quote->extra_data.end(), expected.begin());
  }
  std::vector<std::uint32_t> indices;
  if (quote.ok() && !quote->pcr_select.empty()) indices = quote->pcr_select.front().Indices();
  for (std::uint32_t index : indices) {
    if (in.size() < 32) break;
    evidence.pcrs.emplace_back(index, std::vector<std::uint8_t>(in.begin(), in.begin() + 32));
    in = in.subspan(32);
  }
  TpmTrustConfig config;
  config.pinned_ak_fingerprints.insert(PublicFingerprint(evidence.ak_public));
  auto verifier = TpmQuoteVerifier::Create(std::move(config));
  if (!verifier.ok()) std::abort();
  absl::StatusOr<cloak::attest::TpmClaims> claims = (*verifier)->Verify(evidence, expected);
  if (claims.ok() && claims->pcrs.size() != evidence.pcrs.size()) std::abort();
  if (std::getenv("CLOAK_FUZZ_TPM_VERBOSE") != nullptr) {
    std::fprintf(stderr, "framed quote: %s\n", claims.ok() ? "verified" : "refused");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  (void)ParseTpmsAttestQuote(in);
  (void)ParseTpmtSignature(in);
  absl::StatusOr<TpmtPublic> key = ParseTpmtPublic(in);
  if (key.ok()) (void)PublicKeyFromTpmt(*key);
  (void)ValidateAttestationKey(in);
  VerifyFramed(in);
  return 0;
}
