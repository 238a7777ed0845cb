#pragma once

// Output helpers shared by cloakctl's key-service commands: the -o format, tables,
// times, hex, JSON documents and error lines.

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kms/proto/kms.pb.h"
#include "nlohmann/json.hpp"

namespace cloak::cli {

enum class OutputFormat { kText, kJson };

// "text" or "json"; INVALID_ARGUMENT naming -o otherwise.
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name);

// A left-aligned table: the header row, then one row per entry, columns separated by
// two spaces, no trailing blanks. Rows shorter than the header are padded.
void WriteTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// RFC 3339 in UTC with seconds ("2026-11-23T00:49:57Z"); "-" for 0.
std::string FormatUnixMillis(std::int64_t unix_ms);
// RFC 3339 in UTC with microseconds ("2026-11-23T00:49:57.123456Z").
std::string FormatUnixMicros(std::int64_t unix_us);

// Lower-case hex of `bytes` (audit hashes; never key material).
std::string Hex(absl::string_view bytes);

// "created", "formatted", "destroyed", "unspecified".
absl::string_view VolumeStateText(kms::v1::VolumeState state);
// "running", "completed", "failed", "none".
absl::string_view RotationStateText(kms::v1::RotationStatus::State state);

// One JSON document, pretty-printed, followed by a newline.
void WriteJson(std::ostream& out, const nlohmann::json& document);

// "cloakctl <command>: <message>" and a newline on `err`.
void WriteError(std::ostream& err, absl::string_view command, const absl::Status& status);

}  // namespace cloak::cli
