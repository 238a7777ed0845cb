#include "controller/controller_service.h"

#include "common/grpc_status.h"
#include "common/status.h"
#include "controller/request_validation.h"
#include "csi/key_service_errors.h"
#include "fmt/format.h"

namespace cloak::controller {
namespace {

namespace csi = ::csi::v1;
namespace v1 = ::cloak::kms::v1;

v1::IntegrityMode ToKeyServiceMode(const std::string& integrity) {
  if (integrity == kIntegrityHmacSha256) return v1::INTEGRITY_MODE_HMAC_SHA256;
  if (integrity == kIntegrityAead) return v1::INTEGRITY_MODE_AEAD;
  return v1::INTEGRITY_MODE_NONE;
}

// The key service's answer for this controller (csi/key_service_errors.h).
absl::Status FromKeyService(const absl::Status& status, const std::string& volume_id,
                            std::string_view what) {
  return cloak::csi::FromKeyService(
      status, volume_id, what,
      "the attestation policy must admit this controller with role controller");
}

// A requisite topology that leaves out this backend's segments cannot be served.
absl::Status CheckAccessibility(const csi::TopologyRequirement& requirement,
                                const std::map<std::string, std::string>& ours) {
  if (requirement.requisite().empty()) return absl::OkStatus();
  for (const csi::Topology& topology : requirement.requisite()) {
    bool matches = true;
    for (const auto& [key, value] : topology.segments()) {
      auto found = ours.find(key);
      if (found == ours.end() || found->second != value) matches = false;
    }
    if (matches) return absl::OkStatus();
  }
  std::string segments;
  for (const auto& [key, value] : ours) segments += fmt::format(" {}={}", key, value);
  return absl::ResourceExhaustedError(
      fmt::format("accessibility_requirements.requisite: no topology lists this controller's node "
                  "({}); the local backend creates volumes only there",
                  segments.empty() ? "" : segments.substr(1)));
}

}  // namespace

void ControllerService::Hit(std::string_view point) const {
  if (deps_.faults != nullptr) deps_.faults->Hit(point);
}

void ControllerService::Log(std::string_view message, const std::string& volume_id,
                            LogFields fields) const {
  if (deps_.logger == nullptr) return;
  fields.insert(fields.begin(), {"volume_id", volume_id});
  deps_.logger->Info(message, fields);
}

void ControllerService::FillVolume(const BackendVolume& volume, csi::Volume* out) const {
  out->set_volume_id(volume.volume_id);
  out->set_capacity_bytes(volume.capacity_bytes);
  (*out->mutable_volume_context())[kContextIntegrity] = volume.integrity;
  auto& segments = *out->add_accessible_topology()->mutable_segments();
  for (const auto& [key, value] : deps_.backend->Topology()) segments[key] = value;
}

absl::Status ControllerService::Create(const csi::CreateVolumeRequest& request,
                                       csi::CreateVolumeResponse* response) {
  RETURN_IF_ERROR(ValidateName(request.name()));
  RETURN_IF_ERROR(ValidateCapabilities(request.volume_capabilities()));
  if (request.has_volume_content_source()) {
    return absl::InvalidArgumentError(
        "volume_content_source: volumes from snapshots or clones are not supported yet; create "
        "an empty volume (no dataSource in the claim)");
  }
  ASSIGN_OR_RETURN(CreateParameters parameters,
                   ParseParameters(request.parameters(), request.name()));
  ASSIGN_OR_RETURN(const auto range, ValidateCapacityRange(request.capacity_range()));
  RETURN_IF_ERROR(
      CheckAccessibility(request.accessibility_requirements(), deps_.backend->Topology()));
  ASSIGN_OR_RETURN(VolumeLocks::Guard guard, names_.TryLock(request.name(), "CreateVolume"));

  const std::int64_t minimum = MinimumCapacity(request.volume_capabilities());
  ASSIGN_OR_RETURN(const std::int64_t capacity,
                   deps_.backend->ChooseCapacity(range.first, range.second, minimum));
  ASSIGN_OR_RETURN(BackendVolume volume,
                   deps_.backend->Create(VolumeSpec{.name = request.name(),
                                                    .capacity_bytes = capacity,
                                                    .min_bytes = std::max(range.first, minimum),
                                                    .max_bytes = range.second,
                                                    .integrity = parameters.integrity,
                                                    .labels = parameters.labels}));
  Hit("controller.create.after_backing");
  if (!volume.ready) {
    TouchPending(volume.volume_id);
    RETURN_IF_ERROR(FinishCreate(volume));
    volume.ready = true;
    Log("volume created", volume.volume_id,
        {{"name", volume.name},
         {"capacity_bytes", std::to_string(volume.capacity_bytes)},
         {"integrity", volume.integrity}});
  }
  FillVolume(volume, response->mutable_volume());
  return absl::OkStatus();
}

absl::Status ControllerService::FinishCreate(const BackendVolume& volume) {
  const std::string& id = volume.volume_id;
  absl::StatusOr<kms::client::VolumeKeyInfo> key =
      deps_.keys->CreateVolumeKey(id, ToKeyServiceMode(volume.integrity), volume.labels);
  if (!key.ok()) {
    // Undo, so that nothing is left behind: the key (the call may have created it before
    // failing, or an earlier attempt did; the id is random, so any key under it is this
    // volume's), then the storage. Without the key service's word that no key exists,
    // the storage stays, pending, for the retry to finish.
    const absl::Status destroyed = deps_.keys->DestroyVolumeKey(id);
    if (!destroyed.ok() && deps_.logger != nullptr) {
      deps_.logger->Warn("volume left pending for a retry of CreateVolume",
                         {{"volume_id", id}, {"error", std::string(destroyed.message())}});
    }
    if (destroyed.ok()) {
      if (absl::Status removed = deps_.backend->Delete(id); !removed.ok() && deps_.logger) {
        deps_.logger->Warn("backing storage of a failed volume not removed",
                           {{"volume_id", id}, {"error", std::string(removed.message())}});
      }
    }
    return FromKeyService(key.status(), id, "create its key");
  }
  Hit("controller.create.after_key");
  return deps_.backend->MarkReady(id);
}

void ControllerService::TouchPending(const std::string& volume_id) {
  std::lock_guard lock(pending_mutex_);
  pending_touched_[volume_id] = std::chrono::steady_clock::now();
}

std::size_t ControllerService::SweepAbandonedPending(std::chrono::steady_clock::time_point now,
                                                     std::chrono::steady_clock::duration expiry) {
  std::vector<BackendVolume> expired;
  {
    std::lock_guard lock(pending_mutex_);
    std::map<std::string, std::chrono::steady_clock::time_point> still_pending;
    for (BackendVolume& volume : deps_.backend->ListPending()) {
      auto touched = pending_touched_.find(volume.volume_id);
      const auto since = touched == pending_touched_.end() ? now : touched->second;
      still_pending.emplace(volume.volume_id, since);
      if (now - since >= expiry) expired.push_back(std::move(volume));
    }
    pending_touched_ = std::move(still_pending);
  }
  std::size_t removed = 0;
  for (const BackendVolume& candidate : expired) {
    const std::string& id = candidate.volume_id;
    absl::StatusOr<VolumeLocks::Guard> name_guard =
        names_.TryLock(candidate.name, "the sweep of abandoned pending volumes");
    if (!name_guard.ok()) continue;  // a CreateVolume of its name is running
    absl::StatusOr<VolumeLocks::Guard> id_guard =
        volumes_.TryLock(id, "the sweep of abandoned pending volumes");
    if (!id_guard.ok()) continue;
    absl::StatusOr<BackendVolume> volume = deps_.backend->Get(id);
    if (!volume.ok() || volume->ready) continue;  // finished or deleted meanwhile
    {
      // Touched by a CreateVolume between the listing and the locks: not abandoned.
      std::lock_guard lock(pending_mutex_);
      auto touched = pending_touched_.find(id);
      if (touched != pending_touched_.end() && now - touched->second < expiry) continue;
    }
    absl::Status done = deps_.keys->DestroyVolumeKey(id);
    if (done.ok()) done = deps_.backend->Delete(id);
    if (!done.ok()) {
      if (deps_.logger) {
        deps_.logger->Warn("abandoned pending volume not removed; the next sweep retries",
                           {{"volume_id", id}, {"error", std::string(done.message())}});
      }
      continue;
    }
    {
      std::lock_guard lock(pending_mutex_);
      pending_touched_.erase(id);
    }
    ++removed;
    Log("abandoned pending volume removed: key destroyed, backing storage removed", id,
        {{"name", candidate.name}});
  }
  return removed;
}

absl::Status ControllerService::Delete(const csi::DeleteVolumeRequest& request) {
  const std::string& id = request.volume_id();
  RETURN_IF_ERROR(RequireField(id, "volume_id"));
  ASSIGN_OR_RETURN(VolumeLocks::Guard guard, volumes_.TryLock(id, "DeleteVolume"));
  absl::StatusOr<BackendVolume> volume = deps_.backend->Get(id);
  if (absl::IsNotFound(volume.status())) return absl::OkStatus();  // deleting what is gone
  RETURN_IF_ERROR(volume.status());
  if (absl::Status destroyed = deps_.keys->DestroyVolumeKey(id); !destroyed.ok()) {
    return FromKeyService(destroyed, id, "destroy its key");
  }
  Hit("controller.delete.after_destroy");
  RETURN_IF_ERROR(deps_.backend->Delete(id));
  Log("volume deleted: key destroyed, backing storage removed", id, {{"name", volume->name}});
  return absl::OkStatus();
}

absl::Status ControllerService::Validate(const csi::ValidateVolumeCapabilitiesRequest& request,
                                         csi::ValidateVolumeCapabilitiesResponse* response) const {
  RETURN_IF_ERROR(RequireField(request.volume_id(), "volume_id"));
  if (request.volume_capabilities().empty()) {
    return absl::InvalidArgumentError("volume_capabilities: at least one is required");
  }
  ASSIGN_OR_RETURN(const BackendVolume volume, deps_.backend->Get(request.volume_id()));
  if (!volume.ready) {
    return absl::NotFoundError(
        fmt::format("volume {} is still being created; retry when CreateVolume has returned",
                    volume.volume_id));
  }
  for (int i = 0; i < request.volume_capabilities().size(); ++i) {
    const absl::Status status = ValidateCapability(request.volume_capabilities(i),
                                                   fmt::format("volume_capabilities[{}]", i));
    if (!status.ok()) {
      response->set_message(std::string(status.message()));
      return absl::OkStatus();
    }
  }
  if (MinimumCapacity(request.volume_capabilities()) > volume.capacity_bytes) {
    response->set_message(fmt::format("volume {} holds {} bytes, too few for xfs (at least {})",
                                      volume.volume_id, volume.capacity_bytes, kMinXfsBytes));
    return absl::OkStatus();
  }
  if (!request.parameters().empty()) {
    absl::StatusOr<CreateParameters> parameters =
        ParseParameters(request.parameters(), volume.name);
    if (!parameters.ok()) {
      response->set_message(std::string(parameters.status().message()));
      return absl::OkStatus();
    }
    if (parameters->integrity != volume.integrity) {
      response->set_message(fmt::format("volume {} has integrity {}, not {}", volume.volume_id,
                                        volume.integrity, parameters->integrity));
      return absl::OkStatus();
    }
  }
  auto* confirmed = response->mutable_confirmed();
  *confirmed->mutable_volume_context() = request.volume_context();
  *confirmed->mutable_volume_capabilities() = request.volume_capabilities();
  *confirmed->mutable_parameters() = request.parameters();
  return absl::OkStatus();
}

absl::Status ControllerService::List(const csi::ListVolumesRequest& request,
                                     csi::ListVolumesResponse* response) const {
  if (request.max_entries() < 0) {
    return absl::InvalidArgumentError("max_entries: must not be negative (0: no limit)");
  }
  ASSIGN_OR_RETURN(const std::uint64_t after,
                   ParseListToken(request.starting_token(), deps_.backend->LastSequence()));
  const auto max = static_cast<std::size_t>(request.max_entries());
  std::vector<BackendVolume> volumes = deps_.backend->List(after, max == 0 ? 0 : max + 1);
  if (max > 0 && volumes.size() > max) {
    volumes.resize(max);
    response->set_next_token(ListToken(volumes.back().sequence));
  }
  for (const BackendVolume& volume : volumes) {
    FillVolume(volume, response->add_entries()->mutable_volume());
  }
  return absl::OkStatus();
}

absl::Status ControllerService::Capacity(const csi::GetCapacityRequest& request,
                                         csi::GetCapacityResponse* response) const {
  for (int i = 0; i < request.volume_capabilities().size(); ++i) {
    RETURN_IF_ERROR(ValidateCapability(request.volume_capabilities(i),
                                       fmt::format("volume_capabilities[{}]", i)));
  }
  RETURN_IF_ERROR(ParseParameters(request.parameters(), "").status());
  if (request.has_accessible_topology()) {
    const auto ours = deps_.backend->Topology();
    for (const auto& [key, value] : request.accessible_topology().segments()) {
      auto found = ours.find(key);
      if (found == ours.end() || found->second != value) {
        response->set_available_capacity(0);  // another node: nothing of ours is there
        return absl::OkStatus();
      }
    }
  }
  ASSIGN_OR_RETURN(std::int64_t available, deps_.backend->AvailableCapacity());
  const std::int64_t minimum = MinimumCapacity(request.volume_capabilities());
  if (available < minimum) available = 0;
  response->set_available_capacity(available);
  response->mutable_maximum_volume_size()->set_value(available);
  response->mutable_minimum_volume_size()->set_value(std::max<std::int64_t>(minimum, 1 << 20));
  return absl::OkStatus();
}

absl::Status ControllerService::Expand(const csi::ControllerExpandVolumeRequest& request,
                                       csi::ControllerExpandVolumeResponse* response) {
  const std::string& id = request.volume_id();
  RETURN_IF_ERROR(RequireField(id, "volume_id"));
  if (!request.has_capacity_range()) {
    return absl::InvalidArgumentError("capacity_range: required (the size to grow to)");
  }
  ASSIGN_OR_RETURN(const auto range, ValidateCapacityRange(request.capacity_range()));
  if (range.first == 0 && range.second == 0) {
    return absl::InvalidArgumentError(
        "capacity_range: required_bytes or limit_bytes must name the size to grow to");
  }
  if (request.has_volume_capability()) {
    RETURN_IF_ERROR(ValidateCapability(request.volume_capability(), "volume_capability"));
  }
  ASSIGN_OR_RETURN(VolumeLocks::Guard guard, volumes_.TryLock(id, "ControllerExpandVolume"));
  ASSIGN_OR_RETURN(const BackendVolume volume, deps_.backend->Get(id));
  if (!volume.ready) {
    return absl::NotFoundError(
        fmt::format("volume {} is still being created; retry when CreateVolume has returned", id));
  }
  if (range.second > 0 && range.second < volume.capacity_bytes) {
    return absl::OutOfRangeError(fmt::format(
        "capacity_range.limit_bytes {} is below volume {}'s {} bytes; volumes never shrink",
        range.second, id, volume.capacity_bytes));
  }
  if (volume.integrity != kIntegrityNone && range.first > volume.capacity_bytes) {
    return absl::FailedPreconditionError(fmt::format(
        "volume {} uses integrity {}: dm-integrity volumes cannot be grown in place; create a "
        "larger volume and copy the data",
        id, volume.integrity));
  }
  ASSIGN_OR_RETURN(const std::int64_t target,
                   deps_.backend->ChooseCapacity(range.first, range.second, volume.capacity_bytes));
  ASSIGN_OR_RETURN(const std::int64_t capacity, deps_.backend->Expand(id, target));
  if (capacity != volume.capacity_bytes) {
    Log("volume expanded", id,
        {{"from_bytes", std::to_string(volume.capacity_bytes)},
         {"to_bytes", std::to_string(capacity)}});
  }
  response->set_capacity_bytes(capacity);
  // The node grows the crypt mapping and the filesystem (NodeExpandVolume).
  response->set_node_expansion_required(true);
  return absl::OkStatus();
}

absl::Status ControllerService::GetVolume(const csi::ControllerGetVolumeRequest& request,
                                          csi::ControllerGetVolumeResponse* response) const {
  RETURN_IF_ERROR(RequireField(request.volume_id(), "volume_id"));
  ASSIGN_OR_RETURN(const BackendVolume volume, deps_.backend->Get(request.volume_id()));
  if (!volume.ready) {
    return absl::NotFoundError(
        fmt::format("volume {} is still being created; retry when CreateVolume has returned",
                    volume.volume_id));
  }
  FillVolume(volume, response->mutable_volume());
  response->mutable_status();  // no published nodes or conditions are tracked here
  return absl::OkStatus();
}

void ControllerService::GetCapabilities(csi::ControllerGetCapabilitiesResponse* response) {
  using Rpc = csi::ControllerServiceCapability::RPC;
  for (Rpc::Type type : {Rpc::CREATE_DELETE_VOLUME, Rpc::LIST_VOLUMES, Rpc::GET_CAPACITY,
                         Rpc::EXPAND_VOLUME, Rpc::GET_VOLUME, Rpc::SINGLE_NODE_MULTI_WRITER}) {
    response->add_capabilities()->mutable_rpc()->set_type(type);
  }
}

grpc::Status ControllerService::CreateVolume(grpc::ServerContext*,
                                             const csi::CreateVolumeRequest* request,
                                             csi::CreateVolumeResponse* response) {
  return ToGrpcStatus(Create(*request, response));
}

grpc::Status ControllerService::DeleteVolume(grpc::ServerContext*,
                                             const csi::DeleteVolumeRequest* request,
                                             csi::DeleteVolumeResponse*) {
  return ToGrpcStatus(Delete(*request));
}

grpc::Status ControllerService::ValidateVolumeCapabilities(
    grpc::ServerContext*, const csi::ValidateVolumeCapabilitiesRequest* request,
    csi::ValidateVolumeCapabilitiesResponse* response) {
  return ToGrpcStatus(Validate(*request, response));
}

grpc::Status ControllerService::ListVolumes(grpc::ServerContext*,
                                            const csi::ListVolumesRequest* request,
                                            csi::ListVolumesResponse* response) {
  return ToGrpcStatus(List(*request, response));
}

grpc::Status ControllerService::GetCapacity(grpc::ServerContext*,
                                            const csi::GetCapacityRequest* request,
                                            csi::GetCapacityResponse* response) {
  return ToGrpcStatus(Capacity(*request, response));
}

grpc::Status ControllerService::ControllerExpandVolume(
    grpc::ServerContext*, const csi::ControllerExpandVolumeRequest* request,
    csi::ControllerExpandVolumeResponse* response) {
  return ToGrpcStatus(Expand(*request, response));
}

grpc::Status ControllerService::ControllerGetVolume(grpc::ServerContext*,
                                                    const csi::ControllerGetVolumeRequest* request,
                                                    csi::ControllerGetVolumeResponse* response) {
  return ToGrpcStatus(GetVolume(*request, response));
}

grpc::Status ControllerService::ControllerGetCapabilities(
    grpc::ServerContext*, const csi::ControllerGetCapabilitiesRequest*,
    csi::ControllerGetCapabilitiesResponse* response) {
  GetCapabilities(response);
  return grpc::Status::OK;
}

}  // namespace cloak::controller
