#pragma once

// FakeAdminClient: an in-memory AdminService for the commands' unit tests. Volumes and
// audit entries are paged like the service does; rotation answers come from a script;
// policies are versioned like the store keeps them.

#include <deque>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cli/kms_client.h"

namespace cloak::cli::testing {

class FakeAdminClient final : public AdminClient {
 public:
  absl::StatusOr<v1::HealthResponse> Health() override {
    ++calls;
    if (!error.ok()) return error;
    return health;
  }

  absl::StatusOr<v1::ListVolumesResponse> ListVolumes(int page_size,
                                                      const std::string& page_token) override {
    ++calls;
    requested_page_sizes.push_back(page_size);
    if (!error.ok()) return error;
    const std::size_t start = page_token.empty() ? 0 : std::stoul(page_token);
    const std::size_t size = page_size == 0 ? 100 : std::min(page_size, max_page_size);
    v1::ListVolumesResponse response;
    std::size_t i = start;
    for (; i < volumes.size() && i < start + size; ++i) *response.add_volumes() = volumes[i];
    if (i < volumes.size()) response.set_next_page_token(std::to_string(i));
    return response;
  }

  absl::StatusOr<v1::VolumeInfo> GetVolume(const std::string& volume_id) override {
    ++calls;
    if (!error.ok()) return error;
    for (const v1::VolumeInfo& volume : volumes) {
      if (volume.volume_id() == volume_id) return volume;
    }
    return absl::NotFoundError("volume " + volume_id + ": unknown");
  }

  absl::StatusOr<v1::RotationStatus> RotateKek() override {
    ++calls;
    if (!error.ok()) return error;
    return Next();
  }

  absl::StatusOr<v1::RotationStatus> GetRotationStatus() override {
    ++calls;
    if (!error.ok()) return error;
    if (!status_error.ok()) return status_error;
    return Next();
  }

  absl::StatusOr<v1::ListAuditResponse> ListAudit(std::uint64_t from_sequence, int limit) override {
    ++calls;
    if (!error.ok()) return error;
    const int size = limit == 0 ? 100 : std::min(limit, max_audit_page);
    v1::ListAuditResponse response;
    // As the store does: entries with sequence >= from, in the order they are held.
    for (const v1::AuditEntry& entry : audit) {
      if (response.entries_size() >= size) break;
      if (entry.sequence() >= from_sequence) *response.add_entries() = entry;
    }
    return response;
  }

  absl::StatusOr<v1::Policy> GetPolicy(const std::string& name, std::int64_t version) override {
    ++calls;
    if (!error.ok()) return error;
    const v1::Policy* found = nullptr;
    for (const v1::Policy& policy : policies) {
      if (policy.name() == name && (version == 0 || policy.version() == version)) found = &policy;
    }
    if (found == nullptr) return absl::NotFoundError("policy " + name + ": not found");
    return *found;
  }

  // As the store does: the next version when the latest is `expected_version`.
  absl::StatusOr<v1::Policy> SetPolicy(const std::string& name, const std::string& document,
                                       std::int64_t expected_version) override {
    ++calls;
    ++policy_sets;
    if (!error.ok()) return error;
    std::int64_t latest = 0;
    for (const v1::Policy& policy : policies) {
      if (policy.name() == name) latest = policy.version();
    }
    if (latest != expected_version) {
      return absl::AbortedError("policy '" + name + "' is at version " + std::to_string(latest) +
                                ", not " + std::to_string(expected_version) + "; read it again");
    }
    v1::Policy stored;
    stored.set_name(name);
    stored.set_version(latest + 1);
    stored.set_document(document);
    stored.set_created_at_unix_ms(1795000000000 + latest);
    policies.push_back(stored);
    return stored;
  }

  const std::string& target() const override { return target_; }

  // Rotation answers in order; the last one repeats; none scripted: an idle status.
  v1::RotationStatus Next() {
    if (rotation.empty()) return v1::RotationStatus();
    v1::RotationStatus status = rotation.front();
    if (rotation.size() > 1) rotation.pop_front();
    return status;
  }

  absl::Status error;         // every call fails with it when set
  absl::Status status_error;  // GetRotationStatus fails with it when set
  v1::HealthResponse health;
  std::vector<v1::VolumeInfo> volumes;
  int max_page_size = 1000;
  std::vector<int> requested_page_sizes;
  std::deque<v1::RotationStatus> rotation;
  std::vector<v1::AuditEntry> audit;
  int max_audit_page = 1000;
  std::vector<v1::Policy> policies;  // every stored version, in order
  int policy_sets = 0;
  int calls = 0;
  std::string target_ = "kms.test:7443";
};

}  // namespace cloak::cli::testing
