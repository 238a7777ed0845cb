// EtcdKeyStore: KEK rotation, policies and the audit log.

#include <charconv>
#include <utility>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/store/audit_chain.h"
#include "kms/store/etcd/store.h"
#include "kms/store/validation.h"

namespace cloak::kms::etcd {
namespace {

constexpr int kBatch = 1000;

// The key right after `key` in etcd's byte order.
std::string After(std::string key) {
  key.push_back('\0');
  return key;
}

// The sequence number at the end of an audit key ("…/00000000000000000042" → 42).
std::uint64_t SequenceOf(std::string_view key) {
  std::uint64_t sequence = 0;
  std::string_view digits = key.substr(key.size() >= 20 ? key.size() - 20 : 0);
  std::from_chars(digits.data(), digits.data() + digits.size(), sequence);
  return sequence;
}

}  // namespace

absl::StatusOr<std::vector<Volume>> EtcdKeyStore::ListByKekVersion(std::uint32_t kek_version,
                                                                   std::string_view after_volume_id,
                                                                   int limit) {
  if (limit <= 0 || limit > kMaxPageSize) {
    return absl::InvalidArgumentError(fmt::format("limit must be 1 to {}", kMaxPageSize));
  }
  std::string prefix = keys_.KekPrefix(kek_version);
  std::string begin =
      after_volume_id.empty() ? prefix : After(keys_.Kek(kek_version, after_volume_id));
  ASSIGN_OR_RETURN(etcdserverpb::RangeResponse read,
                   ReadRange(begin, PrefixEnd(prefix), limit, Deadline(),
                             fmt::format("listing volumes under KEK version {}", kek_version)));
  std::vector<Volume> volumes;
  for (const mvccpb::KeyValue& kv : read.kvs()) {
    ASSIGN_OR_RETURN(Volume volume, DecodeVolume(kv.value(), kv.key()));
    volumes.push_back(std::move(volume));
  }
  return volumes;
}

absl::StatusOr<std::map<std::uint32_t, std::int64_t>> EtcdKeyStore::CountByKekVersion() {
  absl::Time deadline = Deadline();
  std::string prefix = keys_.KeksPrefix();
  for (int attempt = 0;; ++attempt) {
    etcdserverpb::RangeRequest request;
    request.set_key(prefix);
    request.set_range_end(PrefixEnd(prefix));
    request.set_limit(kBatch);
    request.set_keys_only(true);
    std::map<std::uint32_t, std::int64_t> counts;
    absl::Status failed;
    while (true) {
      absl::StatusOr<etcdserverpb::RangeResponse> read =
          client_->Range(request, deadline, "counting volumes by KEK version");
      if (!read.ok()) {
        failed = read.status();
        break;
      }
      // Every batch reads at the first one's revision, so the counts are one snapshot.
      if (request.revision() == 0) request.set_revision(read->header().revision());
      for (const mvccpb::KeyValue& kv : read->kvs()) {
        ASSIGN_OR_RETURN(std::uint32_t version, keys_.KekVersionOf(kv.key()));
        ++counts[version];
      }
      if (!read->more() || read->kvs_size() == 0) return counts;
      request.set_key(After(read->kvs(read->kvs_size() - 1).key()));
    }
    // A destroy's compaction can overtake the pinned revision between batches (etcd
    // answers OUT_OF_RANGE): count again from a fresh snapshot.
    if (failed.code() != absl::StatusCode::kFailedPrecondition || attempt == 2) return failed;
  }
}

absl::StatusOr<Volume> EtcdKeyStore::RewrapVolume(std::string_view volume_id,
                                                  std::int64_t expected_revision,
                                                  const WrappedKey& new_wrapped,
                                                  std::uint32_t new_kek_version,
                                                  const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateVolumeId(volume_id, "volume_id"));
  RETURN_IF_ERROR(ValidateWrappedKey(new_wrapped, "new_wrapped"));
  if (new_kek_version == 0) {
    return absl::InvalidArgumentError("new_kek_version: must be at least 1");
  }
  ASSIGN_OR_RETURN(AuditEvent bound, BindAuditEvent(event, volume_id));
  return Mutate<Volume>(
      fmt::format("rewrapping volume '{}'", volume_id), {keys_.Volume(volume_id), keys_.Rotation()},
      [&](const Snapshot& snapshot, Writes& writes) -> absl::StatusOr<Volume> {
        ASSIGN_OR_RETURN(std::optional<Volume> row, FindVolume(snapshot, volume_id));
        if (!row) {
          return absl::NotFoundError(fmt::format("volume '{}' is not in the key store", volume_id));
        }
        if (row->destroyed()) {
          return absl::NotFoundError(
              fmt::format("volume '{}' was destroyed; there is no key to rewrap", volume_id));
        }
        if (row->revision != expected_revision) {
          return absl::AbortedError(
              fmt::format("volume '{}' changed (revision {}, expected {}); read it again",
                          volume_id, row->revision, expected_revision));
        }
        absl::Time now = Now();
        Volume old = *row;
        row->wrapped_dek = new_wrapped;
        row->kek_version = new_kek_version;
        row->updated_at = now;
        ++row->revision;
        WriteVolume(writes, &old, *row);
        std::string rotation_key = keys_.Rotation();
        if (const mvccpb::KeyValue* kv = snapshot.Find(rotation_key)) {
          ASSIGN_OR_RETURN(RotationProgress progress, DecodeRotation(kv->value(), rotation_key));
          if (progress.state == RotationState::kRunning &&
              progress.target_kek_version == new_kek_version) {
            ++progress.done;
            progress.updated_at = now;
            ++progress.revision;
            writes.Put(rotation_key, EncodeRotation(progress));
          }
        }
        writes.Append(bound, now);
        return *std::move(row);
      });
}

