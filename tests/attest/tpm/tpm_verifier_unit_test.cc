// Unit tests of the TPM quote verifier on crafted structures (no TPM needed).

#include <array>
#include <string>

#include "absl/status/status.h"
#include "attest/tpm/tpm_constants.h"
#include "attest/tpm/tpm_crypto.h"
#include "attest/tpm/tpm_reference_values.h"
#include "attest/tpm/tpm_structures.h"
#include "attest/tpm/tpm_verifier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/attest/tpm/quote_builder.h"

namespace cloak::attest::tpm {
namespace {

using testing::AkSpec;
using testing::FakeAk;
using ::testing::HasSubstr;
using testing::MakeFakeAk;
using testing::MakeQuote;
using testing::QuoteSpec;
using testing::SamplePcrs;

std::array<std::uint8_t, 32> Expected(std::uint8_t fill = 0x5a) {
  std::array<std::uint8_t, 32> out;
  out.fill(fill);
  return out;
}

std::unique_ptr<TpmQuoteVerifier> PinnedVerifier(const FakeAk& ak) {
  TpmTrustConfig config;
  config.pinned_ak_fingerprints.insert(ak.fingerprint);
  return *TpmQuoteVerifier::Create(std::move(config));
}

QuoteSpec DefaultSpec() {
  QuoteSpec spec;
  spec.pcrs = SamplePcrs();
  return spec;
}

void ExpectUnauthenticated(const absl::StatusOr<TpmClaims>& result, const std::string& text) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(text));
}

TEST(TpmVerifierUnit, AcceptsAWellFormedPinnedQuote) {
  const FakeAk ak = MakeFakeAk();
  const auto verifier = PinnedVerifier(ak);
  const absl::StatusOr<TpmClaims> claims =
      verifier->Verify(MakeQuote(ak, DefaultSpec()), Expected());
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->ak_trust, "pinned");
  EXPECT_EQ(claims->ak_fingerprint, ak.fingerprint);
  EXPECT_EQ(claims->pcrs, SamplePcrs());
  EXPECT_EQ(claims->pcr_digest.size(), 32u);
  EXPECT_EQ(claims->clock, 123456u);
  EXPECT_EQ(claims->reset_count, 7u);
  EXPECT_EQ(claims->restart_count, 3u);
  EXPECT_EQ(claims->firmware_version, 0x2019102300163636ull);
  EXPECT_EQ(claims->qualified_signer, ak.qualified_name);
}

TEST(TpmVerifierUnit, TruncatedStructuresAreRefusedAtEveryLength) {
  const FakeAk ak = MakeFakeAk();
  const auto verifier = PinnedVerifier(ak);
  const TpmQuoteEvidence good = MakeQuote(ak, DefaultSpec());
  for (std::size_t n = 0; n < good.attest.size(); ++n) {
    TpmQuoteEvidence e = good;
    e.attest.resize(n);
    ExpectUnauthenticated(verifier->Verify(e, Expected()), "TPMS_ATTEST");
  }
  for (std::size_t n = 0; n < good.signature.size(); ++n) {
    TpmQuoteEvidence e = good;
    e.signature.resize(n);
    ExpectUnauthenticated(verifier->Verify(e, Expected()), "TPMT_SIGNATURE");
  }
  for (std::size_t n = 0; n < good.ak_public.size(); ++n) {
    TpmQuoteEvidence e = good;
    e.ak_public.resize(n);
    ExpectUnauthenticated(verifier->Verify(e, Expected()), "TPMT_PUBLIC");
  }
}

TEST(TpmVerifierUnit, ExtendedStructuresAreRefused) {
  const FakeAk ak = MakeFakeAk();
  const auto verifier = PinnedVerifier(ak);
  const TpmQuoteEvidence good = MakeQuote(ak, DefaultSpec());
  for (std::size_t extra = 1; extra <= 3; ++extra) {
    TpmQuoteEvidence e = good;
    e.attest.insert(e.attest.end(), extra, 0);
    ExpectUnauthenticated(verifier->Verify(e, Expected()), "TPMS_ATTEST: ");
    e = good;
    e.signature.insert(e.signature.end(), extra, 0);
    ExpectUnauthenticated(verifier->Verify(e, Expected()), "TPMT_SIGNATURE: ");
    e = good;
    e.ak_public.insert(e.ak_public.end(), extra, 0);
    ExpectUnauthenticated(verifier->Verify(e, Expected()), "TPMT_PUBLIC: ");
  }
  EXPECT_THAT(std::string(ParseTpmsAttestQuote(std::vector<std::uint8_t>(good.attest.size() + 1))
                              .status()
                              .message()),
              HasSubstr("TPMS_ATTEST"));
}

TEST(TpmVerifierUnit, WrongMagicOrTypeIsRefused) {
  const FakeAk ak = MakeFakeAk();
  const auto verifier = PinnedVerifier(ak);
  QuoteSpec spec = DefaultSpec();
  spec.magic = 0xff544348;
  ExpectUnauthenticated(verifier->Verify(MakeQuote(ak, spec), Expected()), "magic");
  spec = DefaultSpec();
  spec.type = 0x8017;  // TPM_ST_ATTEST_CERTIFY
  ExpectUnauthenticated(verifier->Verify(MakeQuote(ak, spec), Expected()), "TPM_ST_ATTEST_QUOTE");
}

