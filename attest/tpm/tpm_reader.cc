#include "attest/tpm/tpm_reader.h"

#include "fmt/format.h"

namespace cloak::attest::tpm {

absl::Status TpmReader::Malformed(std::string_view message) const {
  return absl::UnauthenticatedError(fmt::format("{}: {}", structure_, message));
}

absl::Status TpmReader::Truncated(std::string_view field) const {
  return Malformed(fmt::format("truncated at {} (offset {} of {})", field, offset_, data_.size()));
}

absl::StatusOr<std::uint8_t> TpmReader::U8(std::string_view field) {
  if (remaining() < 1) return Truncated(field);
  return data_[offset_++];
}

absl::StatusOr<std::uint16_t> TpmReader::U16(std::string_view field) {
  if (remaining() < 2) return Truncated(field);
  const std::uint16_t value =
      static_cast<std::uint16_t>((data_[offset_] << 8) | data_[offset_ + 1]);
  offset_ += 2;
  return value;
}

absl::StatusOr<std::uint32_t> TpmReader::U32(std::string_view field) {
  if (remaining() < 4) return Truncated(field);
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 8) | data_[offset_++];
  return value;
}

absl::StatusOr<std::uint64_t> TpmReader::U64(std::string_view field) {
  if (remaining() < 8) return Truncated(field);
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | data_[offset_++];
  return value;
}

absl::StatusOr<std::vector<std::uint8_t>> TpmReader::Bytes(std::size_t size,
                                                           std::string_view field) {
  if (remaining() < size) return Truncated(field);
  std::vector<std::uint8_t> out(data_.begin() + static_cast<std::ptrdiff_t>(offset_),
                                data_.begin() + static_cast<std::ptrdiff_t>(offset_ + size));
  offset_ += size;
  return out;
}

absl::StatusOr<std::vector<std::uint8_t>> TpmReader::Tpm2b(std::size_t max_size,
                                                           std::string_view field) {
  absl::StatusOr<std::uint16_t> size = U16(field);
  if (!size.ok()) return size.status();
  if (*size > max_size) {
    return Malformed(fmt::format("{} size {} exceeds {}", field, *size, max_size));
  }
  return Bytes(*size, field);
}

absl::Status TpmReader::ExpectEnd() const {
  if (remaining() != 0) {
    return Malformed(fmt::format("{} trailing byte(s) after the structure", remaining()));
  }
  return absl::OkStatus();
}

}  // namespace cloak::attest::tpm
