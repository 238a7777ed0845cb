// The key service with the real attestation verifier and policy authorizer: TPM quotes
// (crafted and signed like a TPM's) and SEV-SNP reports (signed by a generated AMD-shaped
// chain) go through Challenge -> Attest -> key calls of KeyServiceImpl, judged by a
// policy stored with AdminServiceImpl::SetPolicy, exactly as cloak-kms wires them.

#include "attest/verifier/attestation_verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "attest/policy/parse.h"
#include "attest/proto/evidence.pb.h"
#include "attest/tpm/tpm_evidence_codec.h"
#include "attest/verifier/policy_authorizer.h"
#include "kms/crypto/hpke.h"
#include "kms/crypto/key_binding.h"
#include "kms/crypto/random.h"
#include "tests/attest/snp/synthetic_chain.h"
#include "tests/attest/tpm/quote_builder.h"
#include "tests/kms/service/service_test_util.h"

namespace cloak::attest {
namespace {

using ::testing::HasSubstr;
namespace snp_test = snp::snp_test;
namespace tpm_test = tpm::testing;

std::string Hex(std::span<const std::uint8_t> bytes) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string PcrHex(std::uint32_t index) { return Hex(tpm_test::SamplePcrs().at(index)); }

// A key service whose verifier and authorizer are the production ones.
class AttestedService {
 public:
  AttestedService() {
    policy_source = std::make_unique<StorePolicySource>(h.store, h.clock, absl::ZeroDuration());
    snp::SnpVerifierOptions snp_options;
    snp_options.anchors = snp_test::SyntheticChain::Get().Anchors();
    auto snp_verifier = snp::SnpVerifier::Create(std::move(snp_options));
    EXPECT_TRUE(snp_verifier.ok()) << snp_verifier.status();
    AttestationVerifierOptions options;
    options.snp = std::move(*snp_verifier);
    options.policy = policy_source.get();
    options.clock = &h.clock;
    verifier = std::move(AttestationVerifier::Create(std::move(options)).value());
    authorizer = std::make_unique<PolicyAuthorizer>(*policy_source);
    service =
        std::make_unique<kms::KeyServiceImpl>(kms::KeyServiceContext{.store = &h.store,
                                                                     .keks = h.keks.get(),
                                                                     .verifier = verifier.get(),
                                                                     .authorizer = authorizer.get(),
                                                                     .tokens = h.tokens.get(),
                                                                     .nonces = &h.nonces,
                                                                     .clock = &h.clock,
                                                                     .logger = h.logger});
    admin = std::make_unique<kms::AdminServiceImpl>(
        kms::AdminServiceContext{.store = &h.store,
                                 .keks = h.keks.get(),
                                 .rotator = nullptr,
                                 .run_in_background = nullptr,
                                 .actor = "CN=security-officer",
                                 .description = {},
                                 .check_policy =
                                     [](std::string_view, std::string_view document) {
                                       return policy::ParsePolicy(document).status();
                                     },
                                 .policy_stored = nullptr});
  }

  absl::Status SetPolicy(const std::string& yaml) {
    absl::StatusOr<policy::AttestationPolicy> parsed = policy::ParsePolicy(yaml);
    if (!parsed.ok()) return parsed.status();
    kms::v1::SetPolicyRequest request;
    request.set_name("attestation");
    request.set_document(policy::PolicyToJson(*parsed));
    request.set_expected_version(version_);
    kms::v1::Policy stored;
    absl::Status status = admin->DoSetPolicy(request, &stored);
    if (status.ok()) version_ = stored.version();
    return status;
  }

  struct Session {
    kms::HpkeKeyPair key_pair;
    kms::AttestationChallenge challenge;
    std::string token;
    std::string identity;
  };

