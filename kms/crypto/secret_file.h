#pragma once

// Files that hold key material (the file KEK provider's KEK file): read only when they
// are private to this user, replaced atomically, never left half-written.

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/secret_bytes.h"

namespace cloak::kms {

// Reads the regular file at `path` into locked memory. Refuses symlinks; NOT_FOUND when
// it does not exist; PERMISSION_DENIED when another user owns it; FAILED_PRECONDITION
// when its mode lets anyone but the owner in (group or other bits set) or it is not a
// regular file; OUT_OF_RANGE when it is larger than `max_size`. Thread-safe.
absl::StatusOr<SecretBytes> ReadPrivateFile(const std::string& path, std::size_t max_size);

// Replaces `path` with `contents`, mode 0600: writes a temporary file beside it, fsyncs
// it, renames it over `path` and fsyncs the directory, so a crash leaves either the old
// or the new file. Errors from the file system keep their errno meaning. Thread-safe
// for distinct paths.
absl::Status WritePrivateFileAtomically(const std::string& path, const SecretBytes& contents);

}  // namespace cloak::kms
