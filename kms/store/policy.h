#pragma once

// A stored, versioned policy document (the attestation policy, for one). The store
// keeps every version; the attestation module gives the document its meaning.

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace cloak::kms {

struct PolicyRecord {
  std::string name;          // e.g. "attestation"
  std::int64_t version = 0;  // 1, 2, 3, ... per name
  std::string document;
  absl::Time created_at;

  friend bool operator==(const PolicyRecord&, const PolicyRecord&) = default;
};

}  // namespace cloak::kms
