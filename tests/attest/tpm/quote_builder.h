#pragma once

// Crafted TPM quotes for unit tests: an attestation key held by OpenSSL, TPMT_PUBLIC /
// TPMS_ATTEST / TPMT_SIGNATURE marshalled by hand (TPM 2.0 Part 2 layouts), so every
// field can be set to a wrong value on purpose.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "attest/tpm/tpm_constants.h"
#include "attest/tpm/tpm_evidence.h"
#include "kms/crypto/openssl_util.h"

namespace cloak::attest::tpm::testing {

void PutU16(std::vector<std::uint8_t>& out, std::uint32_t value);
void PutU32(std::vector<std::uint8_t>& out, std::uint32_t value);
void PutU64(std::vector<std::uint8_t>& out, std::uint64_t value);
void PutTpm2b(std::vector<std::uint8_t>& out, const std::vector<std::uint8_t>& bytes);

struct AkSpec {
  std::uint32_t attributes = kAttrFixedTpm | kAttrFixedParent | kAttrSensitiveDataOrigin |
                             kAttrUserWithAuth | kAttrRestricted | kAttrSign;
  std::uint16_t name_alg = kAlgSha256;
  std::uint16_t scheme = kAlgEcdsa;
  std::uint16_t scheme_hash = kAlgSha256;
  std::uint16_t curve = kEccNistP256;
};

struct FakeAk {
  kms::EvpPkeyPtr key;
  std::vector<std::uint8_t> public_area;  // marshalled TPMT_PUBLIC
  std::vector<std::uint8_t> name;         // 0x000b || SHA-256(public_area)
  std::string fingerprint;
  std::vector<std::uint8_t> qualified_name;  // as a primary key of the endorsement hierarchy
};

// A fresh P-256 key and its TPMT_PUBLIC per `spec`.
FakeAk MakeFakeAk(const AkSpec& spec = {});

struct QuoteSpec {
  std::uint32_t magic = kTpmGeneratedValue;
  std::uint16_t type = kStAttestQuote;
  std::vector<std::uint8_t> extra_data = std::vector<std::uint8_t>(32, 0x5a);
  std::uint16_t bank = kAlgSha256;
  std::uint8_t sizeof_select = 3;
  std::map<std::uint32_t, std::vector<std::uint8_t>> pcrs;  // index -> value
  bool override_signer = false;
  std::vector<std::uint8_t> signer;  // qualifiedSigner when override_signer
};

// PCRs 0..7 holding distinct values.
std::map<std::uint32_t, std::vector<std::uint8_t>> SamplePcrs();

std::vector<std::uint8_t> MarshalAttest(const QuoteSpec& spec, const FakeAk& ak);

// TPMT_SIGNATURE (ECDSA, SHA-256) by `key` over SHA-256(message).
std::vector<std::uint8_t> SignEcdsa(EVP_PKEY* key, const std::vector<std::uint8_t>& message);

// A complete, validly signed quote per `spec`.
TpmQuoteEvidence MakeQuote(const FakeAk& ak, const QuoteSpec& spec);

}  // namespace cloak::attest::tpm::testing
