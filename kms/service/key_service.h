#pragma once

// KeyServiceImpl: the gRPC KeyService (kms/proto/kms.proto, docs/kms.md). Attested node
// and controller plugins get challenges, session tokens and volume keys here. Handlers
// work with absl::Status and map to gRPC codes once, at the edge (ToGrpcStatus).

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "common/logging.h"
#include "kms/crypto/kek_provider.h"
#include "kms/proto/kms.grpc.pb.h"
#include "kms/service/ak_enroller.h"
#include "kms/service/authorizer.h"
#include "kms/service/evidence_verifier.h"
#include "kms/service/nonce_table.h"
#include "kms/service/session_tokens.h"
#include "kms/store/clock.h"
#include "kms/store/key_store.h"
#include "kms/store/volume.h"

namespace cloak::kms {

// What the key service works with; every pointer must outlive the service. `logger` may
// be null (nothing is logged); `ak_enroller` may be null (AK enrollment is refused with
// FAILED_PRECONDITION: no EK CA is configured).
struct KeyServiceContext {
  KeyStore* store = nullptr;
  KekProvider* keks = nullptr;
  EvidenceVerifier* verifier = nullptr;
  Authorizer* authorizer = nullptr;
  SessionTokens* tokens = nullptr;
  NonceTable* nonces = nullptr;
  const Clock* clock = nullptr;
  std::shared_ptr<Logger> logger;
  AkEnroller* ak_enroller = nullptr;
};

class KeyServiceImpl final : public v1::KeyService::Service {
 public:
  explicit KeyServiceImpl(KeyServiceContext context) : ctx_(std::move(context)) {}

  grpc::Status Challenge(grpc::ServerContext*, const v1::ChallengeRequest* request,
                         v1::ChallengeResponse* response) override;
  grpc::Status Attest(grpc::ServerContext*, const v1::AttestRequest* request,
                      v1::AttestResponse* response) override;
  grpc::Status CreateVolumeKey(grpc::ServerContext*, const v1::CreateVolumeKeyRequest* request,
                               v1::CreateVolumeKeyResponse* response) override;
  grpc::Status GetVolumeKey(grpc::ServerContext*, const v1::GetVolumeKeyRequest* request,
                            v1::GetVolumeKeyResponse* response) override;
  grpc::Status ReportVolumeState(grpc::ServerContext*, const v1::ReportVolumeStateRequest* request,
                                 v1::ReportVolumeStateResponse* response) override;
  grpc::Status DestroyVolumeKey(grpc::ServerContext*, const v1::DestroyVolumeKeyRequest* request,
                                v1::DestroyVolumeKeyResponse* response) override;
  grpc::Status CloneVolumeKey(grpc::ServerContext*, const v1::CloneVolumeKeyRequest* request,
                              v1::CloneVolumeKeyResponse* response) override;
  grpc::Status BeginAkEnrollment(grpc::ServerContext*, const v1::BeginAkEnrollmentRequest* request,
                                 v1::BeginAkEnrollmentResponse* response) override;
  grpc::Status CompleteAkEnrollment(grpc::ServerContext*,
                                    const v1::CompleteAkEnrollmentRequest* request,
                                    v1::CompleteAkEnrollmentResponse* response) override;

  // The same operations with absl::Status, for in-process callers and tests.
  absl::Status DoChallenge(v1::ChallengeResponse* response);
  absl::Status DoAttest(const v1::AttestRequest& request, v1::AttestResponse* response);
  absl::Status DoCreateVolumeKey(const v1::CreateVolumeKeyRequest& request,
                                 v1::CreateVolumeKeyResponse* response);
  absl::Status DoGetVolumeKey(const v1::GetVolumeKeyRequest& request,
                              v1::GetVolumeKeyResponse* response);
  absl::Status DoReportVolumeState(const v1::ReportVolumeStateRequest& request,
                                   v1::ReportVolumeStateResponse* response);
  absl::Status DoDestroyVolumeKey(const v1::DestroyVolumeKeyRequest& request);
  absl::Status DoCloneVolumeKey(const v1::CloneVolumeKeyRequest& request,
                                v1::CloneVolumeKeyResponse* response);
  absl::Status DoBeginAkEnrollment(const v1::BeginAkEnrollmentRequest& request,
                                   v1::BeginAkEnrollmentResponse* response);
  absl::Status DoCompleteAkEnrollment(const v1::CompleteAkEnrollmentRequest& request,
                                      v1::CompleteAkEnrollmentResponse* response);

 private:
  // The verified token, with its role allowed to do `operation` on `volume_id`.
  // UNAUTHENTICATED / PERMISSION_DENIED (the denial is audited and logged).
  absl::StatusOr<SessionToken> Authenticate(const std::string& token_bytes);
  // The stored labels of `volume_id`; empty when it is unknown or unreadable (then the
  // operation itself answers NOT_FOUND or UNAVAILABLE).
  Labels StoredLabels(const std::string& volume_id);
  // Asks the authorizer about `operation` on `volume_id` with `labels` (see
  // AccessRequest); a refusal is audited and logged.
  absl::Status AuthorizeAudited(const SessionToken& session, Operation operation,
                                const std::string& volume_id, const Labels& labels);
  // Appends a no-mutation audit event; logs a warning when the store refuses it.
  absl::Status Audit(const SessionToken& session, Operation operation, const std::string& volume_id,
                     const absl::Status& outcome, std::map<std::string, std::string> details = {});
  // Audits (PERMISSION_DENIED only) and logs a refused enrollment step; returns `refusal`.
  absl::Status RefuseEnrollment(std::string_view rpc, const absl::Status& refusal);
  void LogOutcome(std::string_view rpc, const std::string& identity, const std::string& volume_id,
                  const absl::Status& status);

  KeyServiceContext ctx_;
};

// The stored record rendered for a caller: the live state and key version of `volume`
// written into its record JSON. INTERNAL when the stored record does not parse.
absl::StatusOr<std::string> RenderVolumeRecord(const Volume& volume);

// "ok" or the canonical code name, for audit outcomes.
std::string OutcomeName(const absl::Status& status);

}  // namespace cloak::kms
