// EtcdKeyStore: opening, the mutation machinery, and volumes.

#include "kms/store/etcd/store.h"

#include <random>
#include <utility>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/store/audit_chain.h"
#include "kms/store/validation.h"

namespace cloak::kms::etcd {
namespace {

absl::Status AlreadyExists(const Volume& existing) {
  return absl::AlreadyExistsError(fmt::format("volume '{}' already exists (state {})",
                                              existing.volume_id, VolumeStateName(existing.state)));
}

absl::Status UnknownVolume(std::string_view volume_id) {
  return absl::NotFoundError(fmt::format("volume '{}' is not in the key store", volume_id));
}

etcdserverpb::RequestOp PointRead(const std::string& key) {
  etcdserverpb::RequestOp op;
  op.mutable_request_range()->set_key(key);
  return op;
}

// Audit events in one Txn at most: each adds a compare and a put, and etcd refuses a
// Txn with more than 128 operations of either kind by default (--max-txn-ops).
constexpr std::size_t kMaxAuditBatch = 100;

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdKeyStore>> EtcdKeyStore::Open(const EtcdOptions& options) {
  if (options.call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("etcd call_timeout: must be positive");
  }
  if (options.max_txn_attempts < 1) {
    return absl::InvalidArgumentError("etcd max_txn_attempts: must be at least 1");
  }
  if (options.key_prefix.empty() || options.key_prefix.front() != '/') {
    return absl::InvalidArgumentError("etcd key_prefix: must start with '/'");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Client> client,
                   Client::Create(ConnectionOptions{options.endpoints, options.ca_file,
                                                    options.cert_file, options.key_file}));
  std::unique_ptr<EtcdKeyStore> store(new EtcdKeyStore(std::move(client), options));
  // The first read proves that etcd answers and that the audit head is readable.
  std::vector<std::string> head = {store->keys_.AuditHead()};
  ASSIGN_OR_RETURN(etcdserverpb::TxnResponse read,
                   store->ReadKeys(head, store->Deadline(), "opening the etcd key store"));
  RETURN_IF_ERROR(store->ReadHead(Snapshot(head, read)).status());
  return store;
}

EtcdKeyStore::EtcdKeyStore(std::unique_ptr<Client> client, const EtcdOptions& options)
    : client_(std::move(client)),
      options_(options),
      keys_(options.key_prefix),
      clock_(options.clock != nullptr ? *options.clock : system_clock_),
      audit_batcher_([this](const std::vector<AuditEvent>& events) { return CommitAudit(events); },
                     kMaxAuditBatch) {}

absl::Time EtcdKeyStore::Now() const {
  return absl::FromUnixMicros(absl::ToUnixMicros(clock_.Now()));
}

absl::StatusOr<etcdserverpb::TxnResponse> EtcdKeyStore::ReadKeys(
    const std::vector<std::string>& keys, absl::Time deadline, std::string_view what) {
  etcdserverpb::TxnRequest request;
  for (const std::string& key : keys) *request.add_success() = PointRead(key);
  ASSIGN_OR_RETURN(etcdserverpb::TxnResponse response,
                   client_->Txn(request, deadline, what, Retry::kUntilDeadline));
  if (!response.succeeded() || response.responses_size() != static_cast<int>(keys.size())) {
    return absl::InternalError(fmt::format("{}: etcd answered a read of {} keys with {} results",
                                           what, keys.size(), response.responses_size()));
  }
  return response;
}

absl::StatusOr<etcdserverpb::RangeResponse> EtcdKeyStore::ReadRange(
    std::string begin, std::string end, std::int64_t limit, absl::Time deadline,
    std::string_view what, bool keys_only) {
  etcdserverpb::RangeRequest request;
  request.set_key(std::move(begin));
  request.set_range_end(std::move(end));
  request.set_limit(limit);
  request.set_keys_only(keys_only);
  return client_->Range(request, deadline, what);
}

absl::StatusOr<std::optional<Volume>> EtcdKeyStore::FindVolume(const Snapshot& snapshot,
                                                               std::string_view volume_id) const {
  std::string key = keys_.Volume(volume_id);
  const mvccpb::KeyValue* kv = snapshot.Find(key);
  if (kv == nullptr) return std::nullopt;
  return DecodeVolume(kv->value(), key);
}

absl::StatusOr<AuditHead> EtcdKeyStore::ReadHead(const Snapshot& snapshot) const {
  std::string key = keys_.AuditHead();
  const mvccpb::KeyValue* kv = snapshot.Find(key);
  if (kv == nullptr) return AuditHead{};
  return DecodeAuditHead(kv->value(), key);
}

void EtcdKeyStore::WriteVolume(Writes& writes, const Volume* old, const Volume& row) const {
  std::string value = EncodeVolume(row);
  bool old_indexed = old != nullptr && !old->destroyed();
  bool new_indexed = !row.destroyed();
  if (old_indexed && (!new_indexed || old->kek_version != row.kek_version)) {
    writes.Delete(keys_.Kek(old->kek_version, old->volume_id));
  }
  if (new_indexed) writes.Put(keys_.Kek(row.kek_version, row.volume_id), value);
  writes.Put(keys_.Volume(row.volume_id), std::move(value));
}

absl::StatusOr<etcdserverpb::TxnRequest> EtcdKeyStore::BuildCommit(const Snapshot& snapshot,
                                                                   const Writes& writes,
                                                                   AuditEntry* last_entry) const {
  etcdserverpb::TxnRequest request;
  for (const auto& [key, revision] : snapshot.revisions()) {
    *request.add_compare() = RevisionIs(key, revision);
  }
  for (const std::string& key : writes.absent()) {
    if (!snapshot.revisions().contains(key)) *request.add_compare() = RevisionIs(key, 0);
  }
  for (const etcdserverpb::RequestOp& op : writes.ops()) *request.add_success() = op;
  if (writes.audit().empty()) {
    return absl::InternalError("an etcd key store mutation came without its audit event");
  }
  ASSIGN_OR_RETURN(AuditHead head, ReadHead(snapshot));
  for (const auto& [event, time] : writes.audit()) {
    *last_entry = NextAuditEntry(head, time, event);
    head = AuditHead{last_entry->sequence, last_entry->hash};
    std::string entry_key = keys_.Audit(last_entry->sequence);
    // The head's compare already keeps two writers off one sequence number; this one
    // also refuses to overwrite an entry should the head ever lag behind the log.
    *request.add_compare() = RevisionIs(entry_key, 0);
    etcdserverpb::RequestOp& put_entry = *request.add_success();
    put_entry.mutable_request_put()->set_key(entry_key);
    put_entry.mutable_request_put()->set_value(EncodeAuditEntry(*last_entry));
  }
  etcdserverpb::RequestOp& put_head = *request.add_success();
  put_head.mutable_request_put()->set_key(keys_.AuditHead());
  put_head.mutable_request_put()->set_value(EncodeAuditHead(head));
  return request;
}

void EtcdKeyStore::Backoff(int attempt, absl::Time deadline) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  absl::Duration cap = absl::Milliseconds(1) * (1 << std::min(attempt, 6));
  std::uniform_int_distribution<std::int64_t> pick(0, absl::ToInt64Microseconds(cap));
  absl::Duration pause = absl::Microseconds(pick(random));
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return;
  absl::SleepFor(std::min(pause, left));
}

void EtcdKeyStore::CompactTo(std::int64_t revision) {
  if (!options_.compact_after_destroy) return;
  // Best effort: a failure (another replica compacted further already, or etcd went
  // away) leaves the history to the next destroy's compaction or to etcd's own
  // --auto-compaction; the destroy itself is committed either way.
  (void)client_->Compact(revision, Deadline());
}

absl::Status EtcdKeyStore::CreateVolume(const NewVolume& volume, const AuditEvent& event,
                                        Volume* stored) {
  RETURN_IF_ERROR(ValidateNewVolume(volume));
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, volume.volume_id));
  absl::StatusOr<Volume> created = Mutate<Volume>(
      fmt::format("creating volume '{}'", volume.volume_id), {keys_.Volume(volume.volume_id)},
      [&](const Snapshot& snapshot, Writes& writes) -> absl::StatusOr<Volume> {
        ASSIGN_OR_RETURN(std::optional<Volume> existing, FindVolume(snapshot, volume.volume_id));
        if (existing) {
          *stored = *existing;
          return AlreadyExists(*existing);
        }
        Volume row;
        row.volume_id = volume.volume_id;
        row.record_json = volume.record_json;
        row.state = VolumeState::kCreated;
        row.key_id = volume.volume_id;
        row.key_version = volume.key_version;
        row.kek_version = volume.kek_version;
        row.wrapped_dek = volume.wrapped_dek;
        row.labels = volume.labels;
        row.created_at = row.updated_at = Now();
        row.revision = 1;
        WriteVolume(writes, nullptr, row);
        writes.Append(bound, row.created_at);
        return row;
      });
  if (!created.ok()) return created.status();
  *stored = *std::move(created);
  return absl::OkStatus();
}