TEST(TpmVerifierUnit, Sha1BankIsRefused) {
  const FakeAk ak = MakeFakeAk();
  const auto verifier = PinnedVerifier(ak);
  QuoteSpec spec = DefaultSpec();
  spec.bank = kAlgSha1;
  for (auto& [index, value] : spec.pcrs) value.resize(20);
  ExpectUnauthenticated(verifier->Verify(MakeQuote(ak, spec), Expected()), "SHA-1");
}

TEST(TpmVerifierUnit, WrongSizesAreRefused) {
  const FakeAk ak = MakeFakeAk();
  const auto verifier = PinnedVerifier(ak);
  QuoteSpec spec = DefaultSpec();
  spec.extra_data.assign(65, 0x5a);  // beyond TPM2B_DATA
  ExpectUnauthenticated(verifier->Verify(MakeQuote(ak, spec), Expected()), "extraData size");
  spec = DefaultSpec();
  spec.extra_data.assign(20, 0x5a);  // a prefix is not the binding
  ExpectUnauthenticated(verifier->Verify(MakeQuote(ak, spec), Expected()), "extraData");
  spec = DefaultSpec();
  spec.sizeof_select = 2;
  ExpectUnauthenticated(verifier->Verify(MakeQuote(ak, spec), Expected()), "sizeofSelect");
  spec = DefaultSpec();
  spec.sizeof_select = 5;
  ExpectUnauthenticated(verifier->Verify(MakeQuote(ak, spec), Expected()), "sizeofSelect");
  spec = DefaultSpec();
  TpmQuoteEvidence e = MakeQuote(ak, spec);
  e.pcrs[2].second.resize(20);
  ExpectUnauthenticated(verifier->Verify(e, Expected()), "not 32");
}

TEST(TpmVerifierUnit, SignatureFromAnotherKeyIsRefused) {
  const FakeAk ak = MakeFakeAk();
  const FakeAk other = MakeFakeAk();
  const auto verifier = PinnedVerifier(ak);
  TpmQuoteEvidence e = MakeQuote(ak, DefaultSpec());
  e.signature = testing::SignEcdsa(other.key.get(), e.attest);
  ExpectUnauthenticated(verifier->Verify(e, Expected()), "signature does not verify");
  // A flipped byte in the signed attest, too.
  e = MakeQuote(ak, DefaultSpec());
  e.attest[20] ^= 1;
  EXPECT_FALSE(verifier->Verify(e, Expected()).ok());
}

TEST(TpmVerifierUnit, PcrDigestMismatchIsRefused) {
  const FakeAk ak = MakeFakeAk();
  const auto verifier = PinnedVerifier(ak);
  TpmQuoteEvidence e = MakeQuote(ak, DefaultSpec());
  e.pcrs[3].second[0] ^= 0xff;
  ExpectUnauthenticated(verifier->Verify(e, Expected()), "pcrDigest");
}

TEST(TpmVerifierUnit, ReportedPcrsMustBeExactlyTheSelection) {
  const FakeAk ak = MakeFakeAk();
  const auto verifier = PinnedVerifier(ak);
  const TpmQuoteEvidence good = MakeQuote(ak, DefaultSpec());
  TpmQuoteEvidence e = good;
  e.pcrs.pop_back();
  ExpectUnauthenticated(verifier->Verify(e, Expected()), "reports 7 PCR values");
  e = good;
  e.pcrs.emplace_back(8, std::vector<std::uint8_t>(32));
  ExpectUnauthenticated(verifier->Verify(e, Expected()), "reports 9 PCR values");
  e = good;
  std::swap(e.pcrs[0], e.pcrs[1]);
  ExpectUnauthenticated(verifier->Verify(e, Expected()), "where the quote selects");
  QuoteSpec spec = DefaultSpec();
  spec.pcrs.clear();
  ExpectUnauthenticated(verifier->Verify(MakeQuote(ak, spec), Expected()), "selects no PCR");
}

TEST(TpmVerifierUnit, ExtraDataIsComparedInFull) {
  const FakeAk ak = MakeFakeAk();
  const auto verifier = PinnedVerifier(ak);
  const TpmQuoteEvidence e = MakeQuote(ak, DefaultSpec());
  std::array<std::uint8_t, 32> expected = Expected();
  expected[31] ^= 1;  // differs only in the last byte
  ExpectUnauthenticated(verifier->Verify(e, expected), "extraData");
}

TEST(TpmVerifierUnit, QualifiedSignerMustBeTheAksQualifiedName) {
  const FakeAk ak = MakeFakeAk();
  const FakeAk other = MakeFakeAk();
  const auto verifier = PinnedVerifier(ak);
  QuoteSpec spec = DefaultSpec();
  spec.override_signer = true;
  for (const auto& signer : {other.qualified_name, ak.name, std::vector<std::uint8_t>{}}) {
    spec.signer = signer;
    ExpectUnauthenticated(verifier->Verify(MakeQuote(ak, spec), Expected()), "qualifiedSigner");
  }
}