absl::StatusOr<RotationProgress> EtcdKeyStore::GetRotationProgress() {
  std::string key = keys_.Rotation();
  ASSIGN_OR_RETURN(etcdserverpb::RangeResponse read,
                   ReadRange(key, "", 0, Deadline(), "reading the KEK rotation record"));
  if (read.kvs_size() == 0) return absl::NotFoundError("no KEK rotation was ever started");
  return DecodeRotation(read.kvs(0).value(), key);
}

absl::StatusOr<RotationProgress> EtcdKeyStore::PutRotationProgress(const RotationProgress& progress,
                                                                   std::int64_t expected_revision,
                                                                   const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateRotationProgress(progress));
  RETURN_IF_ERROR(ValidateAuditEvent(event));
  std::string key = keys_.Rotation();
  return Mutate<RotationProgress>(
      "writing the KEK rotation record", {key},
      [&](const Snapshot& snapshot, Writes& writes) -> absl::StatusOr<RotationProgress> {
        std::optional<RotationProgress> current;
        if (const mvccpb::KeyValue* kv = snapshot.Find(key)) {
          ASSIGN_OR_RETURN(current, DecodeRotation(kv->value(), key));
        }
        std::int64_t current_revision = current ? current->revision : 0;
        if (current_revision != expected_revision) {
          return absl::AbortedError(fmt::format(
              "the KEK rotation record changed (revision {}, expected {}); read it again",
              current_revision, expected_revision));
        }
        absl::Time now = Now();
        RotationProgress next = progress;
        next.started_at = current && current->target_kek_version == progress.target_kek_version
                              ? current->started_at
                              : now;
        next.updated_at = now;
        next.revision = current_revision + 1;
        writes.Put(key, EncodeRotation(next));
        writes.Append(event, now);
        return next;
      });
}

