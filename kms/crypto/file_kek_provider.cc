#include "kms/crypto/file_kek_provider.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <mutex>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/kek_wrap_format.h"
#include "kms/crypto/random.h"
#include "kms/crypto/secret_file.h"

namespace cloak::kms {
namespace {

// Header, checksum and a full table of entries.
constexpr std::size_t kMaxKekFileSize = 13 + kMaxKekEntries * 37 + 32;

std::vector<KekEntry> CopyEntries(const std::vector<KekEntry>& entries) {
  std::vector<KekEntry> copy;
  copy.reserve(entries.size() + 1);
  for (const KekEntry& entry : entries) {
    copy.push_back(
        KekEntry{entry.version, entry.state, SecretBytes::CopyFrom(entry.key.SecretSpan())});
  }
  return copy;
}

std::uint32_t CurrentOf(const std::vector<KekEntry>& entries) {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->state == KekState::kActive) return it->version;
  }
  return 0;  // Unreachable: the file format requires an active version.
}

}  // namespace

absl::StatusOr<std::unique_ptr<FileKekProvider>> FileKekProvider::Open(const std::string& path) {
  ASSIGN_OR_RETURN(SecretBytes contents, ReadPrivateFile(path, kMaxKekFileSize));
  absl::StatusOr<std::vector<KekEntry>> entries = ParseKekFile(contents.SecretSpan());
  if (!entries.ok()) return Annotate(entries.status(), fmt::format("KEK file {}", path));
  return std::unique_ptr<FileKekProvider>(new FileKekProvider(path, *std::move(entries)));
}

absl::StatusOr<std::unique_ptr<FileKekProvider>> FileKekProvider::Initialize(
    const std::string& path) {
  // Claim the name first so that an existing KEK file is never replaced.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          fmt::format("{} already exists; refusing to overwrite a KEK file", path));
    }
    return ErrnoToStatus(errno, fmt::format("create KEK file {}", path));
  }
  ::close(fd);
  std::vector<KekEntry> entries;
  absl::StatusOr<SecretBytes> key = RandomSecret(kKekSize);
  absl::Status status = key.status();
  if (status.ok()) {
    entries.push_back(KekEntry{1, KekState::kActive, *std::move(key)});
    absl::StatusOr<SecretBytes> image = SerializeKekFile(entries);
    status = image.ok() ? WritePrivateFileAtomically(path, *image) : image.status();
  }
  if (!status.ok()) {
    ::unlink(path.c_str());
    return status;
  }
  return std::unique_ptr<FileKekProvider>(new FileKekProvider(path, std::move(entries)));
}

absl::StatusOr<const KekEntry*> FileKekProvider::UsableEntry(std::uint32_t version) const {
  for (const KekEntry& entry : entries_) {
    if (entry.version != version) continue;
    if (entry.state == KekState::kRetired) {
      return absl::FailedPreconditionError(fmt::format(
          "KEK version {} is retired; rewrap under version {}", version, CurrentOf(entries_)));
    }
    return &entry;
  }
  return absl::NotFoundError(fmt::format("KEK version {} is not in {}; the current version is {}",
                                         version, path_, CurrentOf(entries_)));
}

absl::StatusOr<std::vector<std::uint8_t>> FileKekProvider::Wrap(std::uint32_t kek_version,
                                                                const SecretBytes& plaintext,
                                                                std::span<const std::uint8_t> aad) {
  std::shared_lock lock(mutex_);
  ASSIGN_OR_RETURN(const KekEntry* entry, UsableEntry(kek_version));
  return WrapWithKek(entry->key, kek_version, plaintext, aad);
}

absl::StatusOr<SecretBytes> FileKekProvider::Unwrap(std::uint32_t kek_version,
                                                    std::span<const std::uint8_t> wrapped,
                                                    std::span<const std::uint8_t> aad) {
  ASSIGN_OR_RETURN(const std::uint32_t named_version, WrappedKekVersion(wrapped));
  if (named_version != kek_version) {
    return absl::InvalidArgumentError(
        fmt::format("wrapped key names KEK version {}, but version {} was asked for", named_version,
                    kek_version));
  }
  std::shared_lock lock(mutex_);
  ASSIGN_OR_RETURN(const KekEntry* entry, UsableEntry(kek_version));
  return UnwrapWithKek(entry->key, wrapped, aad);
}

std::uint32_t FileKekProvider::CurrentVersion() const {
  std::shared_lock lock(mutex_);
  return CurrentOf(entries_);
}

std::vector<KekVersionInfo> FileKekProvider::Versions() const {
  std::shared_lock lock(mutex_);
  std::vector<KekVersionInfo> versions;
  versions.reserve(entries_.size());
  for (const KekEntry& entry : entries_) versions.push_back({entry.version, entry.state});
  return versions;
}

absl::Status FileKekProvider::PersistAndAdopt(std::vector<KekEntry> entries) {
  ASSIGN_OR_RETURN(SecretBytes image, SerializeKekFile(entries));
  RETURN_IF_ERROR(WritePrivateFileAtomically(path_, image));
  entries_ = std::move(entries);
  return absl::OkStatus();
}

absl::StatusOr<std::uint32_t> FileKekProvider::AddVersion() {
  std::unique_lock lock(mutex_);
  const std::uint32_t last = entries_.back().version;
  if (entries_.size() >= kMaxKekEntries || last == std::numeric_limits<std::uint32_t>::max()) {
    return absl::ResourceExhaustedError(
        fmt::format("KEK file {} is full ({} versions); retire and prune old versions", path_,
                    entries_.size()));
  }
  ASSIGN_OR_RETURN(SecretBytes key, RandomSecret(kKekSize));
  std::vector<KekEntry> next = CopyEntries(entries_);
  next.push_back(KekEntry{last + 1, KekState::kActive, std::move(key)});
  RETURN_IF_ERROR(PersistAndAdopt(std::move(next)));
  return last + 1;
}

absl::Status FileKekProvider::Retire(std::uint32_t version) {
  std::unique_lock lock(mutex_);
  std::vector<KekEntry> next = CopyEntries(entries_);
  for (KekEntry& entry : next) {
    if (entry.version != version) continue;
    if (entry.state == KekState::kRetired) return absl::OkStatus();
    if (version == CurrentOf(entries_)) {
      return absl::FailedPreconditionError(fmt::format(
          "KEK version {} is the current version; add a newer version before retiring it",
          version));
    }
    entry.state = KekState::kRetired;
    return PersistAndAdopt(std::move(next));
  }
  return absl::NotFoundError(fmt::format("KEK version {} is not in {}", version, path_));
}

}  // namespace cloak::kms
