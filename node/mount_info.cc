// Parsing of /proc/self/mountinfo (proc(5)):
//   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   id parent major:minor root target mount-options [optional...] - fstype source super-options

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "fmt/format.h"
#include "node/mounter.h"

namespace cloak::node {
namespace {

// The kernel writes ' ', '\t', '\n' and '\\' in paths (and ',' in some option values)
// as a backslash and three octal digits; anything else after a backslash is kept.
std::string Unescape(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    const auto is_octal = [&](std::size_t j) { return field[j] >= '0' && field[j] <= '7'; };
    if (field[i] == '\\' && i + 3 < field.size() && field[i + 1] <= '3' && is_octal(i + 1) &&
        is_octal(i + 2) && is_octal(i + 3)) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(separator, start), text.size());
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Comma-separated options, split before unescaping so that an escaped ',' stays inside
// its option.
std::vector<std::string> Options(std::string_view field) {
  std::vector<std::string> options;
  for (std::string_view option : Split(field, ',')) {
    if (!option.empty()) options.push_back(Unescape(option));
  }
  return options;
}

bool IsNumber(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsDeviceNumber(std::string_view text) {
  const std::size_t colon = text.find(':');
  return colon != std::string_view::npos && IsNumber(text.substr(0, colon)) &&
         IsNumber(text.substr(colon + 1));
}

absl::StatusOr<MountEntry> ParseLine(std::string_view line, std::size_t number) {
  const auto malformed = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        fmt::format("mountinfo line {} is malformed ({}): \"{}\"; expected \"ID PARENT "
                    "MAJOR:MINOR ROOT TARGET OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS\"",
                    number, why, line));
  };
  // Single spaces only: the kernel escapes spaces inside fields, and an empty source
  // (mount(2) given "") shows as two spaces in a row.
  const std::vector<std::string_view> fields = Split(line, ' ');
  if (fields.size() < 10) {
    return malformed(fmt::format("{} fields, at least 10 needed", fields.size()));
  }
  // The optional fields end at the first lone "-"; none of the six fields before them
  // can be "-" (paths are absolute, options are never empty).
  const auto separator = std::find(fields.begin() + 6, fields.end(), std::string_view("-"));
  if (separator == fields.end()) return malformed("no \" - \" separator");
  if (fields.end() - separator != 4) {
    return malformed(
        fmt::format("{} fields after \" - \", 3 expected", fields.end() - separator - 1));
  }
  if (std::find(fields.begin(), separator, std::string_view()) != separator) {
    return malformed("an empty field before \" - \"");
  }
  if (!IsNumber(fields[0]) || !IsNumber(fields[1])) return malformed("mount IDs are not numbers");
  if (!IsDeviceNumber(fields[2])) return malformed("device number is not MAJOR:MINOR");
  MountEntry entry;
  entry.device_number = std::string(fields[2]);
  entry.root = Unescape(fields[3]);
  entry.target = Unescape(fields[4]);
  entry.mount_options = Options(fields[5]);
  entry.fs_type = Unescape(separator[1]);
  entry.source = Unescape(separator[2]);
  entry.super_options = Options(separator[3]);
  return entry;
}

}  // namespace

bool MountEntry::read_only() const {
  return std::find(mount_options.begin(), mount_options.end(), "ro") != mount_options.end();
}

absl::StatusOr<std::vector<MountEntry>> ParseMountInfo(std::string_view text) {
  std::vector<MountEntry> entries;
  std::size_t number = 0;
  for (std::string_view line : Split(text, '\n')) {
    ++number;
    if (line.empty()) continue;  // the final newline
    absl::StatusOr<MountEntry> entry = ParseLine(line, number);
    if (!entry.ok()) return entry.status();
    entries.push_back(*std::move(entry));
  }
  return entries;
}

}  // namespace cloak::node
