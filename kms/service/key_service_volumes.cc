// KeyService: the volume operations (create, release, state, destroy, clone).

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "crypt/volume_record.h"
#include "kms/crypto/hpke.h"
#include "kms/crypto/key_binding.h"
#include "kms/crypto/random.h"
#include "kms/service/key_service.h"
#include "kms/service/request_validation.h"
#include "kms/store/validation.h"

namespace cloak::kms {
namespace {

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

absl::StatusOr<crypt::IntegrityMode> FromProto(v1::IntegrityMode mode) {
  switch (mode) {
    case v1::INTEGRITY_MODE_NONE:
      return crypt::IntegrityMode::kNone;
    case v1::INTEGRITY_MODE_HMAC_SHA256:
      return crypt::IntegrityMode::kHmacSha256;
    case v1::INTEGRITY_MODE_AEAD:
      return crypt::IntegrityMode::kAead;
    default:
      return absl::InvalidArgumentError("integrity_mode: must be one of NONE, HMAC_SHA256, AEAD");
  }
}

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

Labels ToLabels(const google::protobuf::Map<std::string, std::string>& map) {
  return Labels(map.begin(), map.end());
}

// The DEK for `mode`: the LUKS2 volume key size of the record (DESIGN §5).
absl::StatusOr<SecretBytes> NewDek(const crypt::VolumeRecord& record) {
  const std::size_t size = record.volume_key_bytes();
  if (size == kDekSize || size == kDekSizeWithHmacIntegrity) return GenerateDek(size);
  return RandomSecret(size);  // aead: a 256-bit aes-gcm-random key
}

// Fills a create or clone response from the stored row.
template <typename Response>
absl::Status FillVolumeResponse(const Volume& volume, Response* response) {
  ASSIGN_OR_RETURN(std::string record, RenderVolumeRecord(volume));
  response->set_volume_id(volume.volume_id);
  response->set_key_version(volume.key_version);
  response->set_state(ToProto(volume.state));
  response->set_record_json(std::move(record));
  return absl::OkStatus();
}

// Whether an existing row answers a create of (mode, labels) identically.
bool SameCreate(const Volume& existing, crypt::IntegrityMode mode, const Labels& labels) {
  if (existing.destroyed() || !existing.source_volume_id.empty()) return false;
  auto record = crypt::ParseVolumeRecord(existing.record_json);
  return record.ok() && record->integrity == mode && existing.labels == labels;
}

}  // namespace

Labels KeyServiceImpl::StoredLabels(const std::string& volume_id) {
  absl::StatusOr<Volume> volume = ctx_.store->GetVolume(volume_id);
  return volume.ok() ? volume->labels : Labels{};
}

absl::Status KeyServiceImpl::DoCreateVolumeKey(const v1::CreateVolumeKeyRequest& request,
                                               v1::CreateVolumeKeyResponse* response) {
  ASSIGN_OR_RETURN(SessionToken session, Authenticate(request.session_token()));
  const std::string& id = request.volume_id();
  RETURN_IF_ERROR(ValidateServiceVolumeId(id, "volume_id"));
  ASSIGN_OR_RETURN(crypt::IntegrityMode mode, FromProto(request.integrity_mode()));
  const Labels labels = ToLabels(request.labels());
  RETURN_IF_ERROR(ValidateLabels(labels));
  RETURN_IF_ERROR(AuthorizeAudited(session, Operation::kCreateKey, id, labels));

  auto conflict = [&](const Volume& existing) -> absl::Status {
    if (SameCreate(existing, mode, labels)) return FillVolumeResponse(existing, response);
    return absl::AlreadyExistsError(
        absl::StrCat("volume ", id, " already exists",
                     existing.destroyed() ? " (destroyed; ids are never reused)" : "",
                     " with other parameters; choose another volume id"));
  };
  // Look first: a repeated create answers from the stored row without a new key.
  absl::StatusOr<Volume> existing = ctx_.store->GetVolume(id);
  if (existing.ok()) return conflict(*existing);
  if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();

  ASSIGN_OR_RETURN(crypt::VolumeRecord record, crypt::DefaultRecord(id, mode));
  ASSIGN_OR_RETURN(SecretBytes dek, NewDek(record));
  NewVolume volume{.volume_id = id,
                   .record_json = crypt::SerializeVolumeRecord(record),
                   .key_version = record.key_version,
                   .kek_version = ctx_.keks->CurrentVersion(),
                   .wrapped_dek = {},
                   .labels = labels};
  ASSIGN_OR_RETURN(std::vector<std::uint8_t> wrapped,
                   ctx_.keks->Wrap(volume.kek_version, dek, WrapAad(id, volume.key_version)));
  dek.Clear();
  volume.wrapped_dek = WrappedKey(std::move(wrapped));
  AuditEvent event{.actor = session.identity,
                   .action = "CreateVolumeKey",
                   .volume_id = id,
                   .outcome = "ok",
                   .details = {{"session", session.IdHex()},
                               {"integrity", std::string(crypt::IntegrityModeName(mode))},
                               {"kek_version", absl::StrCat(volume.kek_version)}}};
  Volume stored;
  absl::Status created = ctx_.store->CreateVolume(volume, event, &stored);
  if (created.code() == absl::StatusCode::kAlreadyExists) return conflict(stored);  // a race
  RETURN_IF_ERROR(created);
  LogOutcome("CreateVolumeKey", session.identity, id, absl::OkStatus());
  return FillVolumeResponse(stored, response);
}

absl::Status KeyServiceImpl::DoGetVolumeKey(const v1::GetVolumeKeyRequest& request,
                                            v1::GetVolumeKeyResponse* response) {
  ASSIGN_OR_RETURN(SessionToken session, Authenticate(request.session_token()));
  if (!ConstantTimeEquals(Bytes(request.ephemeral_public_key()), session.ephemeral_public_key)) {
    absl::Status s = absl::UnauthenticatedError(
        "ephemeral_public_key: the session token is bound to another ephemeral key; attest "
        "with this key");
    LogOutcome("GetVolumeKey", session.identity, request.volume_id(), s);
    return s;
  }
  const std::string& id = request.volume_id();
  RETURN_IF_ERROR(ValidateServiceVolumeId(id, "volume_id"));
  // Read first: the authorizer judges the volume's stored labels.
  absl::StatusOr<Volume> volume = ctx_.store->GetVolumeKey(id);
  RETURN_IF_ERROR(
      AuthorizeAudited(session, Operation::kGetKey, id, volume.ok() ? volume->labels : Labels{}));
  if (!volume.ok()) {
    absl::Status s = volume.status();
    if (s.code() == absl::StatusCode::kNotFound) {
      s = absl::NotFoundError(absl::StrCat("volume ", id, ": no key (unknown or destroyed)"));
    }
    (void)Audit(session, Operation::kGetKey, id, s);
    LogOutcome("GetVolumeKey", session.identity, id, s);
    return s;
  }
  ASSIGN_OR_RETURN(std::string record, RenderVolumeRecord(*volume));
  ASSIGN_OR_RETURN(SecretBytes dek,
                   ctx_.keks->Unwrap(volume->kek_version, volume->wrapped_dek.ciphertext(),
                                     WrapAad(volume->key_id, volume->key_version)));
  ASSIGN_OR_RETURN(HpkeSealed sealed,
                   HpkeSeal(session.ephemeral_public_key, ReleaseInfo(id, volume->key_version),
                            session.binding, dek));
  dek.Clear();
  // No release without its audit entry (invariant 8).
  RETURN_IF_ERROR(Audit(session, Operation::kGetKey, id, absl::OkStatus(),
                        {{"key_version", absl::StrCat(volume->key_version)},
                         {"kek_version", absl::StrCat(volume->kek_version)}}));
  response->set_sealed_dek_enc(std::string(sealed.enc.begin(), sealed.enc.end()));
  response->set_sealed_dek(std::string(sealed.ciphertext.begin(), sealed.ciphertext.end()));
  response->set_key_version(volume->key_version);
  response->set_record_json(std::move(record));
  LogOutcome("GetVolumeKey", session.identity, id, absl::OkStatus());
  return absl::OkStatus();
}

absl::Status KeyServiceImpl::DoReportVolumeState(const v1::ReportVolumeStateRequest& request,
                                                 v1::ReportVolumeStateResponse* response) {
  ASSIGN_OR_RETURN(SessionToken session, Authenticate(request.session_token()));
  const std::string& id = request.volume_id();
  RETURN_IF_ERROR(ValidateServiceVolumeId(id, "volume_id"));
  if (request.expected_state() != v1::VOLUME_STATE_CREATED ||
      request.new_state() != v1::VOLUME_STATE_FORMATTED) {
    return absl::InvalidArgumentError(
        "expected_state, new_state: the only reportable transition is CREATED -> FORMATTED");
  }
  RETURN_IF_ERROR(AuthorizeAudited(session, Operation::kReportState, id, StoredLabels(id)));
  AuditEvent event{.actor = session.identity,
                   .action = "ReportVolumeState",
                   .volume_id = id,
                   .outcome = "ok",
                   .details = {{"session", session.IdHex()}, {"state", "formatted"}}};
  absl::StatusOr<Volume> updated =
      ctx_.store->CompareAndSetState(id, VolumeState::kCreated, VolumeState::kFormatted, event);
  if (updated.ok()) {
    response->set_state(ToProto(updated->state));
    return absl::OkStatus();
  }
  if (updated.status().code() == absl::StatusCode::kFailedPrecondition) {
    // A retry after a lost answer: already formatted is the state asked for.
    ASSIGN_OR_RETURN(Volume current, ctx_.store->GetVolume(id));
    if (current.state == VolumeState::kFormatted) {
      response->set_state(v1::VOLUME_STATE_FORMATTED);
      return absl::OkStatus();
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", id, " is ", std::string(VolumeStateName(current.state)), ", not created"));
  }
  if (updated.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(absl::StrCat("volume ", id, ": unknown"));
  }
  return updated.status();
}

absl::Status KeyServiceImpl::DoDestroyVolumeKey(const v1::DestroyVolumeKeyRequest& request) {
  ASSIGN_OR_RETURN(SessionToken session, Authenticate(request.session_token()));
  const std::string& id = request.volume_id();
  RETURN_IF_ERROR(ValidateServiceVolumeId(id, "volume_id"));
  RETURN_IF_ERROR(AuthorizeAudited(session, Operation::kDestroyKey, id, StoredLabels(id)));
  AuditEvent event{.actor = session.identity,
                   .action = "DestroyVolumeKey",
                   .volume_id = id,
                   .outcome = "ok",
                   .details = {{"session", session.IdHex()}}};
  absl::StatusOr<Volume> destroyed = ctx_.store->DestroyVolume(id, event);
  if (destroyed.status().code() == absl::StatusCode::kNotFound) {
    // Deleting what never existed is done; still on the record.
    event.outcome = "ok-unknown";
    return ctx_.store->AppendAudit(event).status();
  }
  RETURN_IF_ERROR(destroyed.status());
  LogOutcome("DestroyVolumeKey", session.identity, id, absl::OkStatus());
  return absl::OkStatus();
}

absl::Status KeyServiceImpl::DoCloneVolumeKey(const v1::CloneVolumeKeyRequest& request,
                                              v1::CloneVolumeKeyResponse* response) {
  ASSIGN_OR_RETURN(SessionToken session, Authenticate(request.session_token()));
  const std::string& source_id = request.source_volume_id();
  const std::string& id = request.volume_id();
  RETURN_IF_ERROR(ValidateServiceVolumeId(source_id, "source_volume_id"));
  RETURN_IF_ERROR(ValidateServiceVolumeId(id, "volume_id"));
  if (source_id == id) {
    return absl::InvalidArgumentError("volume_id: must differ from source_volume_id");
  }
  const Labels labels = ToLabels(request.labels());
  RETURN_IF_ERROR(ValidateLabels(labels));
  // Both ends: the identity must be allowed the source's labels and the new ones.
  RETURN_IF_ERROR(
      AuthorizeAudited(session, Operation::kCloneKey, source_id, StoredLabels(source_id)));
  RETURN_IF_ERROR(AuthorizeAudited(session, Operation::kCloneKey, id, labels));

  auto conflict = [&](const Volume& existing) -> absl::Status {
    if (!existing.destroyed() && existing.source_volume_id == source_id &&
        existing.labels == labels) {
      return FillVolumeResponse(existing, response);
    }
    return absl::AlreadyExistsError(
        absl::StrCat("volume ", id, " already exists and is not a clone of ", source_id,
                     " with these labels; choose another volume id"));
  };
  absl::StatusOr<Volume> existing = ctx_.store->GetVolume(id);
  if (existing.ok()) return conflict(*existing);
  if (existing.status().code() != absl::StatusCode::kNotFound) return existing.status();

  absl::StatusOr<Volume> source = ctx_.store->GetVolume(source_id);
  if (source.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(absl::StrCat("source_volume_id ", source_id, ": unknown"));
  }
  RETURN_IF_ERROR(source.status());
  if (source->destroyed()) {
    return absl::FailedPreconditionError(
        absl::StrCat("source_volume_id ", source_id, ": destroyed; nothing to clone"));
  }
  auto record = crypt::ParseVolumeRecord(source->record_json);
  if (!record.ok()) {
    return absl::InternalError(
        absl::StrCat("volume ", source_id, ": the stored volume record does not parse"));
  }
  record->volume_id = id;
  record->label = id;
  CloneRequest clone{.source_volume_id = source_id,
                     .volume_id = id,
                     .record_json = crypt::SerializeVolumeRecord(*record),
                     .labels = labels};
  AuditEvent event{.actor = session.identity,
                   .action = "CloneVolumeKey",
                   .volume_id = id,
                   .outcome = "ok",
                   .details = {{"session", session.IdHex()}, {"source", source_id}}};
  Volume stored;
  absl::Status cloned = ctx_.store->CloneVolume(clone, event, &stored);
  if (cloned.code() == absl::StatusCode::kAlreadyExists) return conflict(stored);
  RETURN_IF_ERROR(cloned);
  LogOutcome("CloneVolumeKey", session.identity, id, absl::OkStatus());
  return FillVolumeResponse(stored, response);
}

}  // namespace cloak::kms
