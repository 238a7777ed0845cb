// KeyService: the handler edges, Challenge, Attest and the shared helpers. The volume
// operations are in key_service_volumes.cc.

#include "kms/service/key_service.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status.h"
#include "crypt/volume_record.h"
#include "kms/service/request_validation.h"

namespace cloak::kms {
namespace {

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

absl::StatusOr<EvidenceType> FromProto(v1::EvidenceType type) {
  switch (type) {
    case v1::EVIDENCE_TYPE_TPM:
      return EvidenceType::kTpm;
    case v1::EVIDENCE_TYPE_SEV_SNP:
      return EvidenceType::kSevSnp;
    case v1::EVIDENCE_TYPE_TDX:
      return EvidenceType::kTdx;
    case v1::EVIDENCE_TYPE_NONE:
      return EvidenceType::kNone;
    default:
      return absl::InvalidArgumentError("evidence_type: must be one of TPM, SEV_SNP, TDX, NONE");
  }
}

}  // namespace

std::string OutcomeName(const absl::Status& status) {
  if (status.ok()) return "ok";
  return absl::StatusCodeToString(status.code());
}

absl::StatusOr<std::string> RenderVolumeRecord(const Volume& volume) {
  auto record = crypt::ParseVolumeRecord(volume.record_json);
  if (!record.ok()) {
    return absl::InternalError(
        absl::StrCat("volume ", volume.volume_id,
                     ": the stored volume record does not parse: ", record.status().message()));
  }
  record->state = volume.state == VolumeState::kFormatted ? crypt::VolumeState::kFormatted
                                                          : crypt::VolumeState::kCreated;
  record->key_version = volume.key_version;
  return crypt::SerializeVolumeRecord(*record);
}

// --- handler edges: the one place absl::Status becomes a gRPC status ---

grpc::Status KeyServiceImpl::Challenge(grpc::ServerContext*, const v1::ChallengeRequest*,
                                       v1::ChallengeResponse* response) {
  return ToGrpcStatus(DoChallenge(response));
}
grpc::Status KeyServiceImpl::Attest(grpc::ServerContext*, const v1::AttestRequest* request,
                                    v1::AttestResponse* response) {
  return ToGrpcStatus(DoAttest(*request, response));
}
grpc::Status KeyServiceImpl::CreateVolumeKey(grpc::ServerContext*,
                                             const v1::CreateVolumeKeyRequest* request,
                                             v1::CreateVolumeKeyResponse* response) {
  return ToGrpcStatus(DoCreateVolumeKey(*request, response));
}
grpc::Status KeyServiceImpl::GetVolumeKey(grpc::ServerContext*,
                                          const v1::GetVolumeKeyRequest* request,
                                          v1::GetVolumeKeyResponse* response) {
  return ToGrpcStatus(DoGetVolumeKey(*request, response));
}
grpc::Status KeyServiceImpl::ReportVolumeState(grpc::ServerContext*,
                                               const v1::ReportVolumeStateRequest* request,
                                               v1::ReportVolumeStateResponse* response) {
  return ToGrpcStatus(DoReportVolumeState(*request, response));
}
grpc::Status KeyServiceImpl::DestroyVolumeKey(grpc::ServerContext*,
                                              const v1::DestroyVolumeKeyRequest* request,
                                              v1::DestroyVolumeKeyResponse*) {
  return ToGrpcStatus(DoDestroyVolumeKey(*request));
}
grpc::Status KeyServiceImpl::CloneVolumeKey(grpc::ServerContext*,
                                            const v1::CloneVolumeKeyRequest* request,
                                            v1::CloneVolumeKeyResponse* response) {
  return ToGrpcStatus(DoCloneVolumeKey(*request, response));
}

// --- Challenge and Attest ---

absl::Status KeyServiceImpl::DoChallenge(v1::ChallengeResponse* response) {
  ASSIGN_OR_RETURN(IssuedNonce issued, ctx_.nonces->Issue());
  response->set_nonce(std::string(issued.nonce.begin(), issued.nonce.end()));
  response->set_expires_at_unix_ms(absl::ToUnixMillis(issued.expires_at));
  return absl::OkStatus();
}

absl::Status KeyServiceImpl::DoAttest(const v1::AttestRequest& request,
                                      v1::AttestResponse* response) {
  RETURN_IF_ERROR(ValidateFixedSize(Bytes(request.nonce()), kNonceSize, "nonce"));
  RETURN_IF_ERROR(ValidateFixedSize(Bytes(request.ephemeral_public_key()), kX25519KeySize,
                                    "ephemeral_public_key"));
  ASSIGN_OR_RETURN(EvidenceType type, FromProto(request.evidence_type()));
  RETURN_IF_ERROR(ValidateEvidence(Bytes(request.evidence())));

  // Single use: the nonce is gone whatever the verdict.
  if (absl::Status s = ctx_.nonces->Consume(Bytes(request.nonce())); !s.ok()) {
    LogOutcome("Attest", "", "", s);
    return s;
  }
  const AttestationChallenge challenge =
      AttestationChallenge::For(Bytes(request.nonce()), Bytes(request.ephemeral_public_key()));
  absl::StatusOr<Claims> claims = ctx_.verifier->Verify(type, Bytes(request.evidence()), challenge);
  absl::StatusOr<Role> role = !claims.ok()              ? absl::StatusOr<Role>(claims.status())
                              : !claims->admission.ok() ? absl::StatusOr<Role>(claims->admission)
                                                        : ctx_.authorizer->RoleFor(*claims);
  SessionToken session;
  session.identity = claims.ok() ? claims->identity : "unattested";
  AuditEvent event{.actor = session.identity.empty() ? "unattested" : session.identity,
                   .action = "Attest",
                   .volume_id = "",
                   .outcome = OutcomeName(role.status()),
                   .details = {{"tee", std::string(EvidenceTypeName(type))}}};
  if (claims.ok()) {
    event.details.insert(claims->audit_details.begin(), claims->audit_details.end());
    if (!claims->admission.ok())
      event.details["refused"] = std::string(claims->admission.message());
  }
  if (!role.ok()) {
    (void)ctx_.store->AppendAudit(event);
    LogOutcome("Attest", session.identity, "", role.status());
    return role.status();
  }
  session.role = *role;
  session.binding = challenge.binding;
  session.tee = claims->tee_type;
  session.claims_digest = ClaimsDigest(*claims);
  event.details["claims_digest"] = absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(session.claims_digest.data()), session.claims_digest.size()));
  std::copy(request.ephemeral_public_key().begin(), request.ephemeral_public_key().end(),
            session.ephemeral_public_key.begin());
  SessionToken issued;
  ASSIGN_OR_RETURN(std::vector<std::uint8_t> token, ctx_.tokens->Issue(session, &issued));
  event.details["session"] = issued.IdHex();
  event.details["role"] = std::string(RoleName(issued.role));
  RETURN_IF_ERROR(ctx_.store->AppendAudit(event).status());
  response->set_session_token(std::string(token.begin(), token.end()));
  response->set_expires_at_unix_ms(absl::ToUnixMillis(issued.expires_at));
  response->set_identity(issued.identity);
  response->set_role(issued.role == Role::kNode ? v1::ROLE_NODE : v1::ROLE_CONTROLLER);
  LogOutcome("Attest", issued.identity, "", absl::OkStatus());
  return absl::OkStatus();
}

