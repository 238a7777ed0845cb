#include "node/node_service.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/grpc_status.h"
#include "common/status.h"
#include "crypt/volume_record.h"
#include "csi/key_service_errors.h"
#include "csi/volume_capability.h"
#include "fmt/format.h"

namespace cloak::node {
namespace {

namespace csi = ::csi::v1;

// The key service's id rule (docs/kms.md): it becomes the LUKS2 label and a file name.
constexpr std::size_t kMaxVolumeIdLength = 47;

absl::Status ValidateVolumeId(const std::string& id, std::string_view rpc) {
  if (id.empty()) return absl::InvalidArgumentError(fmt::format("{}: volume_id is required", rpc));
  const bool charset_ok = std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  if (!charset_ok || id.size() > kMaxVolumeIdLength || id == "." || id == "..") {
    return absl::NotFoundError(
        fmt::format("{}: volume {} is not a Cloak volume id (1..{} of A-Z a-z 0-9 . _ -)", rpc, id,
                    kMaxVolumeIdLength));
  }
  return absl::OkStatus();
}

absl::Status ValidatePath(const std::string& path, std::string_view field, std::string_view rpc) {
  if (path.empty())
    return absl::InvalidArgumentError(fmt::format("{}: {} is required", rpc, field));
  if (path.front() != '/' || path.find('\0') != std::string::npos ||
      path.find("/../") != std::string::npos || path.ends_with("/..")) {
    return absl::InvalidArgumentError(
        fmt::format("{}: {} {} must be an absolute path without ..", rpc, field, path));
  }
  return absl::OkStatus();
}

struct Capability {
  bool block = false;
  std::string fs_type;  // filesystem volumes: ext4 | xfs
  std::vector<std::string> mount_flags;
};

absl::StatusOr<Capability> ValidateCapability(const csi::VolumeCapability& capability, bool present,
                                              std::string_view rpc) {
  if (!present) {
    return absl::InvalidArgumentError(fmt::format("{}: volume_capability is required", rpc));
  }
  RETURN_IF_ERROR(
      cloak::csi::CheckVolumeCapability(capability, fmt::format("{}: volume_capability", rpc)));
  Capability result;
  if (capability.has_block()) {
    result.block = true;
    return result;
  }
  result.fs_type =
      capability.mount().fs_type().empty() ? std::string(kExt4) : capability.mount().fs_type();
  for (const std::string& flag : capability.mount().mount_flags()) {
    if (flag.empty() || flag.find(',') != std::string::npos) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: volume_capability.mount.mount_flags: \"{}\" must be one non-empty flag", rpc, flag));
    }
    result.mount_flags.push_back(flag);
  }
  return result;
}

// The key service's answer for this node (csi/key_service_errors.h).
absl::Status FromKeyService(const absl::Status& status, const std::string& volume_id,
                            std::string_view what) {
  return cloak::csi::FromKeyService(
      status, volume_id, what, "this node's attestation was refused: check the attestation policy");
}

bool PathExists(const std::string& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

absl::Status MakeDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, fmt::format("mkdir {}", path));
  }
  return absl::OkStatus();
}

// The target of a block volume's publish: a regular file the device node is bound onto.
absl::Status MakeFile(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0)
    RETURN_IF_ERROR(MakeDirectory(path.substr(0, slash)));
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) return ErrnoToStatus(errno, fmt::format("create {}", path));
  ::close(fd);
  return absl::OkStatus();
}

std::string DeviceNumberText(const crypt::DeviceNumber& number) {
  return fmt::format("{}:{}", number.major, number.minor);
}

}  // namespace

// Milliseconds per stage step, for the "volume staged" log line (docs/benchmarks.md).
class StepTimer {
 public:
  // Ends `step`, of which `inner` (timed by someone else) is reported as `inner_step`.
  void Mark(std::string_view step, std::string_view inner_step = {},
            absl::Duration inner = absl::ZeroDuration()) {
    const auto now = std::chrono::steady_clock::now();
    double step_ms = std::chrono::duration<double, std::milli>(now - last_).count();
    if (!inner_step.empty()) {
      const double inner_ms = absl::ToDoubleMilliseconds(inner);
      fields_.emplace_back(std::string(inner_step) + "_ms", fmt::format("{:.1f}", inner_ms));
      step_ms = std::max(0.0, step_ms - inner_ms);
    }
    fields_.emplace_back(std::string(step) + "_ms", fmt::format("{:.1f}", step_ms));
    last_ = now;
  }
  const LogFields& fields() const { return fields_; }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  LogFields fields_;
};

