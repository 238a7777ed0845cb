#pragma once

// The tamper matrix: edits an attacker could make to a Cloak volume's LUKS2 JSON, each
// with the field the header policy must name when it refuses the result. Shared by the
// unit tests (crafted JSON), the host integration tests (image files) and crypt_vm_test
// (real devices).

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "crypt/volume_record.h"
#include "nlohmann/json.hpp"

namespace cloak::crypt::testing {

struct HeaderTamper {
  std::string name;   // a gtest-friendly name, e.g. "SegmentCipherNull"
  std::string field;  // the JSON path the refusal must name, e.g. "segments.0.encryption"
  std::function<void(nlohmann::json&)> apply;
  // False when the edit only makes sense for a volume with (true) or without (false)
  // integrity; see AppliesTo.
  bool for_integrity = true;
  bool for_plain = true;
};

// gtest prints a tamper by its name.
void PrintTo(const HeaderTamper& tamper, std::ostream* os);

// Every tamper; those that do not apply to `mode` are left out.
std::vector<HeaderTamper> HeaderTampers(IntegrityMode mode);

}  // namespace cloak::crypt::testing
