#pragma once

// StoredDocument: the latest version of one named policy record in the key store, turned
// into its in-memory form once per version and read again at most once per refresh
// interval (and at once after Invalidate()). The attestation policy (policy_source.h)
// and the TPM AK bindings (ak_bindings.h) are both held this way, so that every replica
// sees a change within the interval and a brief store outage keeps the last version in
// force instead of refusing every guest. Thread-safe.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include "kms/store/clock.h"
#include "kms/store/key_store.h"

namespace cloak::attest {

// `Loaded` must have a `std::int64_t version` member, set by the load function.
template <typename Loaded>
class StoredDocument {
 public:
  // Builds the loaded form of one stored version; its error becomes DATA_LOSS.
  using Load = std::function<absl::StatusOr<Loaded>(const kms::PolicyRecord&)>;

  // `store` and `clock` must outlive the document. `fix` ends the DATA_LOSS message
  // (how to store a valid version).
  StoredDocument(kms::KeyStore& store, const kms::Clock& clock, std::string name,
                 absl::Duration refresh, Load load, std::string fix)
      : store_(store),
        clock_(clock),
        name_(std::move(name)),
        refresh_(refresh),
        load_(std::move(load)),
        fix_(std::move(fix)) {}

  // The version in force; null when the store has none. UNAVAILABLE when the store cannot
  // be read and nothing was read before; DATA_LOSS naming the version when it does not
  // load (it was checked when it was stored).
  absl::StatusOr<std::shared_ptr<const Loaded>> Current() {
    std::lock_guard lock(mutex_);
    const absl::Time now = clock_.Now();
    if (now - read_at_ < refresh_ && (cached_ != nullptr || absent_)) return cached_;
    absl::StatusOr<kms::PolicyRecord> record = store_.GetPolicy(name_, 0);
    if (record.status().code() == absl::StatusCode::kNotFound) {
      cached_.reset();
      absent_ = true;
      read_at_ = now;
      return cached_;
    }
    if (!record.ok()) {
      if (cached_ != nullptr) return cached_;
      return absl::UnavailableError(
          fmt::format("reading policy {}: {}", name_, std::string(record.status().message())));
    }
    if (cached_ == nullptr || cached_->version != record->version) {
      absl::StatusOr<Loaded> loaded = load_(*record);
      if (!loaded.ok()) {
        return absl::DataLossError(
            fmt::format("policy {} version {} in the store does not parse "
                        "({}); {}",
                        name_, record->version, std::string(loaded.status().message()), fix_));
      }
      cached_ = std::make_shared<const Loaded>(*std::move(loaded));
    }
    absent_ = false;
    read_at_ = now;
    return cached_;
  }

  void Invalidate() {
    std::lock_guard lock(mutex_);
    read_at_ = absl::InfinitePast();
  }

 private:
  kms::KeyStore& store_;
  const kms::Clock& clock_;
  const std::string name_;
  const absl::Duration refresh_;
  const Load load_;
  const std::string fix_;
  std::mutex mutex_;
  std::shared_ptr<const Loaded> cached_;  // null: none read yet, or the store had none
  bool absent_ = false;                   // the store had none at read_at_
  absl::Time read_at_ = absl::InfinitePast();
};

}  // namespace cloak::attest
