// Engine operations on read-only views: read-only linear mappings over a crypt mapping,
// which serve read-only block publishes.

#include "common/status.h"
#include "crypt/engine.h"
#include "fmt/format.h"

namespace cloak::crypt {

absl::StatusOr<std::string> Engine::OpenReadOnlyView(const std::string& name,
                                                     const std::string& view) {
  RETURN_IF_ERROR(ReconcileReadOnlyView(name, view, /*create=*/true));
  return MapperPath(view);
}

absl::Status Engine::ResizeReadOnlyView(const std::string& name, const std::string& view) {
  return ReconcileReadOnlyView(name, view, /*create=*/false);
}

absl::Status Engine::CloseReadOnlyView(const std::string& view) {
  RETURN_IF_ERROR(CheckMappingName(view));
  absl::Status removed = device_mapper_.Remove(view);
  if (!removed.ok() && !absl::IsNotFound(removed)) {
    return Annotate(removed, "close read-only view " + view);
  }
  return absl::OkStatus();
}

absl::Status Engine::ReconcileReadOnlyView(const std::string& name, const std::string& view,
                                           bool create) {
  RETURN_IF_ERROR(CheckMappingName(name));
  RETURN_IF_ERROR(CheckMappingName(view));
  ASSIGN_OR_RETURN(const DmDeviceInfo source, device_mapper_.Info(name));
  ASSIGN_OR_RETURN(const std::vector<DmTarget> source_table, device_mapper_.Table(name));
  std::uint64_t sectors = 0;
  for (const DmTarget& target : source_table) sectors += target.length;
  const std::string source_params = fmt::format("{}:{} 0", source.major, source.minor);

  absl::StatusOr<DmDeviceInfo> existing = device_mapper_.Info(view);
  if (absl::IsNotFound(existing.status())) {
    if (!create) return existing.status();
    return device_mapper_.CreateReadOnlyLinear(view, source.major, source.minor, sectors);
  }
  RETURN_IF_ERROR(existing.status());
  ASSIGN_OR_RETURN(const std::vector<DmTarget> table, device_mapper_.Table(view));
  const bool over_source = existing->read_only && table.size() == 1 && table[0].start == 0 &&
                           table[0].type == "linear" && table[0].params == source_params;
  if (!over_source) {
    return absl::FailedPreconditionError(fmt::format(
        "device-mapper device {} exists but is not a read-only view of {}; remove it by hand "
        "(dmsetup remove {}) once nothing uses it",
        view, name, view));
  }
  if (table[0].length == sectors) return absl::OkStatus();
  return device_mapper_.ReloadReadOnlyLinear(view, source.major, source.minor, sectors);
}

}  // namespace cloak::crypt
