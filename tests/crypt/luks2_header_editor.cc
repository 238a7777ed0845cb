#include "tests/crypt/luks2_header_editor.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/status.h"
#include "fmt/format.h"

namespace cloak::crypt::testing {
namespace {

// Offsets in the LUKS2 binary header (all integers big-endian).
constexpr std::size_t kHdrSizeOffset = 8;
constexpr std::size_t kSeqIdOffset = 16;
constexpr std::size_t kChecksumAlgOffset = 72;
constexpr std::size_t kChecksumOffset = 448;
constexpr std::size_t kChecksumSize = 64;
constexpr std::size_t kBinaryHeaderSize = 4096;

std::uint64_t LoadBe64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void StoreBe64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(v & 0xff);
    v >>= 8;
  }
}

class File {
 public:
  explicit File(int fd) : fd_(fd) {}
  ~File() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::Status ReadAt(int fd, std::vector<std::uint8_t>& buffer, off_t offset) {
  if (pread(fd, buffer.data(), buffer.size(), offset) != static_cast<ssize_t>(buffer.size())) {
    return ErrnoToStatus(errno ? errno : EIO, "read LUKS2 header");
  }
  return absl::OkStatus();
}

// Reads one header copy at `offset`; checks its magic.
absl::StatusOr<std::vector<std::uint8_t>> ReadCopy(int fd, off_t offset, const char* magic) {
  std::vector<std::uint8_t> binary(kBinaryHeaderSize);
  RETURN_IF_ERROR(ReadAt(fd, binary, offset));
  if (std::memcmp(binary.data(), magic, 6) != 0) {
    return absl::FailedPreconditionError(fmt::format("no LUKS2 header copy at {}", offset));
  }
  const std::uint64_t hdr_size = LoadBe64(binary.data() + kHdrSizeOffset);
  if (hdr_size < 16384 || hdr_size > (4u << 20)) {
    return absl::FailedPreconditionError("implausible LUKS2 header size");
  }
  std::vector<std::uint8_t> copy(hdr_size);
  RETURN_IF_ERROR(ReadAt(fd, copy, offset));
  return copy;
}

}  // namespace

absl::StatusOr<nlohmann::json> ReadLuks2Json(const std::string& path) {
  File file(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) return ErrnoToStatus(errno, "open " + path);
  ASSIGN_OR_RETURN(std::vector<std::uint8_t> primary, ReadCopy(file.get(), 0, "LUKS\xba\xbe"));
  const char* text = reinterpret_cast<const char*>(primary.data() + kBinaryHeaderSize);
  const std::size_t length = strnlen(text, primary.size() - kBinaryHeaderSize);
  nlohmann::json metadata = nlohmann::json::parse(text, text + length, nullptr, false);
  if (metadata.is_discarded()) return absl::DataLossError("LUKS2 JSON area is not JSON");
  return metadata;
}

absl::Status WriteLuks2Json(const std::string& path, const nlohmann::json& metadata) {
  File file(open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (file.get() < 0) return ErrnoToStatus(errno, "open " + path);
  ASSIGN_OR_RETURN(std::vector<std::uint8_t> primary, ReadCopy(file.get(), 0, "LUKS\xba\xbe"));
  const std::uint64_t hdr_size = primary.size();
  ASSIGN_OR_RETURN(std::vector<std::uint8_t> secondary,
                   ReadCopy(file.get(), static_cast<off_t>(hdr_size), "SKUL\xba\xbe"));
  const std::string text = metadata.dump();
  if (text.size() + 1 > hdr_size - kBinaryHeaderSize) {
    return absl::InvalidArgumentError("new LUKS2 JSON does not fit the JSON area");
  }
  const std::uint64_t seqid =
      std::max(LoadBe64(primary.data() + kSeqIdOffset), LoadBe64(secondary.data() + kSeqIdOffset)) +
      1;
  for (auto* copy : {&primary, &secondary}) {
    std::uint8_t* p = copy->data();
    if (std::strncmp(reinterpret_cast<const char*>(p + kChecksumAlgOffset), "sha256", 32) != 0) {
      return absl::UnimplementedError("only sha256 header checksums are supported");
    }
    std::memset(p + kBinaryHeaderSize, 0, hdr_size - kBinaryHeaderSize);
    std::memcpy(p + kBinaryHeaderSize, text.data(), text.size());
    StoreBe64(p + kSeqIdOffset, seqid);
    std::memset(p + kChecksumOffset, 0, kChecksumSize);
    SHA256(p, hdr_size, p + kChecksumOffset);
  }
  for (auto [copy, offset] :
       {std::pair{&primary, off_t{0}}, std::pair{&secondary, static_cast<off_t>(hdr_size)}}) {
    if (pwrite(file.get(), copy->data(), copy->size(), offset) !=
        static_cast<ssize_t>(copy->size())) {
      return ErrnoToStatus(errno ? errno : EIO, "write LUKS2 header");
    }
  }
  if (fsync(file.get()) != 0) return ErrnoToStatus(errno, "fsync " + path);
  return absl::OkStatus();
}

absl::Status EditLuks2Json(const std::string& path,
                           const std::function<void(nlohmann::json&)>& edit) {
  ASSIGN_OR_RETURN(nlohmann::json metadata, ReadLuks2Json(path));
  edit(metadata);
  return WriteLuks2Json(path, metadata);
}

}  // namespace cloak::crypt::testing