absl::StatusOr<Volume> EtcdKeyStore::GetVolume(std::string_view volume_id) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id, "volume_id"));
  std::string key = keys_.Volume(volume_id);
  ASSIGN_OR_RETURN(
      etcdserverpb::RangeResponse read,
      ReadRange(key, "", 0, Deadline(), fmt::format("reading volume '{}'", volume_id)));
  if (read.kvs_size() == 0) return UnknownVolume(volume_id);
  return DecodeVolume(read.kvs(0).value(), key);
}

absl::StatusOr<Volume> EtcdKeyStore::GetVolumeKey(std::string_view volume_id) {
  ASSIGN_OR_RETURN(Volume row, GetVolume(volume_id));
  if (row.destroyed()) {
    return absl::NotFoundError(
        fmt::format("volume '{}' was destroyed; its key no longer exists", volume_id));
  }
  return row;
}

absl::StatusOr<Volume> EtcdKeyStore::CompareAndSetState(std::string_view volume_id,
                                                        VolumeState expected, VolumeState next,
                                                        const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id, "volume_id"));
  if (expected != VolumeState::kCreated || next != VolumeState::kFormatted) {
    return absl::InvalidArgumentError(
        fmt::format("volume state cannot go from {} to {}; only created to formatted",
                    VolumeStateName(expected), VolumeStateName(next)));
  }
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, volume_id));
  return Mutate<Volume>(
      fmt::format("changing the state of volume '{}'", volume_id), {keys_.Volume(volume_id)},
      [&](const Snapshot& snapshot, Writes& writes) -> absl::StatusOr<Volume> {
        ASSIGN_OR_RETURN(std::optional<Volume> row, FindVolume(snapshot, volume_id));
        if (!row) return UnknownVolume(volume_id);
        if (row->state != expected) {
          return absl::FailedPreconditionError(fmt::format("volume '{}' is {}, not {}", volume_id,
                                                           VolumeStateName(row->state),
                                                           VolumeStateName(expected)));
        }
        Volume old = *row;
        row->state = next;
        row->updated_at = Now();
        ++row->revision;
        WriteVolume(writes, &old, *row);
        writes.Append(bound, row->updated_at);
        return *std::move(row);
      });
}

