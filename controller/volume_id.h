#pragma once

// Volume ids the controller hands out: "vol-" and 32 lowercase hex digits of a random
// 128-bit value. Never derived from the CO's name, so that a name used again after its
// volume was deleted gets a new id (the key service keeps destroyed ids retired), and
// short enough for the key service's 47-character rule (it becomes the LUKS2 label).

#include <string>
#include <string_view>

namespace cloak::controller {

inline constexpr std::string_view kVolumeIdPrefix = "vol-";

// A fresh id from the system's CSPRNG (OpenSSL RAND_bytes; aborts if it fails).
std::string NewVolumeId();

// Whether `id` has the shape NewVolumeId makes.
bool IsGeneratedVolumeId(std::string_view id);

}  // namespace cloak::controller