absl::StatusOr<PolicyRecord> EtcdKeyStore::PutPolicy(std::string_view name,
                                                     std::string_view document,
                                                     std::int64_t expected_version,
                                                     const AuditEvent& event) {
  RETURN_IF_ERROR(ValidatePolicy(name, document));
  RETURN_IF_ERROR(ValidateAuditEvent(event));
  std::string what = fmt::format("storing policy '{}'", name);
  absl::Time deadline = Deadline();
  return Mutate<PolicyRecord>(
      what, {}, [&](const Snapshot&, Writes& writes) -> absl::StatusOr<PolicyRecord> {
        // The latest version comes from a range read outside the snapshot; the commit's
        // compare that the next version's key is still absent (and the audit head's)
        // keeps it from going stale unnoticed.
        std::string prefix = keys_.PolicyPrefix(name);
        etcdserverpb::RangeRequest request;
        request.set_key(prefix);
        request.set_range_end(PrefixEnd(prefix));
        request.set_limit(1);
        request.set_sort_order(etcdserverpb::RangeRequest::DESCEND);
        request.set_sort_target(etcdserverpb::RangeRequest::KEY);
        ASSIGN_OR_RETURN(etcdserverpb::RangeResponse read, client_->Range(request, deadline, what));
        std::int64_t latest = 0;
        if (read.kvs_size() > 0) {
          ASSIGN_OR_RETURN(PolicyRecord record,
                           DecodePolicy(read.kvs(0).value(), read.kvs(0).key()));
          latest = record.version;
        }
        if (latest != expected_version) {
          return absl::AbortedError(
              fmt::format("policy '{}' is at version {}, not {}; read it again", name, latest,
                          expected_version));
        }
        PolicyRecord record{std::string(name), latest + 1, std::string(document), Now()};
        std::string key = keys_.Policy(name, record.version);
        writes.ExpectAbsent(key);
        writes.Put(key, EncodePolicy(record));
        writes.Append(event, record.created_at);
        return record;
      });
}

absl::StatusOr<PolicyRecord> EtcdKeyStore::GetPolicy(std::string_view name, std::int64_t version) {
  if (version < 0) return absl::InvalidArgumentError("policy version: must not be negative");
  // Names outside the allowed alphabet cannot be stored; they are simply not found.
  bool storable = ValidatePolicy(name, "x").ok();
  std::string what = fmt::format("reading policy '{}'", name);
  etcdserverpb::RangeResponse read;
  if (storable) {
    std::string prefix = keys_.PolicyPrefix(name);
    etcdserverpb::RangeRequest request;
    if (version == 0) {
      request.set_key(prefix);
      request.set_range_end(PrefixEnd(prefix));
      request.set_limit(1);
      request.set_sort_order(etcdserverpb::RangeRequest::DESCEND);
      request.set_sort_target(etcdserverpb::RangeRequest::KEY);
    } else {
      request.set_key(keys_.Policy(name, version));
    }
    ASSIGN_OR_RETURN(read, client_->Range(request, Deadline(), what));
  }
  if (read.kvs_size() == 0) {
    return absl::NotFoundError(version == 0
                                   ? fmt::format("policy '{}' is not in the key store", name)
                                   : fmt::format("policy '{}' has no version {}", name, version));
  }
  return DecodePolicy(read.kvs(0).value(), read.kvs(0).key());
}

absl::StatusOr<AuditEntry> EtcdKeyStore::AppendAudit(const AuditEvent& event) {
  RETURN_IF_ERROR(ValidateAuditEvent(event));
  return audit_batcher_.Append(event);
}

absl::StatusOr<std::vector<AuditEntry>> EtcdKeyStore::CommitAudit(
    const std::vector<AuditEvent>& events) {
  // The entries are only known once linked to the head Mutate read; BuildCommit links
  // them the same way from the same head and time.
  return Mutate<std::vector<AuditEntry>>(
      "appending audit events", {},
      [&](const Snapshot& snapshot, Writes& writes) -> absl::StatusOr<std::vector<AuditEntry>> {
        ASSIGN_OR_RETURN(AuditHead head, ReadHead(snapshot));
        const absl::Time now = Now();
        std::vector<AuditEntry> entries;
        entries.reserve(events.size());
        for (const AuditEvent& event : events) {
          entries.push_back(NextAuditEntry(head, now, event));
          head = AuditHead{entries.back().sequence, entries.back().hash};
          writes.Append(event, now);
        }
        return entries;
      });
}

