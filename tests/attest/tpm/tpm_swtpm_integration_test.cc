// TpmCollector and TpmQuoteVerifier against a real swtpm (started by the test, with an
// EK certificate from a CA the test makes).

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/status/status.h"
#include "attest/tpm/credential.h"
#include "attest/tpm/tpm_collector.h"
#include "attest/tpm/tpm_crypto.h"
#include "attest/tpm/tpm_evidence_codec.h"
#include "attest/tpm/tpm_reference_values.h"
#include "attest/tpm/tpm_verifier.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/attest/tpm/swtpm_fixture.h"

namespace cloak::attest::tpm {
namespace {

using ::testing::HasSubstr;
using testing::Swtpm;

constexpr std::uint32_t kAkHandle = 0x81010010;

std::vector<std::uint8_t> Nonce(std::uint8_t fill) { return std::vector<std::uint8_t>(32, fill); }
const std::vector<std::uint8_t> kEphemeralKey(32, 0x42);

std::vector<std::uint8_t> BindingInput(const std::vector<std::uint8_t>& nonce) {
  std::vector<std::uint8_t> input = {'c', 'l', 'o', 'a', 'k', '-', 'a', 't',
                                     't', 'e', 's', 't', '-', 'v', '1'};
  input.insert(input.end(), nonce.begin(), nonce.end());
  input.insert(input.end(), kEphemeralKey.begin(), kEphemeralKey.end());
  return input;
}

class TpmSwtpmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!Swtpm::Available()) return;
    absl::StatusOr<std::unique_ptr<Swtpm>> started = Swtpm::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    tpm_ = started->release();
  }
  static void TearDownTestSuite() {
    delete tpm_;
    tpm_ = nullptr;
  }
  void SetUp() override {
    if (!Swtpm::Available()) GTEST_SKIP() << "swtpm/swtpm_setup not installed";
    ASSERT_NE(tpm_, nullptr);
  }

  // A collector whose AK persists at kAkHandle, so every test quotes with the same AK.
  std::unique_ptr<TpmCollector> Collector() {
    TpmCollectorOptions options;
    options.ak_handle = kAkHandle;
    options.persist_ak = true;
    absl::StatusOr<std::unique_ptr<TpmCollector>> collector =
        TpmCollector::Create(tpm_->TctiConf(), options);
    EXPECT_TRUE(collector.ok()) << collector.status();
    return collector.ok() ? *std::move(collector) : nullptr;
  }

  static std::unique_ptr<TpmQuoteVerifier> Pinned(const std::vector<std::uint8_t>& ak_public) {
    TpmTrustConfig config;
    config.pinned_ak_fingerprints.insert(PublicFingerprint(ak_public));
    return *TpmQuoteVerifier::Create(std::move(config));
  }

  static Swtpm* tpm_;
};

Swtpm* TpmSwtpmTest::tpm_ = nullptr;

TEST_F(TpmSwtpmTest, RealQuoteIsAcceptedWithAPinnedAk) {
  auto collector = Collector();
  ASSERT_NE(collector, nullptr);
  const auto nonce = Nonce(1);
  absl::StatusOr<std::vector<std::uint8_t>> evidence = collector->Collect(BindingInput(nonce));
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  const auto verifier = Pinned(collector->AkPublic());
  absl::StatusOr<TpmClaims> claims =
      VerifyTpmEvidence(*verifier, *evidence, ComputeTpmExtraData(nonce, kEphemeralKey));
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->ak_trust, "pinned");
  EXPECT_EQ(claims->pcrs.size(), 8u);
  EXPECT_EQ(claims->ak_fingerprint, PublicFingerprint(collector->AkPublic()));

  // The corpus of fuzz_tpm_attest comes from here (CLOAK_WRITE_TPM_CORPUS=<dir>).
  if (const char* dir = std::getenv("CLOAK_WRITE_TPM_CORPUS"); dir != nullptr) {
    absl::StatusOr<TpmQuoteEvidence> parts = DecodeTpmEvidence(*evidence);
    ASSERT_TRUE(parts.ok());
    auto write = [&](const std::string& name, const std::vector<std::uint8_t>& bytes) {
      std::ofstream(std::filesystem::path(dir) / name, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
    };
    write("attest.bin", parts->attest);
    write("signature.bin", parts->signature);
    write("ak_public.bin", parts->ak_public);
    write("ek_public.bin", parts->ek_public);
    std::vector<std::uint8_t> framed;
    for (const auto* part :
         {&parts->attest, &parts->signature, &parts->ak_public, &parts->ek_public}) {
      framed.push_back(static_cast<std::uint8_t>(part->size() >> 8));
      framed.push_back(static_cast<std::uint8_t>(part->size()));
      framed.insert(framed.end(), part->begin(), part->end());
    }
    for (const auto& [index, value] : parts->pcrs)
      framed.insert(framed.end(), value.begin(), value.end());
    write("quote_framed.bin", framed);
  }
}

