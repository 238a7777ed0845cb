#include "tests/kms/service/service_test_util.h"

#include "common/status.h"
#include "kms/crypto/key_binding.h"
#include "kms/crypto/random.h"
#include "spdlog/sinks/ostream_sink.h"

namespace cloak::kms::kms_test {

std::span<const std::uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string AsString(std::span<const std::uint8_t> bytes) {
  return std::string(bytes.begin(), bytes.end());
}

absl::StatusOr<Claims> TestVerifier::Verify(EvidenceType type,
                                            std::span<const std::uint8_t> evidence,
                                            const AttestationChallenge& challenge) {
  ++calls;
  if (!refusal.ok()) return refusal;
  if (type != EvidenceType::kTpm) return absl::PermissionDeniedError("test verifier: tpm only");
  if (evidence.size() <= kBindingSize ||
      !ConstantTimeEquals(evidence.first(kBindingSize), challenge.binding)) {
    return absl::UnauthenticatedError("test verifier: binding mismatch");
  }
  Claims claims;
  claims.tee_type = EvidenceType::kTpm;
  claims.identity = AsString(evidence.subspan(kBindingSize));
  return claims;
}

ServiceHarness::ServiceHarness() {
  keks = std::move(FileKekProvider::Initialize(dir.File("kek")).value());
  SecretBytes seed = std::move(RandomSecret(kSessionSigningSeedSize).value());
  tokens = std::move(SessionTokens::Create(seed, clock).value());
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*log_stream_);
  auto spd = std::make_shared<spdlog::logger>("kms-test", sink);
  spd->set_level(spdlog::level::trace);
  logger = std::make_shared<Logger>(spd, LogFormat::kText);
  service = std::make_unique<KeyServiceImpl>(KeyServiceContext{.store = &store,
                                                               .keks = keks.get(),
                                                               .verifier = &verifier,
                                                               .authorizer = &authorizer,
                                                               .tokens = tokens.get(),
                                                               .nonces = &nonces,
                                                               .clock = &clock,
                                                               .logger = logger});
}

absl::StatusOr<Session> ServiceHarness::Attest(const std::string& identity) {
  v1::ChallengeResponse challenge;
  RETURN_IF_ERROR(service->DoChallenge(&challenge));
  Session session;
  ASSIGN_OR_RETURN(session.key_pair, HpkeGenerateKeyPair());
  session.binding = ComputeBinding(AsBytes(challenge.nonce()), session.key_pair.public_key);
  v1::AttestRequest request;
  request.set_nonce(challenge.nonce());
  request.set_ephemeral_public_key(AsString(session.key_pair.public_key));
  request.set_evidence_type(v1::EVIDENCE_TYPE_TPM);
  request.set_evidence(AsString(NoneVerifier::MakeEvidence(session.binding, identity)));
  v1::AttestResponse response;
  RETURN_IF_ERROR(service->DoAttest(request, &response));
  session.token = response.session_token();
  return session;
}

absl::Status ServiceHarness::Create(const Session& controller, const std::string& volume_id,
                                    v1::IntegrityMode mode, v1::CreateVolumeKeyResponse* response) {
  v1::CreateVolumeKeyRequest request;
  request.set_session_token(controller.token);
  request.set_volume_id(volume_id);
  request.set_integrity_mode(mode);
  v1::CreateVolumeKeyResponse ignored;
  return service->DoCreateVolumeKey(request, response != nullptr ? response : &ignored);
}

absl::StatusOr<SecretBytes> ServiceHarness::Fetch(const Session& node, const std::string& volume_id,
                                                  v1::GetVolumeKeyResponse* response) {
  v1::GetVolumeKeyRequest request;
  request.set_session_token(node.token);
  request.set_volume_id(volume_id);
  request.set_ephemeral_public_key(AsString(node.key_pair.public_key));
  v1::GetVolumeKeyResponse local;
  v1::GetVolumeKeyResponse* out = response != nullptr ? response : &local;
  RETURN_IF_ERROR(service->DoGetVolumeKey(request, out));
  return HpkeOpen(node.key_pair.private_key, AsBytes(out->sealed_dek_enc()),
                  ReleaseInfo(volume_id, out->key_version()), node.binding,
                  AsBytes(out->sealed_dek()));
}

absl::StatusOr<SecretBytes> ServiceHarness::StoredDek(const std::string& volume_id) {
  ASSIGN_OR_RETURN(Volume volume, store.GetVolumeKey(volume_id));
  return keks->Unwrap(volume.kek_version, volume.wrapped_dek.ciphertext(),
                      WrapAad(volume.key_id, volume.key_version));
}

}  // namespace cloak::kms::kms_test
