#pragma once

// Test helper: rewrites the LUKS2 JSON metadata of an image file or block device the way
// an attacker with access to the disk would, keeping both header copies internally
// consistent (SHA-256 checksums recomputed, sequence id bumped) so that libcryptsetup
// loads the result and only Cloak's own policy can refuse it.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace cloak::crypt::testing {

// The JSON metadata of the primary header copy.
absl::StatusOr<nlohmann::json> ReadLuks2Json(const std::string& path);

// Replaces the JSON metadata of both header copies with `metadata` and fixes their
// checksums. INVALID_ARGUMENT when the text does not fit the JSON area.
absl::Status WriteLuks2Json(const std::string& path, const nlohmann::json& metadata);

// ReadLuks2Json, `edit`, WriteLuks2Json.
absl::Status EditLuks2Json(const std::string& path,
                           const std::function<void(nlohmann::json&)>& edit);

}  // namespace cloak::crypt::testing
