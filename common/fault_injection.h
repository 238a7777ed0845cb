#pragma once

// Named fault points for crash-recovery and drain tests.
//
// Code marks a step with `faults.Hit("node.stage.after_format")`. A point does nothing
// unless the process was started with CLOAK_FAULT_POINTS naming it, e.g.
//   CLOAK_FAULT_POINTS="node.stage.after_format=kill,identity.probe=delay:1500"
// Actions: `kill` (SIGKILL to the process itself, as a crash would) and `delay:MS`
// (sleep, to hold a call in flight). The variable carries only point names and
// actions, never data.

#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cloak {

class FaultPoints {
 public:
  enum class Action { kKill, kDelay };
  struct Fault {
    Action action;
    std::chrono::milliseconds delay{0};
  };

  FaultPoints() = default;

  // Parses the CLOAK_FAULT_POINTS syntax; INVALID_ARGUMENT names the bad entry.
  static absl::StatusOr<FaultPoints> Parse(std::string_view spec);
  // Reads CLOAK_FAULT_POINTS from the environment (empty when unset).
  static absl::StatusOr<FaultPoints> FromEnvironment();

  // Performs the fault configured for `point`, if any. Thread-safe (read-only).
  void Hit(std::string_view point) const;

  bool empty() const { return faults_.empty(); }

 private:
  std::map<std::string, Fault, std::less<>> faults_;
};

}  // namespace cloak