struct NodeService::StageSpec {
  std::string volume_id;
  std::string staging_path;
  Capability capability;
  StepTimer* timer = nullptr;
};

void NodeService::StageStep(const StageSpec& spec, std::string_view step) const {
  spec.timer->Mark(step);
  Hit(fmt::format("node.stage.after_{}", step));
}

std::string MapperName(const std::string& volume_id) { return "cloak-" + volume_id; }

std::string ReadOnlyViewName(const std::string& volume_id, const std::string& target_path) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(target_path.data()), target_path.size(), digest);
  std::string hex;
  for (int i = 0; i < 8; ++i) hex += fmt::format("{:02x}", digest[i]);
  return fmt::format("cloakro-{}-{}", hex, volume_id);
}

std::string NodeService::BackingFile(const std::string& volume_id) const {
  return fmt::format("{}/{}.img", options_.local_dir, volume_id);
}

void NodeService::Hit(std::string_view point) const {
  if (deps_.faults != nullptr) deps_.faults->Hit(point);
}

void NodeService::Log(std::string_view message, const std::string& volume_id,
                      LogFields fields) const {
  if (!deps_.logger) return;
  fields.insert(fields.begin(), {"volume_id", volume_id});
  deps_.logger->Info(message, fields);
}

// --- handler edges ---

grpc::Status NodeService::NodeStageVolume(grpc::ServerContext*,
                                          const csi::NodeStageVolumeRequest* request,
                                          csi::NodeStageVolumeResponse*) {
  return ToGrpcStatus(Stage(*request));
}
grpc::Status NodeService::NodeUnstageVolume(grpc::ServerContext*,
                                            const csi::NodeUnstageVolumeRequest* request,
                                            csi::NodeUnstageVolumeResponse*) {
  return ToGrpcStatus(Unstage(*request));
}
grpc::Status NodeService::NodePublishVolume(grpc::ServerContext*,
                                            const csi::NodePublishVolumeRequest* request,
                                            csi::NodePublishVolumeResponse*) {
  return ToGrpcStatus(Publish(*request));
}
grpc::Status NodeService::NodeUnpublishVolume(grpc::ServerContext*,
                                              const csi::NodeUnpublishVolumeRequest* request,
                                              csi::NodeUnpublishVolumeResponse*) {
  return ToGrpcStatus(Unpublish(*request));
}
grpc::Status NodeService::NodeGetVolumeStats(grpc::ServerContext*,
                                             const csi::NodeGetVolumeStatsRequest* request,
                                             csi::NodeGetVolumeStatsResponse* response) {
  return ToGrpcStatus(GetVolumeStats(*request, response));
}
grpc::Status NodeService::NodeExpandVolume(grpc::ServerContext*,
                                           const csi::NodeExpandVolumeRequest* request,
                                           csi::NodeExpandVolumeResponse* response) {
  return ToGrpcStatus(Expand(*request, response));
}
grpc::Status NodeService::NodeGetCapabilities(grpc::ServerContext*,
                                              const csi::NodeGetCapabilitiesRequest*,
                                              csi::NodeGetCapabilitiesResponse* response) {
  GetCapabilities(response);
  return grpc::Status::OK;
}
grpc::Status NodeService::NodeGetInfo(grpc::ServerContext*, const csi::NodeGetInfoRequest*,
                                      csi::NodeGetInfoResponse* response) {
  GetInfo(response);
  return grpc::Status::OK;
}

// --- capabilities and info ---

void NodeService::GetCapabilities(csi::NodeGetCapabilitiesResponse* response) const {
  using Rpc = csi::NodeServiceCapability::RPC;
  for (const Rpc::Type type : {Rpc::STAGE_UNSTAGE_VOLUME, Rpc::GET_VOLUME_STATS, Rpc::EXPAND_VOLUME,
                               Rpc::VOLUME_CONDITION, Rpc::SINGLE_NODE_MULTI_WRITER}) {
    response->add_capabilities()->mutable_rpc()->set_type(type);
  }
}

void NodeService::GetInfo(csi::NodeGetInfoResponse* response) const {
  response->set_node_id(options_.node_id);
  response->set_max_volumes_per_node(options_.max_volumes);
  (*response->mutable_accessible_topology()->mutable_segments())[kTopologyKey] = options_.node_id;
}

// --- NodeStageVolume ---

