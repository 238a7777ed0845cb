// Engine operations on an active mapping: status, resize, integrity initialisation.

#include <cstdlib>
#include <memory>

#include "common/status.h"
#include "crypt/dm_table.h"
#include "crypt/engine.h"
#include "fmt/format.h"

namespace cloak::crypt {
namespace {

// The device a single-target table reads from: word 3 of a crypt target, word 0 of an
// integrity target.
absl::StatusOr<DeviceNumber> TargetDevice(const std::vector<DmTarget>& table) {
  if (table.size() != 1) {
    return absl::FailedPreconditionError(
        fmt::format("expected one device-mapper target, found {}", table.size()));
  }
  std::string_view params = table[0].params;
  int word = table[0].type == "crypt" ? 3 : 0;
  for (; word > 0; --word) {
    const std::size_t space = params.find(' ');
    if (space == std::string_view::npos) break;
    params.remove_prefix(space + 1);
  }
  return ParseDeviceNumber(params.substr(0, params.find(' ')));
}

struct AlignedFree {
  void operator()(std::uint8_t* p) const { std::free(p); }
};

}  // namespace

absl::StatusOr<VolumeStatus> Engine::Status(const std::string& name) {
  ASSIGN_OR_RETURN(DmDeviceInfo info, device_mapper_.Info(name));
  ASSIGN_OR_RETURN(std::vector<DmTarget> table, device_mapper_.Table(name));
  VolumeStatus status;
  status.name = name;
  status.mapper_path = MapperPath(name);
  status.open_count = info.open_count;
  for (const DmTarget& target : table) status.size_bytes += target.length * 512;
  auto device = TargetDevice(table);
  if (!device.ok()) return Annotate(device.status(), "status of " + name);
  status.backing_device = *device;

  const std::string integrity_name = IntegrityMappingName(name);
  auto integrity_table = device_mapper_.Table(integrity_name);
  if (absl::IsNotFound(integrity_table.status())) return status;
  if (!integrity_table.ok()) return integrity_table.status();
  status.integrity = true;
  ASSIGN_OR_RETURN(status.backing_device, TargetDevice(*integrity_table));
  ASSIGN_OR_RETURN(std::vector<DmTarget> lines, device_mapper_.Status(integrity_name));
  if (lines.size() != 1) {
    return absl::InternalError(
        fmt::format("status of {}: {} status lines", integrity_name, lines.size()));
  }
  ASSIGN_OR_RETURN(IntegrityCounters counters, ParseIntegrityStatus(lines[0].params));
  status.integrity_mismatches = counters.mismatches;
  return status;
}

absl::Status Engine::Resize(const std::string& device, const std::string& name,
                            const VolumeRecord& record, const SecretBytes& dek,
                            const OpenOptions& options) {
  if (record.integrity != IntegrityMode::kNone) {
    return absl::FailedPreconditionError(fmt::format(
        "volume {}: growing a volume with integrity mode {} is not supported (dm-integrity "
        "cannot be resized in place); create a larger volume and copy the data",
        record.volume_id, IntegrityModeName(record.integrity)));
  }
  // The header is hostile input on every use, not only at open.
  RETURN_IF_ERROR(Validate(device, record, &dek));
  RETURN_IF_ERROR(VerifyMappingImpl(device, name, record, options, /*check_length=*/false));
  absl::Status resized = cryptsetup_.Resize(name, dek);
  if (!resized.ok()) {
    return Annotate(resized, fmt::format("volume {}: resize {}", record.volume_id, name));
  }
  return VerifyMapping(device, name, record, options);
}

absl::StatusOr<std::uint64_t> Engine::InitializeIntegrity(const std::string& name,
                                                          const IntegrityInitOptions& options) {
  if (options.offset % 4096 != 0 || options.length % 4096 != 0 || options.chunk_bytes == 0 ||
      options.chunk_bytes % 4096 != 0) {
    return absl::InvalidArgumentError(
        "integrity initialisation: offset, length and chunk size must be multiples of 4096");
  }
  const std::string path = MapperPath(name);
  ASSIGN_OR_RETURN(std::unique_ptr<BlockWriter> writer, devices_.OpenWriter(path));
  const std::uint64_t size = writer->size();
  if (options.offset > size) {
    return absl::InvalidArgumentError(
        fmt::format("integrity initialisation of {}: offset {} is beyond the end ({})", path,
                    options.offset, size));
  }
  const std::uint64_t end =
      options.length == 0 ? size : std::min<std::uint64_t>(size, options.offset + options.length);
  std::unique_ptr<std::uint8_t, AlignedFree> zeros(
      static_cast<std::uint8_t*>(std::aligned_alloc(4096, options.chunk_bytes)));
  if (!zeros) return absl::ResourceExhaustedError("integrity initialisation: out of memory");
  std::fill_n(zeros.get(), options.chunk_bytes, std::uint8_t{0});

  const auto started = now_();
  Progress progress{0, end - options.offset, 0};
  for (std::uint64_t offset = options.offset; offset < end;) {
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(options.chunk_bytes, end - offset));
    absl::Status written = writer->Write(offset, {zeros.get(), n});
    if (!written.ok()) {
      return Annotate(written,
                      fmt::format("integrity initialisation of {} at byte {}", path, offset));
    }
    offset += n;
    progress.bytes_done += n;
    const double seconds = std::chrono::duration<double>(now_() - started).count();
    progress.bytes_per_second = seconds > 0 ? progress.bytes_done / seconds : 0;
    if (options.progress) options.progress(progress);
  }
  RETURN_IF_ERROR(writer->Flush());
  return progress.bytes_done;
}

}  // namespace cloak::crypt
