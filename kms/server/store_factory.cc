#include "kms/server/store_factory.h"

#include "common/status.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "kms/store/etcd_key_store.h"
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
    EtcdOptions options;
    options.endpoints = config.endpoints;
    options.key_prefix = config.prefix;
    options.call_timeout = absl::Milliseconds(config.timeout_ms);
    options.ca_file = config.ca_file;
    options.cert_file = config.cert_file;
    options.key_file = config.key_file;
    options.clock = &clock;
    absl::StatusOr<std::unique_ptr<KeyStore>> store = OpenEtcdKeyStore(options);
    if (!store.ok()) {
      return Annotate(store.status(),
                      fmt::format("store.endpoints {}", fmt::join(config.endpoints, ",")));
    }
    return store;
  }
  return absl::InvalidArgumentError(
      fmt::format("config: store.type must be sqlite or etcd, got \"{}\"", config.type));
}

}  // namespace cloak::kms::server
