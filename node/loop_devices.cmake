# cloak::node_loop: the local backend's loop devices over the kernel's loop driver
# (ioctls and sysfs only). NodeService's unit tests use a fake instead.
add_library(cloak_node_loop STATIC loop_devices_impl.cc loop_sysfs.cc)
add_library(cloak::node_loop ALIAS cloak_node_loop)
cloak_target_warnings(cloak_node_loop)
target_link_libraries(cloak_node_loop PUBLIC cloak::common absl::status absl::statusor fmt::fmt)
