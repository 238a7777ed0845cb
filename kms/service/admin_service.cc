#include "kms/service/admin_service.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status.h"
#include "kms/service/request_validation.h"
#include "kms/store/validation.h"
#include "nlohmann/json.hpp"

namespace cloak::kms {
namespace {

v1::VolumeState ToProto(VolumeState state) {
  switch (state) {
    case VolumeState::kCreated:
      return v1::VOLUME_STATE_CREATED;
    case VolumeState::kFormatted:
      return v1::VOLUME_STATE_FORMATTED;
    case VolumeState::kDestroyed:
      return v1::VOLUME_STATE_DESTROYED;
  }
  return v1::VOLUME_STATE_UNSPECIFIED;
}

// Everything an operator may see; wrapped_dek is deliberately not copied.
void FillInfo(const Volume& volume, v1::VolumeInfo* info) {
  info->set_volume_id(volume.volume_id);
  info->set_state(ToProto(volume.state));
  info->set_key_version(volume.key_version);
  info->set_kek_version(volume.kek_version);
  info->set_key_id(volume.key_id);
  info->set_source_volume_id(volume.source_volume_id);
  info->mutable_labels()->insert(volume.labels.begin(), volume.labels.end());
  info->set_record_json(volume.record_json);
  info->set_created_at_unix_ms(absl::ToUnixMillis(volume.created_at));
  info->set_updated_at_unix_ms(absl::ToUnixMillis(volume.updated_at));
  info->set_revision(volume.revision);
}

void FillRotation(const RotationProgress& progress, const KekProvider& keks,
                  v1::RotationStatus* status) {
  switch (progress.state) {
    case RotationState::kRunning:
      status->set_state(v1::RotationStatus::STATE_RUNNING);
      break;
    case RotationState::kCompleted:
      status->set_state(v1::RotationStatus::STATE_COMPLETED);
      break;
    case RotationState::kFailed:
      status->set_state(v1::RotationStatus::STATE_FAILED);
      break;
  }
  status->set_target_kek_version(progress.target_kek_version);
  status->set_done(progress.done);
  status->set_total(progress.total);
  status->set_started_at_unix_ms(absl::ToUnixMillis(progress.started_at));
  status->set_updated_at_unix_ms(absl::ToUnixMillis(progress.updated_at));
  for (const KekVersionInfo& info : keks.Versions()) {
    if (info.state == KekState::kRetired) status->add_retired_kek_versions(info.version);
  }
}

absl::Status ValidatePolicyName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError("name: 1..64 characters of A-Z a-z 0-9 . _ - required");
  }
  return ValidateServiceVolumeId(name, "name");  // the same charset
}

}  // namespace

grpc::Status AdminServiceImpl::ListVolumes(grpc::ServerContext*,
                                           const v1::ListVolumesRequest* request,
                                           v1::ListVolumesResponse* response) {
  return ToGrpcStatus(DoListVolumes(*request, response));
}
grpc::Status AdminServiceImpl::GetVolume(grpc::ServerContext*, const v1::GetVolumeRequest* request,
                                         v1::VolumeInfo* response) {
  return ToGrpcStatus(DoGetVolume(*request, response));
}
grpc::Status AdminServiceImpl::RotateKek(grpc::ServerContext*, const v1::RotateKekRequest*,
                                         v1::RotationStatus* response) {
  return ToGrpcStatus(DoRotateKek(response));
}
grpc::Status AdminServiceImpl::GetRotationStatus(grpc::ServerContext*,
                                                 const v1::GetRotationStatusRequest*,
                                                 v1::RotationStatus* response) {
  return ToGrpcStatus(DoGetRotationStatus(response));
}
grpc::Status AdminServiceImpl::GetPolicy(grpc::ServerContext*, const v1::GetPolicyRequest* request,
                                         v1::Policy* response) {
  return ToGrpcStatus(DoGetPolicy(*request, response));
}
grpc::Status AdminServiceImpl::SetPolicy(grpc::ServerContext*, const v1::SetPolicyRequest* request,
                                         v1::Policy* response) {
  return ToGrpcStatus(DoSetPolicy(*request, response));
}
grpc::Status AdminServiceImpl::ListAudit(grpc::ServerContext*, const v1::ListAuditRequest* request,
                                         v1::ListAuditResponse* response) {
  return ToGrpcStatus(DoListAudit(*request, response));
}
grpc::Status AdminServiceImpl::Health(grpc::ServerContext*, const v1::HealthRequest*,
                                      v1::HealthResponse* response) {
  return ToGrpcStatus(DoHealth(response));
}

absl::Status AdminServiceImpl::AuditRead(std::string action, std::string volume_id) {
  return ctx_.store
      ->AppendAudit(AuditEvent{.actor = ctx_.actor,
                               .action = std::move(action),
                               .volume_id = std::move(volume_id),
                               .outcome = "ok",
                               .details = {}})
      .status();
}

absl::Status AdminServiceImpl::DoListVolumes(const v1::ListVolumesRequest& request,
                                             v1::ListVolumesResponse* response) {
  ASSIGN_OR_RETURN(VolumePage page,
                   ctx_.store->ListVolumes(ListVolumesRequest{.page_size = request.page_size(),
                                                              .page_token = request.page_token()}));
  for (const Volume& volume : page.volumes) FillInfo(volume, response->add_volumes());
  response->set_next_page_token(page.next_page_token);
  return AuditRead("ListVolumes");
}

absl::Status AdminServiceImpl::DoGetVolume(const v1::GetVolumeRequest& request,
                                           v1::VolumeInfo* response) {
  RETURN_IF_ERROR(ValidateVolumeId(request.volume_id(), "volume_id"));
  absl::StatusOr<Volume> volume = ctx_.store->GetVolume(request.volume_id());
  if (volume.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(absl::StrCat("volume ", request.volume_id(), ": unknown"));
  }
  RETURN_IF_ERROR(volume.status());
  FillInfo(*volume, response);
  return AuditRead("GetVolume", request.volume_id());
}

