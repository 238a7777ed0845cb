# SystemLoopDevices on the host's loop driver: root and /dev/loop-control (skipped
# otherwise), no device-mapper.
cloak_test(node_loop_devices_test
  SOURCES loop_devices_test.cc
  LIBS cloak::node_loop fmt::fmt
  LABELS integration)
