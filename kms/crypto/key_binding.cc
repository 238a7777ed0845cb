#include "kms/crypto/key_binding.h"

namespace cloak::kms {
namespace {

void PutU32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

std::vector<std::uint8_t> Encode(std::string_view label, std::string_view volume_id,
                                 std::uint32_t key_version) {
  std::vector<std::uint8_t> out;
  out.reserve(label.size() + 4 + volume_id.size() + 4);
  out.insert(out.end(), label.begin(), label.end());
  PutU32(out, static_cast<std::uint32_t>(volume_id.size()));
  out.insert(out.end(), volume_id.begin(), volume_id.end());
  PutU32(out, key_version);
  return out;
}

}  // namespace

std::vector<std::uint8_t> WrapAad(std::string_view volume_id, std::uint32_t key_version) {
  return Encode("cloak-wrap-v1", volume_id, key_version);
}

std::vector<std::uint8_t> ReleaseInfo(std::string_view volume_id, std::uint32_t key_version) {
  return Encode("cloak-dek-v1", volume_id, key_version);
}

}  // namespace cloak::kms