  // Challenge, then Attest with evidence made by `make` for the challenge.
  absl::StatusOr<Session> Attest(
      kms::v1::EvidenceType type,
      const std::function<std::string(const kms::AttestationChallenge&)>& make) {
    kms::v1::ChallengeResponse challenge;
    if (absl::Status s = service->DoChallenge(&challenge); !s.ok()) return s;
    Session session;
    session.key_pair = kms::HpkeGenerateKeyPair().value();
    session.challenge = kms::AttestationChallenge::For(kms::kms_test::AsBytes(challenge.nonce()),
                                                       session.key_pair.public_key);
    kms::v1::AttestRequest request;
    request.set_nonce(challenge.nonce());
    request.set_ephemeral_public_key(kms::kms_test::AsString(session.key_pair.public_key));
    request.set_evidence_type(type);
    request.set_evidence(make(session.challenge));
    kms::v1::AttestResponse response;
    if (absl::Status s = service->DoAttest(request, &response); !s.ok()) return s;
    session.token = response.session_token();
    session.identity = response.identity();
    return session;
  }

  absl::Status Create(const Session& controller, const std::string& id,
                      std::map<std::string, std::string> labels = {}) {
    kms::v1::CreateVolumeKeyRequest request;
    request.set_session_token(controller.token);
    request.set_volume_id(id);
    request.set_integrity_mode(kms::v1::INTEGRITY_MODE_NONE);
    for (const auto& [k, v] : labels) (*request.mutable_labels())[k] = v;
    kms::v1::CreateVolumeKeyResponse response;
    return service->DoCreateVolumeKey(request, &response);
  }

  absl::StatusOr<SecretBytes> Fetch(const Session& node, const std::string& id) {
    kms::v1::GetVolumeKeyRequest request;
    request.set_session_token(node.token);
    request.set_volume_id(id);
    request.set_ephemeral_public_key(kms::kms_test::AsString(node.key_pair.public_key));
    kms::v1::GetVolumeKeyResponse response;
    if (absl::Status s = service->DoGetVolumeKey(request, &response); !s.ok()) return s;
    return kms::HpkeOpen(node.key_pair.private_key,
                         kms::kms_test::AsBytes(response.sealed_dek_enc()),
                         kms::ReleaseInfo(id, response.key_version()), node.challenge.binding,
                         kms::kms_test::AsBytes(response.sealed_dek()));
  }

  std::vector<kms::AuditEntry> Audit() { return h.store.ListAudit(0, 1000).value(); }

  kms::kms_test::ServiceHarness h;
  std::unique_ptr<StorePolicySource> policy_source;
  std::unique_ptr<AttestationVerifier> verifier;
  std::unique_ptr<PolicyAuthorizer> authorizer;
  std::unique_ptr<kms::KeyServiceImpl> service;
  std::unique_ptr<kms::AdminServiceImpl> admin;