absl::StatusOr<std::vector<AuditEntry>> EtcdKeyStore::ListAudit(std::uint64_t from_sequence,
                                                                int limit) {
  ASSIGN_OR_RETURN(int page_size, NormalizePageSize(limit, "limit"));
  std::string prefix = keys_.AuditPrefix();
  ASSIGN_OR_RETURN(etcdserverpb::RangeResponse read,
                   ReadRange(keys_.Audit(from_sequence), PrefixEnd(prefix), page_size, Deadline(),
                             "listing the audit log"));
  std::vector<AuditEntry> entries;
  for (const mvccpb::KeyValue& kv : read.kvs()) {
    ASSIGN_OR_RETURN(AuditEntry entry, DecodeAuditEntry(kv.value(), kv.key()));
    entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<AuditHead> EtcdKeyStore::VerifyAuditChain() {
  absl::Time deadline = Deadline();
  // The head first: every entry up to it must be there, and the one at its sequence
  // must carry its hash; entries appended meanwhile are checked too.
  std::string head_key = keys_.AuditHead();
  ASSIGN_OR_RETURN(etcdserverpb::RangeResponse head_read,
                   ReadRange(head_key, "", 0, deadline, "reading the audit head"));
  AuditHead recorded;
  if (head_read.kvs_size() > 0) {
    absl::StatusOr<AuditHead> decoded = DecodeAuditHead(head_read.kvs(0).value(), head_key);
    if (!decoded.ok()) {
      return absl::DataLossError(
          fmt::format("the audit head is unreadable: {}", std::string(decoded.status().message())));
    }
    recorded = *decoded;
  }
  AuditChainVerifier verifier;
  std::string prefix = keys_.AuditPrefix();
  std::string begin = prefix;
  bool matched_head = recorded.sequence == 0;
  while (true) {
    ASSIGN_OR_RETURN(
        etcdserverpb::RangeResponse read,
        ReadRange(begin, PrefixEnd(prefix), kBatch, deadline, "verifying the audit log"));
    for (const mvccpb::KeyValue& kv : read.kvs()) {
      absl::StatusOr<AuditEntry> entry = DecodeAuditEntry(kv.value(), kv.key());
      if (!entry.ok()) {
        return absl::DataLossError(fmt::format("audit log broken at sequence {}: {}",
                                               SequenceOf(kv.key()),
                                               std::string(entry.status().message())));
      }
      if (entry->sequence != SequenceOf(kv.key())) {
        return absl::DataLossError(
            fmt::format("audit log broken at sequence {}: the entry stored there says sequence {}",
                        SequenceOf(kv.key()), entry->sequence));
      }
      RETURN_IF_ERROR(verifier.Add(*entry));
      if (entry->sequence == recorded.sequence) {
        if (entry->hash != recorded.hash) {
          return absl::DataLossError(
              fmt::format("audit log broken at sequence {}: its hash differs from the audit head's",
                          recorded.sequence));
        }
        matched_head = true;
      }
    }
    if (!read.more() || read.kvs_size() == 0) break;
    begin = After(read.kvs(read.kvs_size() - 1).key());
  }
  if (!matched_head) {
    return absl::DataLossError(fmt::format(
        "audit log broken at sequence {}: the log ends at sequence {} but its head records "
        "sequence {}; entries were removed",
        verifier.head().sequence + 1, verifier.head().sequence, recorded.sequence));
  }
  return verifier.head();
}

}  // namespace cloak::kms::etcd