absl::Status AdminServiceImpl::DoRotateKek(v1::RotationStatus* response) {
  ASSIGN_OR_RETURN(RotationProgress progress, ctx_.rotator->Start());
  if (ctx_.run_in_background) {
    KekRotator* rotator = ctx_.rotator;
    ctx_.run_in_background([rotator] { (void)rotator->RunToCompletion(); });
  } else {
    ASSIGN_OR_RETURN(progress, ctx_.rotator->RunToCompletion());
  }
  FillRotation(progress, *ctx_.keks, response);
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoGetRotationStatus(v1::RotationStatus* response) {
  absl::StatusOr<RotationProgress> progress = ctx_.store->GetRotationProgress();
  if (progress.status().code() == absl::StatusCode::kNotFound) {
    response->set_state(v1::RotationStatus::STATE_UNSPECIFIED);
    response->set_target_kek_version(ctx_.keks->CurrentVersion());
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(progress.status());
  FillRotation(*progress, *ctx_.keks, response);
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoGetPolicy(const v1::GetPolicyRequest& request,
                                           v1::Policy* response) {
  RETURN_IF_ERROR(ValidatePolicyName(request.name()));
  if (request.version() < 0) return absl::InvalidArgumentError("version: must be >= 0");
  ASSIGN_OR_RETURN(PolicyRecord record, ctx_.store->GetPolicy(request.name(), request.version()));
  response->set_name(record.name);
  response->set_version(record.version);
  response->set_document(record.document);
  response->set_created_at_unix_ms(absl::ToUnixMillis(record.created_at));
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoSetPolicy(const v1::SetPolicyRequest& request,
                                           v1::Policy* response) {
  RETURN_IF_ERROR(ValidatePolicyName(request.name()));
  if (request.expected_version() < 0) {
    return absl::InvalidArgumentError("expected_version: must be >= 0");
  }
  const nlohmann::json parsed = nlohmann::json::parse(request.document(), nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return absl::InvalidArgumentError("document: must be a JSON object");
  }
  if (ctx_.check_policy) {
    if (absl::Status checked = ctx_.check_policy(request.name(), request.document());
        !checked.ok()) {
      const absl::Status refused = absl::InvalidArgumentError(
          absl::StrCat("document: policy ", request.name(),
                       " refused whole, nothing stored: ", checked.message()));
      (void)ctx_.store->AppendAudit(AuditEvent{
          .actor = ctx_.actor,
          .action = "SetPolicy",
          .volume_id = "",
          .outcome = "INVALID_ARGUMENT",
          .details = {{"policy", request.name()}, {"error", std::string(checked.message())}}});
      return refused;
    }
  }
  ASSIGN_OR_RETURN(
      PolicyRecord record,
      ctx_.store->PutPolicy(request.name(), request.document(), request.expected_version(),
                            AuditEvent{.actor = ctx_.actor,
                                       .action = "SetPolicy",
                                       .volume_id = "",
                                       .outcome = "ok",
                                       .details = {{"policy", request.name()}}}));
  if (ctx_.policy_stored) ctx_.policy_stored(record.name);
  response->set_name(record.name);
  response->set_version(record.version);
  response->set_document(record.document);
  response->set_created_at_unix_ms(absl::ToUnixMillis(record.created_at));
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoListAudit(const v1::ListAuditRequest& request,
                                           v1::ListAuditResponse* response) {
  if (request.limit() < 0) return absl::InvalidArgumentError("limit: must be >= 0");
  ASSIGN_OR_RETURN(std::vector<AuditEntry> entries,
                   ctx_.store->ListAudit(request.from_sequence(), request.limit()));
  for (const AuditEntry& entry : entries) {
    v1::AuditEntry* out = response->add_entries();
    out->set_sequence(entry.sequence);
    out->set_time_unix_us(absl::ToUnixMicros(entry.time));
    out->set_actor(entry.event.actor);
    out->set_action(entry.event.action);
    out->set_volume_id(entry.event.volume_id);
    out->set_outcome(entry.event.outcome);
    out->mutable_details()->insert(entry.event.details.begin(), entry.event.details.end());
    out->set_prev_hash(std::string(entry.prev_hash.begin(), entry.prev_hash.end()));
    out->set_hash(std::string(entry.hash.begin(), entry.hash.end()));
  }
  return absl::OkStatus();
}

absl::Status AdminServiceImpl::DoHealth(v1::HealthResponse* response) {
  response->set_current_kek_version(ctx_.keks->CurrentVersion());
  response->set_store(ctx_.description.store);
  response->set_kek_provider(ctx_.description.kek_provider);
  for (const std::string& type : ctx_.description.evidence_types) {
    response->add_attestation_types(type);
  }
  response->set_insecure_allow_unattested(ctx_.description.insecure_allow_unattested);
  absl::StatusOr<std::vector<AuditEntry>> probe = ctx_.store->ListAudit(0, 1);
  if (!probe.ok()) {
    response->set_serving(false);
    response->set_message(std::string(probe.status().message()));
    return absl::UnavailableError(absl::StrCat("key store: ", probe.status().message()));
  }
  absl::StatusOr<RotationProgress> rotation = ctx_.store->GetRotationProgress();
  if (rotation.ok()) {
    v1::RotationStatus status;
    FillRotation(*rotation, *ctx_.keks, &status);
    response->set_rotation_state(status.state());
  }
  response->set_serving(true);
  response->set_message("ok");
  return absl::OkStatus();
}

}  // namespace cloak::kms