TEST(TpmVerifierUnit, AkAttributesAndAlgorithmsAreChecked) {
  struct Case {
    AkSpec spec;
    std::string message;
  };
  std::vector<Case> cases;
  AkSpec s;
  s.attributes &= ~kAttrRestricted;
  cases.push_back({s, "lack restricted"});
  s = {};
  s.attributes &= ~kAttrFixedTpm;
  cases.push_back({s, "lack restricted"});
  s = {};
  s.attributes &= ~kAttrSensitiveDataOrigin;
  cases.push_back({s, "lack restricted"});
  s = {};
  s.attributes |= kAttrDecrypt;
  cases.push_back({s, "decrypt"});
  s = {};
  s.name_alg = kAlgSha1;
  cases.push_back({s, "nameAlg"});
  s = {};
  s.scheme_hash = kAlgSha1;
  cases.push_back({s, "SHA-256"});
  s = {};
  s.curve = kEccNistP384;
  cases.push_back({s, "P-256"});
  for (const Case& c : cases) {
    const FakeAk ak = MakeFakeAk(c.spec);
    TpmTrustConfig config;
    config.pinned_ak_fingerprints.insert(ak.fingerprint);
    const auto verifier = *TpmQuoteVerifier::Create(std::move(config));
    ExpectUnauthenticated(verifier->Verify(MakeQuote(ak, DefaultSpec()), Expected()), c.message);
    EXPECT_FALSE(ValidateAttestationKey(ak.public_area).ok());
  }
  EXPECT_TRUE(ValidateAttestationKey(MakeFakeAk().public_area).ok());
}

TEST(TpmVerifierUnit, UntrustedAkIsRefusedNamingItsFingerprint) {
  const FakeAk ak = MakeFakeAk();
  const auto verifier = *TpmQuoteVerifier::Create({});
  ExpectUnauthenticated(verifier->Verify(MakeQuote(ak, DefaultSpec()), Expected()), ak.fingerprint);
}

TEST(TpmVerifierUnit, CreateRefusesMalformedTrust) {
  TpmTrustConfig config;
  config.pinned_ak_fingerprints.insert("ABCDEF");
  EXPECT_EQ(TpmQuoteVerifier::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
  config = {};
  config.ek_ca_certificates_pem.push_back("not a certificate");
  EXPECT_EQ(TpmQuoteVerifier::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TpmVerifierUnit, ErrorsNeverCarryEvidenceBytes) {
  const FakeAk ak = MakeFakeAk();
  const auto verifier = *TpmQuoteVerifier::Create({});
  TpmQuoteEvidence e = MakeQuote(ak, DefaultSpec());
  const std::string signature_hex = Hex(e.signature).substr(8, 32);
  const absl::StatusOr<TpmClaims> result = verifier->Verify(e, Expected());
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), ::testing::Not(HasSubstr(signature_hex)));
}

TEST(TpmVerifierUnit, ExtraDataIsSha256OfTheBindingInput) {
  const std::vector<std::uint8_t> nonce(32, 1), key(32, 2);
  std::vector<std::uint8_t> input = {'c', 'l', 'o', 'a', 'k', '-', 'a', 't',
                                     't', 'e', 's', 't', '-', 'v', '1'};
  input.insert(input.end(), nonce.begin(), nonce.end());
  input.insert(input.end(), key.begin(), key.end());
  EXPECT_EQ(ComputeTpmExtraData(nonce, key), Sha256({input}));
}

TEST(TpmReferenceValues, EmptyRefsRefuseEverything) {
  TpmClaims claims;
  claims.pcrs = SamplePcrs();
  const absl::Status status = CheckTpmReferenceValues({}, claims);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
}

TEST(TpmReferenceValues, EveryNamedPcrMustMatchOneAllowedValue) {
  TpmClaims claims;
  claims.pcrs = SamplePcrs();
  TpmReferenceValues refs;
  refs.pcrs[0] = {claims.pcrs[0]};
  refs.pcrs[7] = {std::vector<std::uint8_t>(32, 0xee), claims.pcrs[7]};
  EXPECT_TRUE(CheckTpmReferenceValues(refs, claims).ok());

  refs.pcrs[7] = {std::vector<std::uint8_t>(32, 0xee)};
  absl::Status status = CheckTpmReferenceValues(refs, claims);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(status.message()), HasSubstr("PCR 7"));

  refs.pcrs.erase(7);
  refs.pcrs[9] = {std::vector<std::uint8_t>(32)};
  status = CheckTpmReferenceValues(refs, claims);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(status.message()), HasSubstr("PCR 9"));
}

TEST(TpmStructures, PcrSelectionIndices) {
  PcrSelection s{kAlgSha256, {0x81, 0x00, 0x01}};
  EXPECT_EQ(s.Indices(), (std::vector<std::uint32_t>{0, 7, 16}));
}

}  // namespace
}  // namespace cloak::attest::tpm
