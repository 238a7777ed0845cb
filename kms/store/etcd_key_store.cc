#include "kms/store/etcd_key_store.h"

#include "kms/store/etcd/store.h"

namespace cloak::kms {

absl::StatusOr<std::unique_ptr<KeyStore>> OpenEtcdKeyStore(const EtcdOptions& options) {
  absl::StatusOr<std::unique_ptr<etcd::EtcdKeyStore>> store = etcd::EtcdKeyStore::Open(options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<KeyStore>(*std::move(store));
}

}  // namespace cloak::kms
