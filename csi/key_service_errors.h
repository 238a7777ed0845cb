#pragma once

// The key service's answers in the terms a CO acts on, for both plugins: transport
// failures become UNAVAILABLE (the CO retries), refused attestation PERMISSION_DENIED,
// a missing key NOT_FOUND; the client's message, which names the service and the fix,
// is kept and prefixed with the volume and what was being done.

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace cloak::csi {

// `refused_hint` is appended to PERMISSION_DENIED (what the operator should check for
// this plugin's role).
absl::Status FromKeyService(const absl::Status& status, const std::string& volume_id,
                            std::string_view what, std::string_view refused_hint);

}  // namespace cloak::csi
