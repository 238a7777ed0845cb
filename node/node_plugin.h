#pragma once

// NodePlugin: the node side of cloak-csi assembled from its real parts — libcryptsetup,
// libdevmapper and libblkid behind the crypt Engine, the system mounter and loop devices,
// the state records, and the attested key service client with the attester the node's
// TEE offers. cloak-csi's main builds one in node (or all) mode and serves its
// NodeService.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/fault_injection.h"
#include "common/logging.h"
#include "csi/key_service_connection.h"
#include "csi/readiness.h"
#include "node/node_service.h"

namespace cloak::node {

struct NodePluginConfig {
  std::string node_id;
  std::string state_dir;  // state records under <state_dir>/volumes
  std::string local_dir;  // the local backend's backing files
  std::int64_t max_volumes = 0;
  csi::KeyServiceConnection key_service;
};

class NodePlugin {
 public:
  // Opens every part; nothing is dialled yet (the first stage attests). The attester's
  // and the client's codes; INVALID_ARGUMENT / NOT_FOUND for unreadable files.
  static absl::StatusOr<std::unique_ptr<NodePlugin>> Create(const NodePluginConfig& config,
                                                            std::shared_ptr<Logger> logger,
                                                            const FaultPoints* faults);
  ~NodePlugin();

  NodeService& service() { return *service_; }
  // Probe: the key service answers and admits this node's evidence (attesting at most
  // once per `recheck` while it does).
  std::unique_ptr<csi::ReadinessCheck> KeyServiceCheck() const;

 private:
  struct Parts;
  explicit NodePlugin(std::unique_ptr<Parts> parts);

  std::unique_ptr<Parts> parts_;
  std::unique_ptr<NodeService> service_;
};

}  // namespace cloak::node