TEST_F(TpmSwtpmTest, WrongNonceAndReplayAreRefused) {
  auto collector = Collector();
  ASSERT_NE(collector, nullptr);
  absl::StatusOr<TpmQuoteEvidence> evidence = collector->CollectQuote(BindingInput(Nonce(2)));
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  const auto verifier = Pinned(collector->AkPublic());
  ASSERT_TRUE(verifier->Verify(*evidence, ComputeTpmExtraData(Nonce(2), kEphemeralKey)).ok());
  // A later challenge (a different nonce) with the old quote: a replay.
  absl::StatusOr<TpmClaims> replay =
      verifier->Verify(*evidence, ComputeTpmExtraData(Nonce(3), kEphemeralKey));
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(replay.status().message()), HasSubstr("extraData"));
  // Same nonce, another ephemeral key.
  const std::vector<std::uint8_t> other_key(32, 0x43);
  EXPECT_EQ(verifier->Verify(*evidence, ComputeTpmExtraData(Nonce(2), other_key)).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(TpmSwtpmTest, ExtendedPcrFallsOutsideTheReferenceValues) {
  TpmReferenceValues refs;
  std::vector<std::uint8_t> ak_public;
  {
    auto collector = Collector();
    ASSERT_NE(collector, nullptr);
    absl::StatusOr<TpmQuoteEvidence> evidence = collector->CollectQuote(BindingInput(Nonce(4)));
    ASSERT_TRUE(evidence.ok()) << evidence.status();
    ak_public = collector->AkPublic();
    absl::StatusOr<TpmClaims> claims =
        Pinned(ak_public)->Verify(*evidence, ComputeTpmExtraData(Nonce(4), kEphemeralKey));
    ASSERT_TRUE(claims.ok()) << claims.status();
    for (const auto& [index, value] : claims->pcrs) refs.pcrs[index] = {value};
    ASSERT_TRUE(CheckTpmReferenceValues(refs, *claims).ok());
  }
  // swtpm serves one connection at a time: extend with the collector closed.
  const std::vector<std::uint8_t> event = {'u', 'n', 'e', 'x', 'p', 'e', 'c', 't', 'e', 'd'};
  ASSERT_TRUE(tpm_->ExtendPcr(7, event).ok());
  auto collector = Collector();
  ASSERT_NE(collector, nullptr);
  EXPECT_EQ(collector->AkPublic(), ak_public);  // the persisted AK was loaded again
  absl::StatusOr<TpmQuoteEvidence> evidence = collector->CollectQuote(BindingInput(Nonce(5)));
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  absl::StatusOr<TpmClaims> claims =
      Pinned(ak_public)->Verify(*evidence, ComputeTpmExtraData(Nonce(5), kEphemeralKey));
  ASSERT_TRUE(claims.ok()) << claims.status();  // authentic, but not acceptable
  const absl::Status status = CheckTpmReferenceValues(refs, *claims);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(status.message()), HasSubstr("PCR 7"));
}

TEST_F(TpmSwtpmTest, UntrustedAkIsRefused) {
  auto collector = Collector();
  ASSERT_NE(collector, nullptr);
  absl::StatusOr<TpmQuoteEvidence> evidence = collector->CollectQuote(BindingInput(Nonce(6)));
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  const std::string fingerprint = PublicFingerprint(collector->AkPublic());
  const auto expected = ComputeTpmExtraData(Nonce(6), kEphemeralKey);

  auto none = *TpmQuoteVerifier::Create({});
  absl::StatusOr<TpmClaims> result = none->Verify(*evidence, expected);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(fingerprint));

  // The EK chains to the CA, but no credential activation bound this AK to the EK.
  TpmTrustConfig config;
  config.ek_ca_certificates_pem.push_back(tpm_->CaCertificatePem());
  result = (*TpmQuoteVerifier::Create(config))->Verify(*evidence, expected);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("credential activation"));
}