// --- shared helpers ---

absl::StatusOr<SessionToken> KeyServiceImpl::Authenticate(const std::string& token_bytes) {
  if (token_bytes.empty()) {
    return absl::UnauthenticatedError("session_token: required; call Challenge and Attest first");
  }
  absl::StatusOr<SessionToken> session = ctx_.tokens->Verify(Bytes(token_bytes));
  if (!session.ok()) LogOutcome("Authenticate", "", "", session.status());
  return session;
}

absl::Status KeyServiceImpl::AuthorizeAudited(const SessionToken& session, Operation operation,
                                              const std::string& volume_id, const Labels& labels) {
  absl::Status allowed = ctx_.authorizer->Allow(AccessRequest{.identity = session.identity,
                                                              .role = session.role,
                                                              .operation = operation,
                                                              .volume_id = volume_id,
                                                              .labels = &labels});
  if (!allowed.ok()) {
    (void)Audit(session, operation, volume_id, allowed);
    LogOutcome(OperationName(operation), session.identity, volume_id, allowed);
  }
  return allowed;
}

absl::Status KeyServiceImpl::Audit(const SessionToken& session, Operation operation,
                                   const std::string& volume_id, const absl::Status& outcome,
                                   std::map<std::string, std::string> details) {
  details["session"] = session.IdHex();
  AuditEvent event{.actor = session.identity,
                   .action = std::string(OperationName(operation)),
                   .volume_id = volume_id,
                   .outcome = OutcomeName(outcome),
                   .details = std::move(details)};
  absl::Status appended = ctx_.store->AppendAudit(event).status();
  if (!appended.ok() && ctx_.logger) {
    ctx_.logger->Error("audit append failed", {{"action", event.action},
                                               {"volume_id", volume_id},
                                               {"error", std::string(appended.message())}});
  }
  return appended;
}

void KeyServiceImpl::LogOutcome(std::string_view rpc, const std::string& identity,
                                const std::string& volume_id, const absl::Status& status) {
  if (!ctx_.logger) return;
  LogFields fields{{"rpc", std::string(rpc)}, {"code", OutcomeName(status)}};
  if (!identity.empty()) fields.emplace_back("identity", identity);
  if (!volume_id.empty()) fields.emplace_back("volume_id", volume_id);
  if (status.ok()) {
    ctx_.logger->Info("key service call", fields);
  } else {
    fields.emplace_back("error", std::string(status.message()));
    ctx_.logger->Warn("key service call refused", fields);
  }
}

}  // namespace cloak::kms
