#pragma once

// Reading the policy document (docs/attestation-policy.md). Strict: unknown keys, wrong
// types, malformed digests, unknown names and inconsistent rules are errors that name
// their path (`rules[1].match.pcrs.7[0]: expected 64 hex digits`), and a document with
// any error is refused whole.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "attest/policy/policy.h"

namespace cloak::attest::policy {

struct PolicyError {
  std::string path;     // e.g. "sev-snp.min_tcb.snp"; empty for the document as a whole
  std::string message;  // e.g. "expected an integer 0..255"

  // "path: message" (just the message when the path is empty).
  std::string ToString() const;
  friend bool operator==(const PolicyError&, const PolicyError&) = default;
};

// At most this many errors are collected from one document.
inline constexpr std::size_t kMaxReportedErrors = 100;

// Parses and checks `document` (YAML or JSON). Never throws; thread-safe. INVALID_ARGUMENT
// with the first error (and how many more there are) when the document is not valid.
absl::StatusOr<AttestationPolicy> ParsePolicy(std::string_view document);

// Every error in `document`, in document order (at most kMaxReportedErrors); empty when it
// is valid. Never throws; thread-safe.
std::vector<PolicyError> ValidatePolicy(std::string_view document);

// The canonical JSON form of `policy` (defaults written out, hex in lower case). For a
// policy that ParsePolicy returned, ParsePolicy reads it back to an equal policy.
// Thread-safe.
std::string PolicyToJson(const AttestationPolicy& policy);

}  // namespace cloak::attest::policy