absl::Status NodeService::Stage(const csi::NodeStageVolumeRequest& request) {
  constexpr std::string_view kRpc = "NodeStageVolume";
  RETURN_IF_ERROR(ValidateVolumeId(request.volume_id(), kRpc));
  RETURN_IF_ERROR(ValidatePath(request.staging_target_path(), "staging_target_path", kRpc));
  ASSIGN_OR_RETURN(
      Capability capability,
      ValidateCapability(request.volume_capability(), request.has_volume_capability(), kRpc));
  ASSIGN_OR_RETURN(VolumeLocks::Guard guard, locks_.TryLock(request.volume_id(), kRpc));
  StepTimer timer;
  const StageSpec spec{.volume_id = request.volume_id(),
                       .staging_path = request.staging_target_path(),
                       .capability = std::move(capability),
                       .timer = &timer};
  const auto started = std::chrono::steady_clock::now();
  absl::Status staged = StageLocked(spec);
  LogFields fields = {
      {"staging_path", spec.staging_path},
      {"code", staged.ok() ? "OK" : absl::StatusCodeToString(staged.code())},
      {"total_ms", fmt::format("{:.1f}", std::chrono::duration<double, std::milli>(
                                             std::chrono::steady_clock::now() - started)
                                             .count())}};
  fields.insert(fields.end(), timer.fields().begin(), timer.fields().end());
  Log(staged.ok() ? "volume staged" : "staging failed", spec.volume_id, std::move(fields));
  return staged;
}

void NodeService::AbandonStage(const VolumeStateRecord& state, const absl::Status& why) {
  // Only a stage that got no further than the loop device is undone: a mapping, a
  // filesystem or a publish means an earlier attempt went further, and its state record
  // is what a retry or NodeUnstageVolume needs.
  if (!state.published.empty() || deps_.engine->Status(state.mapper_name).ok()) return;
  if (why.code() == absl::StatusCode::kUnavailable ||
      why.code() == absl::StatusCode::kDeadlineExceeded) {
    return;  // the CO retries soon: keep the attached device for it
  }
  absl::Status undone = deps_.loops->Detach(state.backing_file);
  if (undone.ok()) undone = deps_.state->Remove(state.volume_id);
  Log(undone.ok() ? "stage abandoned: loop device detached, state record removed"
                  : "stage abandoned, but its loop device or state record stays",
      state.volume_id,
      {{"reason", std::string(why.message())},
       {"cleanup", undone.ok() ? "done" : std::string(undone.message())}});
}

