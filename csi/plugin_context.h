#pragma once

// What every CSI service of one plugin process shares.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/fault_injection.h"
#include "common/logging.h"
#include "csi/readiness.h"

namespace cloak::csi {

inline constexpr char kPluginName[] = "cloak.csi.dev";

enum class PluginMode { kController, kNode, kAll };

// "controller", "node" or "all"; anything else is INVALID_ARGUMENT.
absl::StatusOr<PluginMode> ParsePluginMode(std::string_view name);
bool ServesController(PluginMode mode);
bool ServesNode(PluginMode mode);

struct PluginContext {
  PluginMode mode = PluginMode::kAll;
  std::string node_id;
  std::string vendor_version;
  std::shared_ptr<Logger> logger;
  // Probe's checks for this mode's dependencies.
  std::vector<std::unique_ptr<ReadinessCheck>> readiness_checks;
  FaultPoints faults;
};

}  // namespace cloak::csi
