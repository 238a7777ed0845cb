// KeyService: TPM attestation key enrollment (BeginAkEnrollment, CompleteAkEnrollment).
// The checks and the binding record are the AkEnroller's; here are the request limits,
// the audit of refusals and the logs. Neither RPC needs a session: enrollment is what
// makes a later Attest with the AK possible.

#include "common/grpc_status.h"
#include "common/status.h"
#include "fmt/format.h"
#include "kms/service/key_service.h"
#include "kms/service/request_validation.h"

namespace cloak::kms {
namespace {

// A TPMT_PUBLIC is at most a few hundred bytes (RSA 4096: about 600); EK certificates
// are 1-2 KiB. Generous bounds that still stop a caller from making the service parse
// megabytes before anything is checked.
constexpr std::size_t kMaxTpmPublicBytes = 2048;
constexpr std::size_t kMaxEkCertificateBytes = 16 * 1024;
constexpr std::size_t kMaxCredentialSecretBytes = 64;

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

absl::Status EnrollmentDisabled() {
  return absl::FailedPreconditionError(
      "TPM attestation key enrollment is not enabled on this key service: configure "
      "attestation.tpm.ek_ca_files, or pin the AK in the policy's tpm.trusted_aks");
}

// The audit actor of an enrollment: the AK it is about, or "unattested" before the AK
// is known to be well-formed.
std::string EnrollmentActor(const std::string& ak_fingerprint) {
  if (ak_fingerprint.size() < 16) return "unattested";
  return "tpm-ak@" + ak_fingerprint.substr(0, 16);
}

}  // namespace

grpc::Status KeyServiceImpl::BeginAkEnrollment(grpc::ServerContext*,
                                               const v1::BeginAkEnrollmentRequest* request,
                                               v1::BeginAkEnrollmentResponse* response) {
  return ToGrpcStatus(DoBeginAkEnrollment(*request, response));
}

grpc::Status KeyServiceImpl::CompleteAkEnrollment(grpc::ServerContext*,
                                                  const v1::CompleteAkEnrollmentRequest* request,
                                                  v1::CompleteAkEnrollmentResponse* response) {
  return ToGrpcStatus(DoCompleteAkEnrollment(*request, response));
}

absl::Status KeyServiceImpl::RefuseEnrollment(std::string_view rpc, const absl::Status& refusal) {
  // A refused EK certificate or credential secret is an attempt worth a trace; malformed
  // requests and a disabled policy are the caller's configuration and only logged.
  if (refusal.code() == absl::StatusCode::kPermissionDenied) {
    (void)ctx_.store->AppendAudit(
        AuditEvent{.actor = "unattested",
                   .action = std::string(rpc),
                   .volume_id = "",
                   .outcome = OutcomeName(refusal),
                   .details = {{"tee", "tpm"}, {"refused", std::string(refusal.message())}}});
  }
  LogOutcome(rpc, "", "", refusal);
  return refusal;
}

absl::Status KeyServiceImpl::DoBeginAkEnrollment(const v1::BeginAkEnrollmentRequest& request,
                                                 v1::BeginAkEnrollmentResponse* response) {
  RETURN_IF_ERROR(ValidateBoundedSize(Bytes(request.ak_public()), kMaxTpmPublicBytes, "ak_public",
                                      "a marshalled TPMT_PUBLIC"));
  RETURN_IF_ERROR(ValidateBoundedSize(Bytes(request.ek_public()), kMaxTpmPublicBytes, "ek_public",
                                      "a marshalled TPMT_PUBLIC"));
  RETURN_IF_ERROR(ValidateBoundedSize(Bytes(request.ek_certificate()), kMaxEkCertificateBytes,
                                      "ek_certificate", "a DER X.509 certificate"));
  if (ctx_.ak_enroller == nullptr) return EnrollmentDisabled();

  absl::StatusOr<AkEnrollmentOffer> offer = ctx_.ak_enroller->Begin(
      AkEnrollmentRequest{.ak_public = Bytes(request.ak_public()),
                          .ek_public = Bytes(request.ek_public()),
                          .ek_certificate = Bytes(request.ek_certificate())});
  if (!offer.ok()) return RefuseEnrollment("BeginAkEnrollment", offer.status());
  response->set_enrollment_id(std::string(offer->id.begin(), offer->id.end()));
  response->set_credential_blob(
      std::string(offer->credential_blob.begin(), offer->credential_blob.end()));
  response->set_encrypted_secret(
      std::string(offer->encrypted_secret.begin(), offer->encrypted_secret.end()));
  response->set_expires_at_unix_ms(absl::ToUnixMillis(offer->expires_at));
  response->set_ak_fingerprint(offer->ak_fingerprint);
  LogOutcome("BeginAkEnrollment", EnrollmentActor(offer->ak_fingerprint), "", absl::OkStatus());
  return absl::OkStatus();
}

absl::Status KeyServiceImpl::DoCompleteAkEnrollment(const v1::CompleteAkEnrollmentRequest& request,
                                                    v1::CompleteAkEnrollmentResponse* response) {
  RETURN_IF_ERROR(
      ValidateFixedSize(Bytes(request.enrollment_id()), kEnrollmentIdSize, "enrollment_id"));
  RETURN_IF_ERROR(ValidateBoundedSize(Bytes(request.secret()), kMaxCredentialSecretBytes, "secret",
                                      "the secret TPM2_ActivateCredential returned"));
  if (ctx_.ak_enroller == nullptr) return EnrollmentDisabled();

  EnrollmentId id;
  std::copy(request.enrollment_id().begin(), request.enrollment_id().end(), id.begin());
  absl::StatusOr<AkEnrollmentResult> result =
      ctx_.ak_enroller->Complete(id, Bytes(request.secret()));
  if (!result.ok()) return RefuseEnrollment("CompleteAkEnrollment", result.status());
  const std::string actor = EnrollmentActor(result->ak_fingerprint);
  if (!result->newly_bound) {
    // A new binding is audited with its store write; a repeated one leaves a trace here.
    RETURN_IF_ERROR(
        ctx_.store
            ->AppendAudit(AuditEvent{.actor = actor,
                                     .action = "CompleteAkEnrollment",
                                     .volume_id = "",
                                     .outcome = "ok",
                                     .details = {{"tee", "tpm"},
                                                 {"ak_fingerprint", result->ak_fingerprint},
                                                 {"ek_fingerprint", result->ek_fingerprint},
                                                 {"already_bound", "true"}}})
            .status());
  }
  response->set_ak_fingerprint(result->ak_fingerprint);
  response->set_ek_fingerprint(result->ek_fingerprint);
  response->set_ek_subject(result->ek_subject);
  response->set_newly_bound(result->newly_bound);
  LogOutcome("CompleteAkEnrollment", actor, "", absl::OkStatus());
  return absl::OkStatus();
}

}  // namespace cloak::kms
