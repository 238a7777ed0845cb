#pragma once

// Whole-file reads and writes for kernel attribute files (configfs, sysfs): one open, a
// single write, or reads until end of file.

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cloak::attest::snp {

// Reads all of `path`, at most `limit` bytes. UNAVAILABLE with errno context on failure,
// OUT_OF_RANGE when the file is longer than `limit`.
absl::StatusOr<std::string> ReadAttribute(const std::string& path, std::size_t limit);

// Writes `data` to the existing file `path` in one write(2). UNAVAILABLE with errno context.
absl::Status WriteAttribute(const std::string& path, std::string_view data);

}  // namespace cloak::attest::snp
