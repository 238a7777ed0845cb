#pragma once

// Host integration test support: a temporary directory with sparse image files, and a
// root check that skips the test binary (exit 77) when it cannot run.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cloak::crypt::testing {

// Exits the process with 77 (CTest: skipped) when not running as root.
void SkipUnlessRoot();

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  // Creates a sparse file `name` of `size` bytes and returns its path.
  std::string SparseFile(const std::string& name, std::uint64_t size) const;

 private:
  std::string path_;
};

// Runs `argv` (no shell), waits, returns the exit status; stdout and stderr go to the
// given strings when not null.
absl::StatusOr<int> RunProcess(const std::vector<std::string>& argv, std::string* out,
                               std::string* err);

// True when `needle` occurs anywhere in the file at `path`.
absl::StatusOr<bool> FileContains(const std::string& path, std::span<const std::uint8_t> needle);

}  // namespace cloak::crypt::testing
