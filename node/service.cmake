# cloak::node_service: the CSI Node service, its per-volume locks and state records.
add_library(cloak_node_service STATIC kernel_log.cc node_service.cc state_store.cc)
add_library(cloak::node_service ALIAS cloak_node_service)
cloak_target_warnings(cloak_node_service)
target_link_libraries(cloak_node_service
  PUBLIC cloak::crypt_api cloak::csi_proto cloak::csi cloak::kms_client cloak::node_mounter
         cloak::common cloak::common_grpc
  PRIVATE nlohmann_json::nlohmann_json fmt::fmt OpenSSL::Crypto)

# cloak::node_plugin: NodeService on the real parts (libcryptsetup, libdevmapper,
# libblkid, the system mounter and loop devices, the attested key service client).
add_library(cloak_node_plugin STATIC node_plugin.cc)
add_library(cloak::node_plugin ALIAS cloak_node_plugin)
cloak_target_warnings(cloak_node_plugin)
target_link_libraries(cloak_node_plugin
  PUBLIC cloak::node_service cloak::csi cloak::csi_key_service
  PRIVATE cloak::crypt cloak::node_loop fmt::fmt)
