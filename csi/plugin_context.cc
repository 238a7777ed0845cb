#include "csi/plugin_context.h"

#include "fmt/format.h"

namespace cloak::csi {

absl::StatusOr<PluginMode> ParsePluginMode(std::string_view name) {
  if (name == "controller") return PluginMode::kController;
  if (name == "node") return PluginMode::kNode;
  if (name == "all") return PluginMode::kAll;
  return absl::InvalidArgumentError(
      fmt::format("mode \"{}\" is not supported; use controller, node or all", name));
}

bool ServesController(PluginMode mode) { return mode != PluginMode::kNode; }
bool ServesNode(PluginMode mode) { return mode != PluginMode::kController; }

}  // namespace cloak::csi
