#pragma once

// TpmReader: strict big-endian unmarshalling of TPM 2.0 structures from untrusted bytes.
// Every read checks the remaining length; a failure names the structure being parsed and
// never echoes the input.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cloak::attest::tpm {

class TpmReader {
 public:
  // `structure` names what is parsed ("TPMS_ATTEST") in every error.
  TpmReader(std::span<const std::uint8_t> data, std::string_view structure)
      : data_(data), structure_(structure) {}

  absl::StatusOr<std::uint8_t> U8(std::string_view field);
  absl::StatusOr<std::uint16_t> U16(std::string_view field);
  absl::StatusOr<std::uint32_t> U32(std::string_view field);
  absl::StatusOr<std::uint64_t> U64(std::string_view field);
  // `size` raw bytes.
  absl::StatusOr<std::vector<std::uint8_t>> Bytes(std::size_t size, std::string_view field);
  // A TPM2B: a 16-bit size, then that many bytes; the size must not exceed `max_size`.
  absl::StatusOr<std::vector<std::uint8_t>> Tpm2b(std::size_t max_size, std::string_view field);

  // OK when every byte was consumed; UNAUTHENTICATED naming the structure otherwise.
  absl::Status ExpectEnd() const;

  // UNAUTHENTICATED "<structure>: <message>".
  absl::Status Malformed(std::string_view message) const;

  std::size_t remaining() const { return data_.size() - offset_; }

 private:
  absl::Status Truncated(std::string_view field) const;

  std::span<const std::uint8_t> data_;
  std::size_t offset_ = 0;
  std::string_view structure_;
};

}  // namespace cloak::attest::tpm