 private:
  std::int64_t version_ = 0;
};

// TPM evidence for `challenge` from `ak`, quoting SamplePcrs() (optionally changed).
std::string TpmEvidenceFor(const tpm_test::FakeAk& ak, const kms::AttestationChallenge& challenge,
                           std::map<std::uint32_t, std::vector<std::uint8_t>> pcrs = {}) {
  tpm_test::QuoteSpec spec;
  spec.extra_data.assign(challenge.tpm_extra_data.begin(), challenge.tpm_extra_data.end());
  spec.pcrs = tpm_test::SamplePcrs();
  for (auto& [index, value] : pcrs) spec.pcrs[index] = value;
  const std::vector<std::uint8_t> bytes = tpm::EncodeTpmEvidence(tpm_test::MakeQuote(ak, spec));
  return std::string(bytes.begin(), bytes.end());
}

std::string SnpEvidenceFor(const kms::AttestationChallenge& challenge, std::uint8_t measurement,
                           bool debug = false) {
  snp_test::ReportSpec spec;
  std::copy(challenge.binding.begin(), challenge.binding.end(), spec.report_data.begin());
  spec.measurement.fill(measurement);
  spec.debug = debug;
  spec.chip_id = snp_test::TestChipId(SnpProduct::kMilan, 1);
  const std::vector<std::uint8_t> report = snp_test::SignedReport(spec);
  const auto& chain = snp_test::SyntheticChain::Get();
  snp_test::VcekSpec vcek;
  vcek.product = SnpProduct::kMilan;
  const std::vector<std::uint8_t> table =
      snp_test::TableFor(chain.MakeVcek(vcek), SnpProduct::kMilan);
  v1::SevSnpEvidence evidence;
  evidence.set_report(std::string(report.begin(), report.end()));
  evidence.set_certificate_table(std::string(table.begin(), table.end()));
  return evidence.SerializeAsString();
}

// Controller: a TPM AK of its own; nodes: TPM AK `node_ak` or SEV-SNP measurement 0x11.
std::string PolicyYaml(const tpm_test::FakeAk& controller, const tpm_test::FakeAk& node,
                       const std::string& pcr7 = PcrHex(7)) {
  return absl::StrReplaceAll(R"(version: 1
sev-snp:
  measurements: [MEAS]
  min_tcb: {bootloader: 3, tee: 0, snp: 8, microcode: 115}
tpm:
  pcrs: {0: [PCR0], 7: [PCR7]}
  trusted_aks: [CTRL, NODE]
rules:
  - name: provisioner
    role: controller
    match: {tee: [tpm], ak_fingerprints: [CTRL]}
  - name: vtpm-workers
    role: node
    match: {tee: [tpm], ak_fingerprints: [NODE]}
    volumes:
      labels: {tier: gold}
  - name: snp-workers
    role: node
    match: {tee: [sev-snp]}
)",
                             {{"MEAS", std::string(96, '1')},
                              {"PCR0", PcrHex(0)},
                              {"PCR7", pcr7},
                              {"CTRL", controller.fingerprint},
                              {"NODE", node.fingerprint}});
}

class AttestationVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(kms.SetPolicy(PolicyYaml(controller_ak, node_ak)).ok()); }

  absl::StatusOr<AttestedService::Session> AttestTpm(
      const tpm_test::FakeAk& ak, std::map<std::uint32_t, std::vector<std::uint8_t>> pcrs = {}) {
    return kms.Attest(kms::v1::EVIDENCE_TYPE_TPM, [&](const kms::AttestationChallenge& c) {
      return TpmEvidenceFor(ak, c, pcrs);
    });
  }

  AttestedService kms;
  tpm_test::FakeAk controller_ak = tpm_test::MakeFakeAk();
  tpm_test::FakeAk node_ak = tpm_test::MakeFakeAk();
};