absl::StatusOr<Volume> EtcdKeyStore::DestroyVolume(std::string_view volume_id,
                                                   const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id, "volume_id"));
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, volume_id));
  return Mutate<Volume>(fmt::format("destroying volume '{}'", volume_id), {keys_.Volume(volume_id)},
                        [&](const Snapshot& snapshot, Writes& writes) -> absl::StatusOr<Volume> {
                          ASSIGN_OR_RETURN(std::optional<Volume> row,
                                           FindVolume(snapshot, volume_id));
                          if (!row) return UnknownVolume(volume_id);
                          absl::Time now = Now();
                          if (!row->destroyed()) {
                            Volume old = *row;
                            row->state = VolumeState::kDestroyed;
                            row->wrapped_dek = WrappedKey();
                            row->updated_at = now;
                            ++row->revision;
                            WriteVolume(writes, &old, *row);
                            writes.CompactAfterCommit();
                          }
                          writes.Append(bound, now);
                          return *std::move(row);
                        });
}

absl::Status EtcdKeyStore::CloneVolume(const CloneRequest& clone, const AuditEvent& event,
                                       Volume* stored) {
  RETURN_IF_ERROR(ValidateCloneRequest(clone));
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, clone.volume_id));
  absl::StatusOr<Volume> created = Mutate<Volume>(
      fmt::format("cloning volume '{}' to '{}'", clone.source_volume_id, clone.volume_id),
      {keys_.Volume(clone.volume_id), keys_.Volume(clone.source_volume_id)},
      [&](const Snapshot& snapshot, Writes& writes) -> absl::StatusOr<Volume> {
        ASSIGN_OR_RETURN(std::optional<Volume> existing, FindVolume(snapshot, clone.volume_id));
        if (existing) {
          *stored = *existing;
          return AlreadyExists(*existing);
        }
        ASSIGN_OR_RETURN(std::optional<Volume> source,
                         FindVolume(snapshot, clone.source_volume_id));
        if (!source) return UnknownVolume(clone.source_volume_id);
        if (source->destroyed()) {
          return absl::FailedPreconditionError(
              fmt::format("cannot clone volume '{}': it was destroyed", clone.source_volume_id));
        }
        Volume row = *std::move(source);
        row.volume_id = clone.volume_id;
        if (!clone.record_json.empty()) row.record_json = clone.record_json;
        row.labels = clone.labels;
        row.source_volume_id = clone.source_volume_id;
        row.created_at = row.updated_at = Now();
        row.revision = 1;
        WriteVolume(writes, nullptr, row);
        writes.Append(bound, row.created_at);
        return row;
      });
  if (!created.ok()) return created.status();
  *stored = *std::move(created);
  return absl::OkStatus();
}

absl::StatusOr<VolumePage> EtcdKeyStore::ListVolumes(const ListVolumesRequest& request) {
  ASSIGN_OR_RETURN(int page_size, NormalizePageSize(request.page_size, "page_size"));
  ASSIGN_OR_RETURN(std::string after, DecodePageToken(request.page_token));
  std::string prefix = keys_.VolumesPrefix();
  // Keys strictly after the previous page's last id: that id followed by a NUL byte.
  std::string begin = after.empty() ? prefix : keys_.Volume(after) + std::string(1, '\0');
  // One more than asked tells whether another page follows.
  ASSIGN_OR_RETURN(
      etcdserverpb::RangeResponse read,
      ReadRange(begin, PrefixEnd(prefix), page_size + 1, Deadline(), "listing volumes"));
  VolumePage page;
  for (const mvccpb::KeyValue& kv : read.kvs()) {
    if (static_cast<int>(page.volumes.size()) == page_size) {
      page.next_page_token = EncodePageToken(page.volumes.back().volume_id);
      break;
    }
    ASSIGN_OR_RETURN(Volume volume, DecodeVolume(kv.value(), kv.key()));
    page.volumes.push_back(std::move(volume));
  }
  return page;
}

}  // namespace cloak::kms::etcd
