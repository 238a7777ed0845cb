# The mountinfo parser, the option translation and the tool runner: no root needed.
cloak_test(node_mount_info_test
  SOURCES mount_info_test.cc mount_options_test.cc run_tool_test.cc
  LIBS cloak::node_mounter
  LABELS unit)

# SystemMounter on real loop devices, ext4 and xfs: root, loop devices, e2fsprogs and
# xfsprogs, no device-mapper. Skips (77) only where mount(2) itself is refused (EPERM).
cloak_test(node_mounter_integration_test
  SOURCES mounter_integration_test.cc
  LIBS cloak::node_mounter
  LABELS integration)
