#include "kms/server/store_factory.h"

#include "common/status.h"
#include "fmt/format.h"
#include "kms/store/sqlite_key_store.h"

namespace cloak::kms::server {

absl::StatusOr<std::unique_ptr<KeyStore>> MakeKeyStore(const StoreConfig& config,
                                                       const Clock& clock,
                                                       const FaultPoints& faults) {
  if (config.type == "sqlite") {
    SqliteKeyStoreOptions options;
    options.faults = faults;
    absl::StatusOr<std::unique_ptr<SqliteKeyStore>> store =
        SqliteKeyStore::Open(config.path, clock, std::move(options));
    if (!store.ok()) return Annotate(store.status(), fmt::format("store.path {}", config.path));
    return std::unique_ptr<KeyStore>(*std::move(store));
  }
  if (config.type == "etcd") {
    return absl::FailedPreconditionError(
        "config: store.type etcd: the etcd store is not built into this binary yet; use "
        "store.type sqlite with store.path");
  }
  return absl::InvalidArgumentError(
      fmt::format("config: store.type must be sqlite or etcd, got \"{}\"", config.type));
}

}  // namespace cloak::kms::server
