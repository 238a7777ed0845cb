#include "common/fault_injection.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "fmt/format.h"

namespace cloak {
namespace {

absl::Status BadEntry(std::string_view entry, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format(
      "CLOAK_FAULT_POINTS entry \"{}\" {}; expected NAME=kill or NAME=delay:MILLISECONDS", entry,
      why));
}

}  // namespace

absl::StatusOr<FaultPoints> FaultPoints::Parse(std::string_view spec) {
  FaultPoints points;
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    const std::string_view entry = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (entry.empty()) continue;
    const size_t equals = entry.find('=');
    if (equals == std::string_view::npos || equals == 0) return BadEntry(entry, "has no name");
    const std::string_view name = entry.substr(0, equals);
    const std::string_view action = entry.substr(equals + 1);
    Fault fault;
    if (action == "kill") {
      fault.action = Action::kKill;
    } else if (action.starts_with("delay:")) {
      const std::string digits(action.substr(6));
      char* end = nullptr;
      const long millis = std::strtol(digits.c_str(), &end, 10);
      if (digits.empty() || *end != '\0' || millis < 0 || millis > 600000) {
        return BadEntry(entry, "has a bad delay");
      }
      fault.action = Action::kDelay;
      fault.delay = std::chrono::milliseconds(millis);
    } else {
      return BadEntry(entry, "has an unknown action");
    }
    points.faults_[std::string(name)] = fault;
  }
  return points;
}

absl::StatusOr<FaultPoints> FaultPoints::FromEnvironment() {
  const char* spec = std::getenv("CLOAK_FAULT_POINTS");
  return Parse(spec == nullptr ? std::string_view() : std::string_view(spec));
}

void FaultPoints::Hit(std::string_view point) const {
  const auto it = faults_.find(point);
  if (it == faults_.end()) return;
  switch (it->second.action) {
    case Action::kKill:
      kill(getpid(), SIGKILL);
      pause();
      break;
    case Action::kDelay:
      std::this_thread::sleep_for(it->second.delay);
      break;
  }
}

}  // namespace cloak
