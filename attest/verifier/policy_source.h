#pragma once

// PolicySource: the attestation policy the key service judges guests by — the latest
// version of policy "attestation" in the key store (set with `cloakctl policy set`),
// parsed once per version. Every replica reads the same store, so a change made through
// one is in force on all of them within the refresh interval.

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attest/policy/policy.h"
#include "attest/verifier/stored_document.h"
#include "kms/store/clock.h"
#include "kms/store/key_store.h"

namespace cloak::attest {

struct LoadedPolicy {
  policy::AttestationPolicy policy;
  std::int64_t version = 0;
};

class PolicySource {
 public:
  virtual ~PolicySource() = default;
  // The policy in force. Thread-safe. NOT_FOUND when none was ever set; UNAVAILABLE when
  // the store cannot be read and nothing was read before; DATA_LOSS when the stored
  // document no longer parses (it was validated when it was set).
  virtual absl::StatusOr<std::shared_ptr<const LoadedPolicy>> Current() = 0;
};

class StorePolicySource final : public PolicySource {
 public:
  // `store` and `clock` must outlive the source. The store is read again at most once per
  // `refresh`, and after Invalidate().
  StorePolicySource(kms::KeyStore& store, const kms::Clock& clock,
                    absl::Duration refresh = absl::Seconds(2));

  absl::StatusOr<std::shared_ptr<const LoadedPolicy>> Current() override;

  // Makes the next Current() read the store (after this replica stored a new version).
  void Invalidate() { document_.Invalidate(); }

 private:
  StoredDocument<LoadedPolicy> document_;
};

}  // namespace cloak::attest
