#include "kms/store/etcd/mutation.h"

#include <utility>

namespace cloak::kms::etcd {

Snapshot::Snapshot(const std::vector<std::string>& keys,
                   const etcdserverpb::TxnResponse& response) {
  for (int i = 0; i < response.responses_size() && i < static_cast<int>(keys.size()); ++i) {
    const etcdserverpb::RangeResponse& range = response.responses(i).response_range();
    if (range.kvs_size() > 0) {
      found_[keys[i]] = range.kvs(0);
      revisions_[keys[i]] = range.kvs(0).mod_revision();
    } else {
      revisions_[keys[i]] = 0;
    }
  }
}

const mvccpb::KeyValue* Snapshot::Find(std::string_view key) const {
  auto it = found_.find(key);
  return it == found_.end() ? nullptr : &it->second;
}

void Writes::Put(std::string key, std::string value) {
  etcdserverpb::RequestOp& op = ops_.emplace_back();
  op.mutable_request_put()->set_key(std::move(key));
  op.mutable_request_put()->set_value(std::move(value));
}

void Writes::Delete(std::string key) {
  etcdserverpb::RequestOp& op = ops_.emplace_back();
  op.mutable_request_delete_range()->set_key(std::move(key));
}

void Writes::ExpectAbsent(std::string key) { absent_.push_back(std::move(key)); }

void Writes::Append(AuditEvent event, absl::Time time) {
  audit_.emplace_back(std::move(event), time);
}

etcdserverpb::Compare RevisionIs(const std::string& key, std::int64_t mod_revision) {
  etcdserverpb::Compare compare;
  compare.set_key(key);
  compare.set_result(etcdserverpb::Compare::EQUAL);
  if (mod_revision == 0) {
    // A missing key has create_revision 0; an existing one never does.
    compare.set_target(etcdserverpb::Compare::CREATE);
    compare.set_create_revision(0);
  } else {
    compare.set_target(etcdserverpb::Compare::MOD);
    compare.set_mod_revision(mod_revision);
  }
  return compare;
}

}  // namespace cloak::kms::etcd