absl::Status NodeService::StageLocked(const StageSpec& spec) {
  const std::string& id = spec.volume_id;
  absl::StatusOr<VolumeStateRecord> existing = deps_.state->Get(id);
  if (!existing.ok() && existing.status().code() != absl::StatusCode::kNotFound) {
    return existing.status();
  }
  VolumeStateRecord state;
  if (existing.ok()) {
    state = *std::move(existing);
    if (state.staging_path != spec.staging_path) {
      return absl::AlreadyExistsError(
          fmt::format("volume {} is already staged at {} on this node; unstage it there first", id,
                      state.staging_path));
    }
    if (state.block != spec.capability.block ||
        (!state.block && state.fs_type != spec.capability.fs_type)) {
      return absl::AlreadyExistsError(
          fmt::format("volume {} is staged at {} as {}; the request asks for {}", id,
                      state.staging_path, state.block ? "a block volume" : state.fs_type,
                      spec.capability.block ? "a block volume" : spec.capability.fs_type));
    }
  } else {
    state = VolumeStateRecord{.volume_id = id,
                              .phase = StagePhase::kStaging,
                              .staging_path = spec.staging_path,
                              .backing_file = BackingFile(id),
                              .loop_device = "",
                              .mapper_name = MapperName(id),
                              .block = spec.capability.block,
                              .fs_type = spec.capability.fs_type,
                              .mount_flags = spec.capability.mount_flags,
                              .integrity = "",
                              .integrity_initialized = false,
                              .published = {}};
  }
  if (!PathExists(state.backing_file)) {
    return absl::NotFoundError(fmt::format(
        "volume {}: its backing file {} does not exist on node {}; the volume was not created "
        "here or was deleted",
        id, state.backing_file, options_.node_id));
  }
  if (state.phase == StagePhase::kStaged) {
    // Already done: confirm it is still all there, else fall through and repair.
    const bool mounted = state.block || deps_.mounter->FindMount(spec.staging_path).ok();
    if (mounted && deps_.engine->Status(state.mapper_name).ok()) return absl::OkStatus();
    state.phase = StagePhase::kStaging;
  }
  RETURN_IF_ERROR(deps_.state->Put(state));

  ASSIGN_OR_RETURN(const LoopDevice loop, deps_.loops->Attach(state.backing_file));
  if (state.loop_device != loop.path) {
    state.loop_device = loop.path;
    RETURN_IF_ERROR(deps_.state->Put(state));
  }
  StageStep(spec, "attach");

  absl::StatusOr<kms::client::VolumeKey> key = deps_.keys->GetVolumeKey(id);
  if (!key.ok()) {
    const absl::Status refused = FromKeyService(key.status(), id, "fetching the volume key");
    AbandonStage(state, refused);
    return refused;
  }
  // The release, and apart from it the attestation it needed (zero with a live session).
  spec.timer->Mark("key_fetch", "attest", key->attestation);
  Hit("node.stage.after_key_fetch");
  absl::StatusOr<crypt::VolumeRecord> record = crypt::ParseVolumeRecord(key->record_json);
  if (!record.ok()) {
    return absl::InternalError(
        fmt::format("volume {}: the key service's volume record does not "
                    "parse: {}",
                    id, std::string(record.status().message())));
  }
  if (record->volume_id != id) {
    return absl::FailedPreconditionError(fmt::format(
        "volume {}: the key service answered with the record of volume {}", id, record->volume_id));
  }
  state.integrity = std::string(crypt::IntegrityModeName(record->integrity));

  const bool is_new = record->state == crypt::VolumeState::kCreated;
  if (is_new) {
    absl::Status header = deps_.engine->Validate(loop.path, *record, &key->dek);
    if (header.ok()) {
      // This node formatted it before a crash, before it could report: checked, not redone.
      Log("header from an interrupted stage found and checked", id);
    } else if (header.code() == absl::StatusCode::kNotFound) {
      // No LUKS2 header. Format refuses any other signature too: the record says new, so
      // data on this device is not ours to overwrite.
      RETURN_IF_ERROR(
          deps_.engine->Format(loop.path, *record, key->dek, crypt::DeviceClaim::kUnknown));
      Log("formatted", id, {{"device", loop.path}, {"integrity", state.integrity}});
    } else {
      return header;
    }
    StageStep(spec, "format");
  }
  ASSIGN_OR_RETURN(const crypt::OpenResult opened,
                   deps_.engine->Open(loop.path, state.mapper_name, *record, key->dek, {}));
  StageStep(spec, "open");
  key->dek.Clear();  // nothing below needs the key
  if (deps_.kernel_log != nullptr && state.integrity != "none") {
    ASSIGN_OR_RETURN(state.kernel_log_sequence, deps_.kernel_log->LastSequence());
  }

  if (is_new) RETURN_IF_ERROR(PrepareNewVolume(spec, opened.mapper_path, state));

  if (!state.block) {
    RETURN_IF_ERROR(MakeDirectory(spec.staging_path));
    absl::StatusOr<MountEntry> mounted = deps_.mounter->FindMount(spec.staging_path);
    if (mounted.ok()) {
      ASSIGN_OR_RETURN(const crypt::DeviceNumber number, deps_.devices->Number(opened.mapper_path));
      if (mounted->device_number != DeviceNumberText(number)) {
        return absl::FailedPreconditionError(fmt::format(
            "volume {}: staging path {} has another filesystem mounted ({} from {}); unmount it",
            id, spec.staging_path, mounted->fs_type, mounted->source));
      }
    } else if (mounted.status().code() == absl::StatusCode::kNotFound) {
      absl::StatusOr<std::vector<std::string>> signatures =
          deps_.devices->ProbeSignatures(opened.mapper_path);
      if (signatures.ok() && !signatures->empty() &&
          std::find(signatures->begin(), signatures->end(), spec.capability.fs_type) ==
              signatures->end()) {
        return absl::FailedPreconditionError(
            fmt::format("volume {} holds a {} filesystem; the request asks for fs_type {}", id,
                        signatures->front(), spec.capability.fs_type));
      }
      RETURN_IF_ERROR(deps_.mounter->Mount(opened.mapper_path, spec.staging_path,
                                           spec.capability.fs_type, spec.capability.mount_flags));
    } else {
      return mounted.status();
    }
    StageStep(spec, "mount");
  }

  if (is_new) {
    absl::StatusOr<kms::v1::VolumeState> reported = deps_.keys->ReportVolumeState(
        id, kms::v1::VOLUME_STATE_CREATED, kms::v1::VOLUME_STATE_FORMATTED);
    if (!reported.ok()) {
      return FromKeyService(reported.status(), id, "reporting the volume formatted");
    }
    StageStep(spec, "report");
  }
  state.phase = StagePhase::kStaged;
  return deps_.state->Put(state);
}

