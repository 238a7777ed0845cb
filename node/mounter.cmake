# cloak::node_mounter: SystemMounter (mounter_impl.cc) and the mountinfo parser behind
# the Mounter interface (mounter.h); the tools run through run_tool.cc.
add_library(cloak_node_mounter STATIC mount_info.cc mounter_impl.cc run_tool.cc)
add_library(cloak::node_mounter ALIAS cloak_node_mounter)
cloak_target_warnings(cloak_node_mounter)
target_link_libraries(cloak_node_mounter PUBLIC cloak::common absl::status absl::statusor fmt::fmt)