TEST_F(TpmSwtpmTest, CredentialActivationBindsTheAkToTheEk) {
  auto collector = Collector();
  ASSERT_NE(collector, nullptr);
  ASSERT_FALSE(collector->EkPublic().empty());
  absl::StatusOr<AttestationKeyInfo> ak = ValidateAttestationKey(collector->AkPublic());
  ASSERT_TRUE(ak.ok()) << ak.status();
  absl::StatusOr<MadeCredential> credential = MakeCredential(collector->EkPublic(), ak->name);
  ASSERT_TRUE(credential.ok()) << credential.status();
  absl::StatusOr<SecretBytes> secret =
      collector->ActivateCredential(credential->credential_blob, credential->encrypted_secret);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_TRUE(*secret == credential->expected_secret);

  // A tampered blob is refused by the TPM.
  std::vector<std::uint8_t> tampered = credential->credential_blob;
  tampered.back() ^= 1;
  EXPECT_EQ(collector->ActivateCredential(tampered, credential->encrypted_secret).status().code(),
            absl::StatusCode::kPermissionDenied);

  // After activation the AK is trusted through the EK certificate.
  absl::StatusOr<TpmQuoteEvidence> evidence = collector->CollectQuote(BindingInput(Nonce(7)));
  ASSERT_TRUE(evidence.ok()) << evidence.status();
  ASSERT_FALSE(evidence->ek_certificate.empty());
  TpmTrustConfig config;
  config.ek_ca_certificates_pem.push_back(tpm_->CaCertificatePem());
  config.ek_bound_aks[ak->fingerprint] = PublicFingerprint(collector->EkPublic());
  absl::StatusOr<TpmClaims> claims =
      (*TpmQuoteVerifier::Create(config))
          ->Verify(*evidence, ComputeTpmExtraData(Nonce(7), kEphemeralKey));
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->ak_trust, "ek-ca");
  EXPECT_FALSE(claims->ek_subject.empty());

  // The same evidence with an EK CA that did not issue the certificate is refused.
  absl::StatusOr<std::unique_ptr<Swtpm>> other = Swtpm::Start({.ca_common_name = "Other CA"});
  ASSERT_TRUE(other.ok()) << other.status();
  TpmTrustConfig wrong_ca = config;
  wrong_ca.ek_ca_certificates_pem = {(*other)->CaCertificatePem()};
  absl::StatusOr<TpmClaims> refused =
      (*TpmQuoteVerifier::Create(wrong_ca))
          ->Verify(*evidence, ComputeTpmExtraData(Nonce(7), kEphemeralKey));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("does not chain"));

  // A credential made for another TPM's EK does not activate here.
  TpmCollectorOptions options;
  auto other_collector = TpmCollector::Create((*other)->TctiConf(), options);
  ASSERT_TRUE(other_collector.ok()) << other_collector.status();
  absl::StatusOr<MadeCredential> foreign = MakeCredential((*other_collector)->EkPublic(), ak->name);
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  absl::StatusOr<SecretBytes> wrong =
      collector->ActivateCredential(foreign->credential_blob, foreign->encrypted_secret);
  EXPECT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kPermissionDenied) << wrong.status();
  // and the TPM keeps working afterwards.
  EXPECT_TRUE(collector->CollectQuote(BindingInput(Nonce(9))).ok());
}

TEST_F(TpmSwtpmTest, TruncatedAndExtendedRealBlobsAreRefused) {
  auto collector = Collector();
  ASSERT_NE(collector, nullptr);
  absl::StatusOr<TpmQuoteEvidence> good = collector->CollectQuote(BindingInput(Nonce(8)));
  ASSERT_TRUE(good.ok()) << good.status();
  const auto verifier = Pinned(collector->AkPublic());
  const auto expected = ComputeTpmExtraData(Nonce(8), kEphemeralKey);
  ASSERT_TRUE(verifier->Verify(*good, expected).ok());
  using Field = std::vector<std::uint8_t> TpmQuoteEvidence::*;
  for (Field field :
       {&TpmQuoteEvidence::attest, &TpmQuoteEvidence::signature, &TpmQuoteEvidence::ak_public}) {
    for (std::size_t n = 0; n <= ((*good).*field).size() + 2; ++n) {
      if (n == ((*good).*field).size()) continue;
      TpmQuoteEvidence e = *good;
      (e.*field).resize(n, 0);
      EXPECT_EQ(verifier->Verify(e, expected).status().code(), absl::StatusCode::kUnauthenticated)
          << "length " << n;
    }
  }
  EXPECT_EQ(DecodeTpmEvidence(std::vector<std::uint8_t>{0xff, 0xff}).status().code(),
            absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace cloak::attest::tpm
