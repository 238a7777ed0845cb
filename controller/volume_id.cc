#include "controller/volume_id.h"

#include <openssl/rand.h>

#include <cstdint>
#include <cstdlib>

#include "absl/strings/escaping.h"

namespace cloak::controller {

std::string NewVolumeId() {
  std::uint8_t random[16];
  if (RAND_bytes(random, sizeof(random)) != 1) std::abort();  // no entropy: nothing is safe
  return std::string(kVolumeIdPrefix) + absl::BytesToHexString(absl::string_view(
                                            reinterpret_cast<const char*>(random), sizeof(random)));
}

bool IsGeneratedVolumeId(std::string_view id) {
  if (id.size() != kVolumeIdPrefix.size() + 32 || !id.starts_with(kVolumeIdPrefix)) return false;
  for (char c : id.substr(kVolumeIdPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace cloak::controller