TEST_F(AttestationVerifierTest, TpmNodeAndControllerFollowThePolicyEndToEnd) {
  absl::StatusOr<AttestedService::Session> controller = AttestTpm(controller_ak);
  ASSERT_TRUE(controller.ok()) << controller.status();
  EXPECT_EQ(controller->identity,
            "controller/provisioner@" + controller_ak.fingerprint.substr(0, 16));
  absl::StatusOr<AttestedService::Session> node = AttestTpm(node_ak);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(node->identity, "node/vtpm-workers@" + node_ak.fingerprint.substr(0, 16));

  ASSERT_TRUE(kms.Create(*controller, "pvc-gold", {{"tier", "gold"}}).ok());
  ASSERT_TRUE(kms.Create(*controller, "pvc-bronze", {{"tier", "bronze"}}).ok());
  absl::StatusOr<SecretBytes> dek = kms.Fetch(*node, "pvc-gold");
  ASSERT_TRUE(dek.ok()) << dek.status();
  EXPECT_TRUE(*dek == kms.h.StoredDek("pvc-gold").value());
  // The rule's label selector: not this volume.
  absl::StatusOr<SecretBytes> bronze = kms.Fetch(*node, "pvc-bronze");
  EXPECT_EQ(bronze.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(bronze.status().message(), HasSubstr("pvc-bronze"));
  // A controller never receives keys, whatever its rule.
  EXPECT_EQ(kms.Fetch(*controller, "pvc-gold").status().code(),
            absl::StatusCode::kPermissionDenied);

  // The audit names the rule and the AK of the attestation.
  bool found = false;
  for (const kms::AuditEntry& entry : kms.Audit()) {
    if (entry.event.action == "Attest" && entry.event.actor == node->identity) {
      EXPECT_EQ(entry.event.details.at("rule"), "vtpm-workers");
      EXPECT_EQ(entry.event.details.at("ak_fingerprint"), node_ak.fingerprint);
      EXPECT_EQ(entry.event.details.at("tee"), "tpm");
      // The session token commits to the claims this entry records.
      absl::StatusOr<kms::SessionToken> token =
          kms.h.tokens->Verify(kms::kms_test::AsBytes(node->token));
      ASSERT_TRUE(token.ok()) << token.status();
      EXPECT_EQ(token->tee, kms::EvidenceType::kTpm);
      EXPECT_EQ(entry.event.details.at("claims_digest"), Hex(token->claims_digest));
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(AttestationVerifierTest, TpmRefusalsHaveTheRightCodesAndAreAudited) {
  // A PCR outside the policy: authentic, but not acceptable.
  absl::StatusOr<AttestedService::Session> bad_pcr =
      AttestTpm(node_ak, {{7, std::vector<std::uint8_t>(32, 0xee)}});
  EXPECT_EQ(bad_pcr.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(bad_pcr.status().message(), HasSubstr("tpm.pcrs.7"));
  const kms::AuditEntry last = kms.Audit().back();
  EXPECT_EQ(last.event.action, "Attest");
  EXPECT_EQ(last.event.outcome, "PERMISSION_DENIED");
  // The refusal still says which guest it was.
  EXPECT_EQ(last.event.actor, "unadmitted/tpm@" + node_ak.fingerprint.substr(0, 16));
  EXPECT_EQ(last.event.details.at("ak_fingerprint"), node_ak.fingerprint);
  EXPECT_THAT(last.event.details.at("refused"), HasSubstr("tpm.pcrs.7"));

  // An AK nobody pinned: not authentic as far as this service knows.
  const tpm_test::FakeAk stranger = tpm_test::MakeFakeAk();
  EXPECT_EQ(AttestTpm(stranger).status().code(), absl::StatusCode::kUnauthenticated);

  // A quote for another challenge (a replay of an old quote).
  const kms::AttestationChallenge old = kms::AttestationChallenge::For(
      std::vector<std::uint8_t>(32, 3), std::vector<std::uint8_t>(32, 4));
  absl::StatusOr<AttestedService::Session> replayed =
      kms.Attest(kms::v1::EVIDENCE_TYPE_TPM,
                 [&](const kms::AttestationChallenge&) { return TpmEvidenceFor(node_ak, old); });
  EXPECT_EQ(replayed.status().code(), absl::StatusCode::kUnauthenticated);

  // NONE evidence without the insecure flag.
  absl::StatusOr<AttestedService::Session> none =
      kms.Attest(kms::v1::EVIDENCE_TYPE_NONE, [&](const kms::AttestationChallenge& c) {
        const std::vector<std::uint8_t> e = kms::NoneVerifier::MakeEvidence(c.binding, "node/x");
        return std::string(e.begin(), e.end());
      });
  EXPECT_EQ(none.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(AttestationVerifierTest, APolicyChangeAppliesToTheNextCallOfALiveSession) {
  absl::StatusOr<AttestedService::Session> controller = AttestTpm(controller_ak);
  absl::StatusOr<AttestedService::Session> node = AttestTpm(node_ak);
  ASSERT_TRUE(controller.ok() && node.ok());
  ASSERT_TRUE(kms.Create(*controller, "pvc-gold", {{"tier", "gold"}}).ok());
  ASSERT_TRUE(kms.Fetch(*node, "pvc-gold").ok());
  // The officer drops the node rule: the live session loses access at once.
  std::string narrowed = PolicyYaml(controller_ak, node_ak);
  narrowed = absl::StrReplaceAll(narrowed, {{"  - name: vtpm-workers", "  - name: retired"}});
  ASSERT_TRUE(kms.SetPolicy(narrowed).ok());
  EXPECT_EQ(kms.Fetch(*node, "pvc-gold").status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(AttestationVerifierTest, SnpGuestsAreJudgedByMeasurementAndDebug) {
  absl::StatusOr<AttestedService::Session> good =
      kms.Attest(kms::v1::EVIDENCE_TYPE_SEV_SNP,
                 [](const kms::AttestationChallenge& c) { return SnpEvidenceFor(c, 0x11); });
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_THAT(good->identity, HasSubstr("node/snp-workers@"));
  const kms::AuditEntry attested = kms.Audit().back();
  EXPECT_EQ(attested.event.details.at("measurement"), std::string(96, '1'));
  EXPECT_EQ(attested.event.details.at("product"), "Milan");

  absl::StatusOr<AttestedService::Session> other =
      kms.Attest(kms::v1::EVIDENCE_TYPE_SEV_SNP,
                 [](const kms::AttestationChallenge& c) { return SnpEvidenceFor(c, 0x22); });
  EXPECT_EQ(other.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(other.status().message(), HasSubstr("measurement"));
  absl::StatusOr<AttestedService::Session> debug = kms.Attest(
      kms::v1::EVIDENCE_TYPE_SEV_SNP,
      [](const kms::AttestationChallenge& c) { return SnpEvidenceFor(c, 0x11, /*debug=*/true); });
  EXPECT_EQ(debug.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(debug.status().message(), HasSubstr("debug"));
  // A report bound to another challenge.
  const kms::AttestationChallenge old = kms::AttestationChallenge::For(
      std::vector<std::uint8_t>(32, 5), std::vector<std::uint8_t>(32, 6));
  absl::StatusOr<AttestedService::Session> replayed =
      kms.Attest(kms::v1::EVIDENCE_TYPE_SEV_SNP,
                 [&](const kms::AttestationChallenge&) { return SnpEvidenceFor(old, 0x11); });
  EXPECT_EQ(replayed.status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(AttestationVerifierNoPolicyTest, WithoutAPolicyEveryAttestedGuestIsRefused) {
  AttestedService kms;
  const tpm_test::FakeAk ak = tpm_test::MakeFakeAk();
  absl::StatusOr<AttestedService::Session> refused =
      kms.Attest(kms::v1::EVIDENCE_TYPE_TPM,
                 [&](const kms::AttestationChallenge& c) { return TpmEvidenceFor(ak, c); });
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), HasSubstr("cloakctl policy set"));
}

TEST(AttestationVerifierNoPolicyTest, AnInvalidPolicyIsRefusedWholeAndAudited) {
  AttestedService kms;
  kms::v1::SetPolicyRequest request;
  request.set_name("attestation");
  request.set_document(R"({"version": 1, "tpm": {"pcrs": {"7": ["zz"]}}, "rules": []})");
  kms::v1::Policy stored;
  const absl::Status refused = kms.admin->DoSetPolicy(request, &stored);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("refused whole"));
  EXPECT_EQ(kms.h.store.GetPolicy("attestation", 0).status().code(), absl::StatusCode::kNotFound);
  const kms::AuditEntry last = kms.Audit().back();
  EXPECT_EQ(last.event.action, "SetPolicy");
  EXPECT_EQ(last.event.outcome, "INVALID_ARGUMENT");
}

}  // namespace
}  // namespace cloak::attest
