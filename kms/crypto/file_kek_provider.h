#pragma once

// FileKekProvider: versioned 32-byte KEKs in one local file (format in
// kek_file_format.h), for single-node and development use. The file must be a regular
// file owned by this user with mode 0600; every change rewrites it atomically. Wrapping
// is AES-256-GCM in the format of kek_wrap_format.h.

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"
#include "kms/crypto/kek_file_format.h"
#include "kms/crypto/kek_provider.h"

namespace cloak::kms {

class FileKekProvider final : public KekProvider {
 public:
  // Loads the KEK file at `path`. NOT_FOUND when it is missing; PERMISSION_DENIED or
  // FAILED_PRECONDITION when its owner or mode are wrong; INVALID_ARGUMENT when it is not
  // a well-formed KEK file.
  static absl::StatusOr<std::unique_ptr<FileKekProvider>> Open(const std::string& path);

  // Creates a new KEK file at `path` holding one fresh active version, 1. ALREADY_EXISTS
  // when something is already there (never overwrites a KEK file).
  static absl::StatusOr<std::unique_ptr<FileKekProvider>> Initialize(const std::string& path);

  absl::StatusOr<std::vector<std::uint8_t>> Wrap(std::uint32_t kek_version,
                                                 const SecretBytes& plaintext,
                                                 std::span<const std::uint8_t> aad) override;
  absl::StatusOr<SecretBytes> Unwrap(std::uint32_t kek_version,
                                     std::span<const std::uint8_t> wrapped,
                                     std::span<const std::uint8_t> aad) override;
  std::uint32_t CurrentVersion() const override;
  std::vector<KekVersionInfo> Versions() const override;

  // Adds a fresh random KEK as the new current version, persists the file, and returns
  // the version number. RESOURCE_EXHAUSTED when the file is full; file-system errors
  // leave the provider and the file as they were. Thread-safe.
  absl::StatusOr<std::uint32_t> AddVersion();

  // Marks `version` retired and persists the file; retiring a retired version is OK.
  // NOT_FOUND for an unknown version; FAILED_PRECONDITION for the current version (add
  // a newer one first). Thread-safe.
  absl::Status Retire(std::uint32_t version);

 private:
  FileKekProvider(std::string path, std::vector<KekEntry> entries)
      : path_(std::move(path)), entries_(std::move(entries)) {}

  // The entry for `version` if it may be used. Caller holds mutex_.
  absl::StatusOr<const KekEntry*> UsableEntry(std::uint32_t version) const;
  // Writes `entries` to the file, then adopts them. Caller holds mutex_ exclusively.
  absl::Status PersistAndAdopt(std::vector<KekEntry> entries);

  const std::string path_;
  mutable std::shared_mutex mutex_;
  std::vector<KekEntry> entries_;
};

}  // namespace cloak::kms