absl::Status NodeService::PrepareNewVolume(const StageSpec& spec, const std::string& mapper_path,
                                           VolumeStateRecord& state) {
  const std::string& id = spec.volume_id;
  // A filesystem (or, on a block volume, anything) already there is this node's own work
  // from an interrupted stage: keep it. An integrity volume whose tags were not written
  // yet is not probed at all: every read of it would fail (and log integrity errors), and
  // nothing can be on it, since the filesystem comes after the tags.
  const bool tags_pending = state.integrity != "none" && !state.integrity_initialized;
  if (!tags_pending) {
    ASSIGN_OR_RETURN(const std::vector<std::string> signatures,
                     deps_.devices->ProbeSignatures(mapper_path));
    if (!signatures.empty()) return absl::OkStatus();
  }

  if (tags_pending) {
    Log("writing every integrity tag once", id, {{"device", mapper_path}});
    crypt::IntegrityInitOptions options;
    std::uint64_t next_report = 0;
    options.progress = [&](const crypt::Progress& progress) {
      if (progress.bytes_done < next_report && progress.bytes_done != progress.bytes_total) return;
      next_report = progress.bytes_done + progress.bytes_total / 10;
      Log("integrity initialisation", id,
          {{"bytes_done", std::to_string(progress.bytes_done)},
           {"bytes_total", std::to_string(progress.bytes_total)},
           {"mib_per_s", fmt::format("{:.1f}", progress.bytes_per_second / (1 << 20))}});
    };
    ASSIGN_OR_RETURN(const std::uint64_t written,
                     deps_.engine->InitializeIntegrity(state.mapper_name, options));
    state.integrity_initialized = true;
    RETURN_IF_ERROR(deps_.state->Put(state));
    Log("integrity initialised", id, {{"bytes", std::to_string(written)}});
    StageStep(spec, "integrity_init");
  }
  if (!state.block) {
    RETURN_IF_ERROR(deps_.mounter->MakeFilesystem(mapper_path, spec.capability.fs_type));
    Log("filesystem created", id, {{"fs_type", spec.capability.fs_type}});
    StageStep(spec, "mkfs");
  }
  return absl::OkStatus();
}

// --- NodeUnstageVolume ---

absl::Status NodeService::Unstage(const csi::NodeUnstageVolumeRequest& request) {
  constexpr std::string_view kRpc = "NodeUnstageVolume";
  RETURN_IF_ERROR(ValidateVolumeId(request.volume_id(), kRpc));
  RETURN_IF_ERROR(ValidatePath(request.staging_target_path(), "staging_target_path", kRpc));
  ASSIGN_OR_RETURN(VolumeLocks::Guard guard, locks_.TryLock(request.volume_id(), kRpc));
  absl::Status unstaged = UnstageLocked(request.volume_id(), request.staging_target_path());
  Log(unstaged.ok() ? "volume unstaged" : "unstaging failed", request.volume_id(),
      {{"code", unstaged.ok() ? "OK" : absl::StatusCodeToString(unstaged.code())}});
  return unstaged;
}

absl::Status NodeService::UnstageLocked(const std::string& volume_id,
                                        const std::string& staging_path) {
  // Without a record (never staged, or already unstaged), the names are derived the same
  // way, so leftovers of an interrupted stage are still cleaned up.
  absl::StatusOr<VolumeStateRecord> state = deps_.state->Get(volume_id);
  if (!state.ok() && state.status().code() != absl::StatusCode::kNotFound) return state.status();
  const std::string mapper = state.ok() ? state->mapper_name : MapperName(volume_id);
  const std::string backing = state.ok() ? state->backing_file : BackingFile(volume_id);
  if (state.ok() && !state->published.empty()) {
    return absl::FailedPreconditionError(
        fmt::format("volume {} is still published at {}; call NodeUnpublishVolume first", volume_id,
                    *state->published.begin()));
  }
  if (deps_.mounter->FindMount(staging_path).ok()) {
    RETURN_IF_ERROR(deps_.mounter->Unmount(staging_path));
  }
  Hit("node.unstage.after_unmount");
  if (absl::Status closed = deps_.engine->Close(mapper); !closed.ok()) {
    if (closed.code() == absl::StatusCode::kUnavailable) {
      return absl::FailedPreconditionError(
          fmt::format("volume {}: mapping {} is still in use ({}); stop what uses it", volume_id,
                      mapper, std::string(closed.message())));
    }
    return closed;
  }
  Hit("node.unstage.after_close");
  RETURN_IF_ERROR(deps_.loops->Detach(backing));
  Hit("node.unstage.after_detach");
  return deps_.state->Remove(volume_id);
}

