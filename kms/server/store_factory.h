#pragma once

// MakeKeyStore: the one place that turns the `store:` configuration into a KeyStore.
// SQLite is built in; etcd joins here when its store lands.

#include <memory>

#include "absl/status/statusor.h"
#include "common/fault_injection.h"
#include "kms/server/config.h"
#include "kms/store/clock.h"
#include "kms/store/key_store.h"

namespace cloak::kms::server {

// Opens the configured store. `clock` must outlive it; `faults` reach the store's crash
// points. FAILED_PRECONDITION naming the key for a store type this binary lacks (etcd, for
// now); otherwise the store's own errors (file mode, schema, availability).
absl::StatusOr<std::unique_ptr<KeyStore>> MakeKeyStore(const StoreConfig& config,
                                                       const Clock& clock,
                                                       const FaultPoints& faults = {});

}  // namespace cloak::kms::server
