#pragma once

// The record of TPM attestation keys bound to endorsement keys by credential activation:
// policy "tpm-ak-bindings" in the key store, one JSON document per version, written by
// AK enrollment (ak_enrollment.h) and read by the attestation verifier, which trusts a
// bound AK when the attestation policy sets tpm.allow_ek_ca and the evidence's EK
// certificate still chains to a configured EK CA. Every version is kept and every write
// audited; an operator revokes a binding by storing a version without it (AdminService
// SetPolicy with this name; the document is checked with ParseAkBindings first).
//
//   {"bindings": [{"ak": "<64 hex>", "ek": "<64 hex>", "ek_subject": "CN=...",
//                  "enrolled_at": "2026-12-04T19:00:00Z"}]}

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attest/verifier/stored_document.h"
#include "kms/store/clock.h"
#include "kms/store/key_store.h"

namespace cloak::attest {

inline constexpr std::string_view kAkBindingsPolicyName = "tpm-ak-bindings";
// More bindings than any cluster has TPMs; past it enrollment asks for a clean-up.
inline constexpr std::size_t kMaxAkBindings = 10'000;

struct AkBinding {
  std::string ek_fingerprint;  // hex SHA-256 of the EK's TPMT_PUBLIC
  std::string ek_subject;      // RFC 2253 subject of the EK certificate at enrollment
  absl::Time enrolled_at;

  friend bool operator==(const AkBinding&, const AkBinding&) = default;
};

// AK fingerprint (hex SHA-256 of its TPMT_PUBLIC) -> binding.
using AkBindings = std::map<std::string, AkBinding>;

// Strict: unknown keys, fingerprints that are not 64 lower-case hex digits, duplicate
// AKs, bad times and more than kMaxAkBindings entries are INVALID_ARGUMENT naming the
// entry.
absl::StatusOr<AkBindings> ParseAkBindings(std::string_view document);
// Canonical: entries sorted by AK, times in RFC 3339 UTC to the second.
std::string SerializeAkBindings(const AkBindings& bindings);

struct LoadedAkBindings {
  AkBindings bindings;
  std::int64_t version = 0;  // 0: none recorded yet
};

// The latest bindings, parsed once per version and read again at most once per
// `refresh` (and after Invalidate()). Thread-safe.
class AkBindingSource {
 public:
  // `store` and `clock` must outlive the source.
  AkBindingSource(kms::KeyStore& store, const kms::Clock& clock,
                  absl::Duration refresh = absl::Seconds(2));

  // Version 0 with no bindings when none were ever recorded; UNAVAILABLE when the store
  // cannot be read and nothing was read before (after that the last version read is
  // kept); DATA_LOSS when the stored document does not parse.
  absl::StatusOr<std::shared_ptr<const LoadedAkBindings>> Current();

  void Invalidate() { document_.Invalidate(); }

 private:
  StoredDocument<LoadedAkBindings> document_;
};

}  // namespace cloak::attest