// --- NodePublishVolume / NodeUnpublishVolume ---

absl::Status NodeService::Publish(const csi::NodePublishVolumeRequest& request) {
  constexpr std::string_view kRpc = "NodePublishVolume";
  const std::string& id = request.volume_id();
  RETURN_IF_ERROR(ValidateVolumeId(id, kRpc));
  RETURN_IF_ERROR(ValidatePath(request.staging_target_path(), "staging_target_path", kRpc));
  RETURN_IF_ERROR(ValidatePath(request.target_path(), "target_path", kRpc));
  ASSIGN_OR_RETURN(
      const Capability capability,
      ValidateCapability(request.volume_capability(), request.has_volume_capability(), kRpc));
  ASSIGN_OR_RETURN(VolumeLocks::Guard guard, locks_.TryLock(id, kRpc));
  absl::StatusOr<VolumeStateRecord> state = deps_.state->Get(id);
  if (!state.ok() && state.status().code() == absl::StatusCode::kNotFound) {
    return absl::FailedPreconditionError(
        fmt::format("volume {} is not staged on this node; call NodeStageVolume first", id));
  }
  RETURN_IF_ERROR(state.status());
  if (state->phase != StagePhase::kStaged || state->staging_path != request.staging_target_path()) {
    return absl::FailedPreconditionError(
        fmt::format("volume {} is not staged at {}; call NodeStageVolume there first", id,
                    request.staging_target_path()));
  }
  if (state->block != capability.block) {
    return absl::InvalidArgumentError(fmt::format(
        "volume {} is staged as {}; volume_capability asks for {}", id,
        state->block ? "a block volume" : "a filesystem", capability.block ? "block" : "mount"));
  }
  const std::string mapper_path = crypt::MapperPath(state->mapper_name);
  // A read-only bind of a device node still accepts writes (the flag guards the mount,
  // not the device), so a read-only block publish binds a read-only view of the mapping,
  // whose writes the kernel refuses (docs/node.md).
  const bool view = state->block && request.readonly();
  const std::string view_name = ReadOnlyViewName(id, request.target_path());
  std::string source = !state->block ? state->staging_path
                       : view        ? crypt::MapperPath(view_name)
                                     : mapper_path;

  absl::StatusOr<MountEntry> existing = deps_.mounter->FindMount(request.target_path());
  if (existing.ok()) {
    ASSIGN_OR_RETURN(const crypt::DeviceNumber number, deps_.devices->Number(mapper_path));
    // A bound device node shows as devtmpfs rooted at its path below /dev
    // ("/mapper/cloak-<id>"); a bound filesystem by the mapper's device number.
    const auto bound = [&](const std::string& node) {
      return existing->source == node || existing->root == node.substr(4);
    };
    const bool same_volume = state->block
                                 ? bound(mapper_path) || bound(crypt::MapperPath(view_name))
                                 : existing->device_number == DeviceNumberText(number);
    if (!same_volume || existing->read_only() != request.readonly()) {
      return absl::AlreadyExistsError(
          fmt::format("volume {}: target_path {} already has {} mounted{}; unpublish it first", id,
                      request.target_path(), same_volume ? "this volume" : "another filesystem",
                      same_volume ? " with another read-only setting" : ""));
    }
  } else if (existing.status().code() == absl::StatusCode::kNotFound) {
    if (view) {
      // Recorded first: NodeUnpublishVolume removes the view, and NodeUnstageVolume waits
      // for it, even when the plugin dies before the bind.
      const bool recorded = state->published.insert(request.target_path()).second;
      if (recorded) RETURN_IF_ERROR(deps_.state->Put(*state));
      absl::StatusOr<std::string> opened =
          deps_.engine->OpenReadOnlyView(state->mapper_name, view_name);
      if (!opened.ok()) {
        // Refused: this target was never published, so nothing may wait for it.
        if (recorded && state->published.erase(request.target_path()) > 0) {
          RETURN_IF_ERROR(deps_.state->Put(*state));
        }
        return opened.status();
      }
      source = *std::move(opened);
    }
    RETURN_IF_ERROR(state->block ? MakeFile(request.target_path())
                                 : MakeDirectory(request.target_path()));
    RETURN_IF_ERROR(deps_.mounter->BindMount(source, request.target_path(), request.readonly(),
                                             capability.mount_flags));
  } else {
    return existing.status();
  }
  if (state->published.insert(request.target_path()).second) {
    RETURN_IF_ERROR(deps_.state->Put(*state));
  }
  Log("volume published", id,
      {{"target_path", request.target_path()},
       {"readonly", request.readonly() ? "true" : "false"}});
  return absl::OkStatus();
}

