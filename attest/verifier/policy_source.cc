#include "attest/verifier/policy_source.h"

#include "attest/policy/parse.h"
#include "fmt/format.h"

namespace cloak::attest {

absl::StatusOr<std::shared_ptr<const LoadedPolicy>> StorePolicySource::Current() {
  std::lock_guard lock(mutex_);
  const absl::Time now = clock_.Now();
  if (now - read_at_ < refresh_) {
    if (cached_absent_) {
      return absl::NotFoundError(
          "no attestation policy is set; load one with `cloakctl policy set FILE`");
    }
    if (cached_ != nullptr) return cached_;
  }
  absl::StatusOr<kms::PolicyRecord> record = store_.GetPolicy(policy::kPolicyName, 0);
  if (record.status().code() == absl::StatusCode::kNotFound) {
    cached_.reset();
    cached_absent_ = true;
    read_at_ = now;
    return absl::NotFoundError(
        "no attestation policy is set; load one with `cloakctl policy set FILE`");
  }
  if (!record.ok()) {
    // Keep judging by the last version read rather than refusing every guest while the
    // store is briefly away; the next call tries again.
    if (cached_ != nullptr) return cached_;
    return absl::UnavailableError(
        fmt::format("reading the attestation policy: {}", std::string(record.status().message())));
  }
  if (cached_ == nullptr || cached_->version != record->version) {
    absl::StatusOr<policy::AttestationPolicy> parsed = policy::ParsePolicy(record->document);
    if (!parsed.ok()) {
      return absl::DataLossError(fmt::format(
          "attestation policy version {} in the store does not parse ({}); set a valid one "
          "with `cloakctl policy set FILE`",
          record->version, std::string(parsed.status().message())));
    }
    auto loaded = std::make_shared<LoadedPolicy>();
    loaded->policy = *std::move(parsed);
    loaded->version = record->version;
    cached_ = std::move(loaded);
  }
  cached_absent_ = false;
  read_at_ = now;
  return cached_;
}

void StorePolicySource::Invalidate() {
  std::lock_guard lock(mutex_);
  read_at_ = absl::InfinitePast();
}

}  // namespace cloak::attest
