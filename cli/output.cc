#include "cli/output.h"

#include <algorithm>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace cloak::cli {

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name) {
  if (name == "text") return OutputFormat::kText;
  if (name == "json") return OutputFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("-o ", name, ": unknown output format; use -o text or -o json"));
}

void WriteTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size(), 0);
  for (std::size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  auto write_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t i = 0; i < header.size(); ++i) {
      const std::string& cell = i < row.size() ? row[i] : std::string();
      line += cell;
      if (i + 1 < header.size()) line.append(widths[i] - cell.size() + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << "\n";
  };
  write_row(header);
  for (const auto& row : rows) write_row(row);
}

std::string FormatUnixMillis(std::int64_t unix_ms) {
  if (unix_ms == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
}

std::string FormatUnixMicros(std::int64_t unix_us) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(unix_us),
                          absl::UTCTimeZone());
}

std::string Hex(absl::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 0xf]);
  }
  return hex;
}

absl::string_view VolumeStateText(kms::v1::VolumeState state) {
  switch (state) {
    case kms::v1::VOLUME_STATE_CREATED:
      return "created";
    case kms::v1::VOLUME_STATE_FORMATTED:
      return "formatted";
    case kms::v1::VOLUME_STATE_DESTROYED:
      return "destroyed";
    default:
      return "unspecified";
  }
}

absl::string_view RotationStateText(kms::v1::RotationStatus::State state) {
  switch (state) {
    case kms::v1::RotationStatus::STATE_RUNNING:
      return "running";
    case kms::v1::RotationStatus::STATE_COMPLETED:
      return "completed";
    case kms::v1::RotationStatus::STATE_FAILED:
      return "failed";
    default:
      return "none";
  }
}

void WriteJson(std::ostream& out, const nlohmann::json& document) {
  // Strings come from the service; replace invalid UTF-8 rather than throw.
  out << document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void WriteError(std::ostream& err, absl::string_view command, const absl::Status& status) {
  err << "cloakctl " << command << ": " << status.message() << "\n";
}

}  // namespace cloak::cli