absl::Status NodeService::Unpublish(const csi::NodeUnpublishVolumeRequest& request) {
  constexpr std::string_view kRpc = "NodeUnpublishVolume";
  const std::string& id = request.volume_id();
  RETURN_IF_ERROR(ValidateVolumeId(id, kRpc));
  RETURN_IF_ERROR(ValidatePath(request.target_path(), "target_path", kRpc));
  ASSIGN_OR_RETURN(VolumeLocks::Guard guard, locks_.TryLock(id, kRpc));
  if (deps_.mounter->FindMount(request.target_path()).ok()) {
    RETURN_IF_ERROR(deps_.mounter->Unmount(request.target_path()));
  }
  struct stat info {};
  if (::lstat(request.target_path().c_str(), &info) == 0) {
    const int removed = S_ISDIR(info.st_mode) ? ::rmdir(request.target_path().c_str())
                                              : ::unlink(request.target_path().c_str());
    if (removed != 0 && errno != ENOENT) {
      return ErrnoToStatus(
          errno, fmt::format("volume {}: remove target_path {}", id, request.target_path()));
    }
  }
  // The read-only view of a block publish, if this target had one.
  if (absl::Status closed =
          deps_.engine->CloseReadOnlyView(ReadOnlyViewName(id, request.target_path()));
      !closed.ok()) {
    return Annotate(closed, fmt::format("volume {}: target_path {}", id, request.target_path()));
  }
  absl::StatusOr<VolumeStateRecord> state = deps_.state->Get(id);
  if (state.ok() && state->published.erase(request.target_path()) > 0) {
    RETURN_IF_ERROR(deps_.state->Put(*state));
  }
  Log("volume unpublished", id, {{"target_path", request.target_path()}});
  return absl::OkStatus();
}

// --- NodeGetVolumeStats ---

