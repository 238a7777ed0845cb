#pragma once

// Small builders shared by the key store tests.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kms/store/audit.h"
#include "kms/store/rotation.h"
#include "kms/store/volume.h"

namespace cloak::kms {

// Stand-in ciphertext: recognisable bytes derived from `tag`.
inline WrappedKey TestWrapped(std::string_view tag, std::size_t size = 60) {
  std::vector<std::uint8_t> bytes(size);
  for (std::size_t i = 0; i < size; ++i) {
    bytes[i] = static_cast<std::uint8_t>(tag.empty() ? i : tag[i % tag.size()] + i / tag.size());
  }
  return WrappedKey(std::move(bytes));
}

inline NewVolume TestVolume(std::string_view id, std::uint32_t kek_version = 1) {
  NewVolume volume;
  volume.volume_id = std::string(id);
  volume.record_json = R"({"version":1,"volume_id":")" + std::string(id) + R"("})";
  volume.key_version = 1;
  volume.kek_version = kek_version;
  volume.wrapped_dek = TestWrapped(id);
  volume.labels = {{"pvc", std::string(id)}, {"namespace", "default"}};
  return volume;
}

inline AuditEvent TestEvent(std::string_view action, std::string_view outcome = "ok") {
  AuditEvent event;
  event.actor = "spiffe://cluster/node/worker-1";
  event.action = std::string(action);
  event.outcome = std::string(outcome);
  event.details = {{"request_id", "r-1"}};
  return event;
}

inline RotationProgress TestRotation(std::uint32_t target_kek_version, std::int64_t total) {
  RotationProgress progress;
  progress.target_kek_version = target_kek_version;
  progress.total = total;
  return progress;
}

}  // namespace cloak::kms