absl::Status NodeService::GetVolumeStats(const csi::NodeGetVolumeStatsRequest& request,
                                         csi::NodeGetVolumeStatsResponse* response) {
  constexpr std::string_view kRpc = "NodeGetVolumeStats";
  const std::string& id = request.volume_id();
  RETURN_IF_ERROR(ValidateVolumeId(id, kRpc));
  RETURN_IF_ERROR(ValidatePath(request.volume_path(), "volume_path", kRpc));
  if (!PathExists(request.volume_path())) {
    return absl::NotFoundError(
        fmt::format("volume {}: volume_path {} does not exist", id, request.volume_path()));
  }
  absl::StatusOr<VolumeStateRecord> state = deps_.state->Get(id);
  if (!state.ok()) {
    if (state.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(fmt::format("volume {} is not staged on this node", id));
    }
    return state.status();
  }
  csi::VolumeCondition* condition = response->mutable_volume_condition();
  absl::StatusOr<crypt::VolumeStatus> status = deps_.engine->Status(state->mapper_name);
  if (!status.ok()) {
    condition->set_abnormal(true);
    condition->set_message(fmt::format("the crypt mapping {} is gone ({}); restage the volume",
                                       state->mapper_name, std::string(status.status().message())));
  } else if (std::uint64_t logged = LoggedIntegrityErrors(*state); logged > 0) {
    condition->set_abnormal(true);
    condition->set_message(fmt::format(
        "dm-crypt logged {} integrity error(s) for this volume since it was staged (at least: "
        "the kernel rate-limits them): the ciphertext was altered outside this node; reads of "
        "those sectors fail",
        logged));
  } else if (status->integrity_mismatches > 0) {
    condition->set_abnormal(true);
    condition->set_message(fmt::format(
        "dm-integrity detected {} corrupted sector(s) since the volume was opened: the "
        "ciphertext was altered outside this node; reads of those sectors fail with EIO",
        status->integrity_mismatches));
  } else {
    condition->set_abnormal(false);
    condition->set_message("healthy");
  }

  if (state->block) {
    if (status.ok()) {
      csi::VolumeUsage* bytes = response->add_usage();
      bytes->set_unit(csi::VolumeUsage::BYTES);
      bytes->set_total(static_cast<std::int64_t>(status->size_bytes));
    }
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(const FilesystemUsage usage, deps_.mounter->Usage(request.volume_path()));
  csi::VolumeUsage* bytes = response->add_usage();
  bytes->set_unit(csi::VolumeUsage::BYTES);
  bytes->set_total(static_cast<std::int64_t>(usage.total_bytes));
  bytes->set_available(static_cast<std::int64_t>(usage.available_bytes));
  bytes->set_used(static_cast<std::int64_t>(usage.used_bytes));
  csi::VolumeUsage* inodes = response->add_usage();
  inodes->set_unit(csi::VolumeUsage::INODES);
  inodes->set_total(static_cast<std::int64_t>(usage.total_inodes));
  inodes->set_available(static_cast<std::int64_t>(usage.available_inodes));
  inodes->set_used(static_cast<std::int64_t>(usage.used_inodes));
  return absl::OkStatus();
}

std::uint64_t NodeService::LoggedIntegrityErrors(const VolumeStateRecord& state) const {
  if (deps_.kernel_log == nullptr || state.integrity == "none") return 0;
  std::vector<std::string> devices;
  for (const std::string& name : {state.mapper_name, state.mapper_name + "_dif"}) {
    absl::StatusOr<crypt::DeviceNumber> number = deps_.devices->Number(crypt::MapperPath(name));
    if (number.ok()) devices.push_back(fmt::format("dm-{}", number->minor));
  }
  absl::StatusOr<std::uint64_t> count =
      deps_.kernel_log->CountIntegrityErrors(devices, state.kernel_log_sequence);
  if (!count.ok()) {
    Log("cannot read the kernel log for integrity errors", state.volume_id,
        {{"error", std::string(count.status().message())}});
    return 0;
  }
  return *count;
}

// --- NodeExpandVolume ---

absl::Status NodeService::Expand(const csi::NodeExpandVolumeRequest& request,
                                 csi::NodeExpandVolumeResponse* response) {
  constexpr std::string_view kRpc = "NodeExpandVolume";
  const std::string& id = request.volume_id();
  RETURN_IF_ERROR(ValidateVolumeId(id, kRpc));
  RETURN_IF_ERROR(ValidatePath(request.volume_path(), "volume_path", kRpc));
  if (request.capacity_range().required_bytes() < 0 || request.capacity_range().limit_bytes() < 0) {
    return absl::InvalidArgumentError(
        fmt::format("{}: capacity_range bytes must not be negative", kRpc));
  }
  ASSIGN_OR_RETURN(VolumeLocks::Guard guard, locks_.TryLock(id, kRpc));
  absl::StatusOr<VolumeStateRecord> state = deps_.state->Get(id);
  if (!state.ok()) {
    if (state.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(fmt::format("volume {} is not staged on this node", id));
    }
    return state.status();
  }
  if (state->phase != StagePhase::kStaged) {
    return absl::FailedPreconditionError(
        fmt::format("volume {} is not fully staged; repeat NodeStageVolume first", id));
  }
  if (!PathExists(request.volume_path())) {
    return absl::NotFoundError(
        fmt::format("volume {}: volume_path {} does not exist", id, request.volume_path()));
  }
  RETURN_IF_ERROR(deps_.loops->RefreshCapacity(state->loop_device));
  absl::StatusOr<kms::client::VolumeKey> key = deps_.keys->GetVolumeKey(id);
  if (!key.ok()) return FromKeyService(key.status(), id, "fetching the volume key to resize");
  ASSIGN_OR_RETURN(const crypt::VolumeRecord record, crypt::ParseVolumeRecord(key->record_json));
  RETURN_IF_ERROR(
      deps_.engine->Resize(state->loop_device, state->mapper_name, record, key->dek, {}));
  key->dek.Clear();
  if (!state->block) {
    RETURN_IF_ERROR(deps_.mounter->GrowFilesystem(crypt::MapperPath(state->mapper_name),
                                                  state->staging_path, state->fs_type));
  }
  for (const std::string& target : state->published) {
    // Read-only views of block publishes grow with the volume.
    absl::Status grown =
        deps_.engine->ResizeReadOnlyView(state->mapper_name, ReadOnlyViewName(id, target));
    if (!grown.ok() && !absl::IsNotFound(grown)) return grown;
  }
  ASSIGN_OR_RETURN(const crypt::VolumeStatus status, deps_.engine->Status(state->mapper_name));
  const auto size = static_cast<std::int64_t>(status.size_bytes);
  if (request.capacity_range().required_bytes() > 0 &&
      size < request.capacity_range().required_bytes()) {
    return absl::OutOfRangeError(fmt::format(
        "volume {}: the device holds {} bytes after the resize, less than the {} required; "
        "expand the volume in the controller first (ControllerExpandVolume)",
        id, size, request.capacity_range().required_bytes()));
  }
  response->set_capacity_bytes(size);
  Log("volume expanded", id, {{"capacity_bytes", std::to_string(size)}});
  return absl::OkStatus();
}

}  // namespace cloak::node
