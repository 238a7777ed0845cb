#include "crypt/engine.h"

#include <algorithm>

#include "common/status.h"
#include "crypt/dm_table.h"
#include "crypt/header_validator.h"
#include "crypt/keyslot_passphrase.h"
#include "fmt/format.h"

namespace cloak::crypt {
namespace {

absl::Status CheckKey(const VolumeRecord& record, const SecretBytes& dek) {
  if (dek.size() != record.volume_key_bytes()) {
    return absl::InvalidArgumentError(
        fmt::format("volume {}: the key is {} bytes, the record asks for {} bytes ({} bits)",
                    record.volume_id, dek.size(), record.volume_key_bytes(), record.key_size_bits));
  }
  return absl::OkStatus();
}

std::string Context(const std::string& device, const VolumeRecord& record) {
  return fmt::format("volume {} on {}", record.volume_id, device);
}

}  // namespace

absl::Status CheckMappingName(const std::string& name) {
  const bool valid_chars = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
  if (name.empty() || name.size() > 100 || !valid_chars || name == "." || name == "..") {
    return absl::InvalidArgumentError(
        fmt::format("mapping name \"{}\" must be 1-100 letters, digits, '-', '_' or '.'", name));
  }
  return absl::OkStatus();
}

std::string MapperPath(const std::string& name) { return "/dev/mapper/" + name; }

Engine::Engine(Cryptsetup& cryptsetup, DeviceMapper& device_mapper, BlockDevices& devices,
               SteadyNow now)
    : cryptsetup_(cryptsetup), device_mapper_(device_mapper), devices_(devices), now_(now) {
  if (!now_) now_ = [] { return std::chrono::steady_clock::now(); };
}

absl::Status Engine::Format(const std::string& device, const VolumeRecord& record,
                            const SecretBytes& dek, DeviceClaim claim) {
  RETURN_IF_ERROR(CheckVolumeRecord(record));
  RETURN_IF_ERROR(CheckKey(record, dek));
  const std::string context = Context(device, record);
  if (record.state != VolumeState::kCreated) {
    return absl::FailedPreconditionError(fmt::format(
        "{}: refusing to format: the key service records the volume as {}; a device without "
        "a valid header means the wrong device is attached or its data was lost",
        context, VolumeStateName(record.state)));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> signatures, devices_.ProbeSignatures(device));
  const bool luks_signature =
      std::find(signatures.begin(), signatures.end(), "crypto_LUKS") != signatures.end();
  auto header = cryptsetup_.ReadHeader(device);
  if (luks_signature || !absl::IsNotFound(header.status())) {
    return absl::FailedPreconditionError(fmt::format(
        "{}: refusing to format: the device already carries a LUKS header{}; it may hold "
        "another volume's data. Wipe it deliberately if it is really unused",
        context,
        header.ok() || luks_signature
            ? ""
            : fmt::format(" ({})", std::string(header.status().message()))));
  }
  if (!signatures.empty() && claim != DeviceClaim::kNewAndEmpty) {
    std::string found;
    for (const std::string& s : signatures) found += (found.empty() ? "" : ", ") + s;
    return absl::FailedPreconditionError(
        fmt::format("{}: refusing to format: the device carries data signatures [{}]; wipe them "
                    "(wipefs) only if the data is really unwanted",
                    context, found));
  }
  ASSIGN_OR_RETURN(SecretBytes passphrase, DeriveKeyslotPassphrase(dek, record.volume_id));
  absl::Status formatted = cryptsetup_.Format(device, FormatSpecFor(record), dek, passphrase);
  if (!formatted.ok()) return Annotate(formatted, context + ": format");
  // Read back what libcryptsetup wrote: a drift in its defaults must not go unnoticed.
  absl::Status written = Validate(device, record, &dek);
  if (!written.ok()) return Annotate(written, context + ": the freshly written header");
  return absl::OkStatus();
}

absl::Status Engine::Validate(const std::string& device, const VolumeRecord& record,
                              const SecretBytes* dek) {
  RETURN_IF_ERROR(CheckVolumeRecord(record));
  const std::string context = Context(device, record);
  auto header = cryptsetup_.ReadHeader(device);
  if (!header.ok()) return Annotate(header.status(), context);
  absl::Status valid = ValidateLuks2Header(header->metadata_json, header->facts, record);
  if (!valid.ok()) {
    return absl::FailedPreconditionError(fmt::format(
        "{}: the LUKS2 header does not match the key service record: {}; refusing to use "
        "it (the disk may have been tampered with)",
        context, std::string(valid.message())));
  }
  if (dek != nullptr) {
    RETURN_IF_ERROR(CheckKey(record, *dek));
    absl::Status key = cryptsetup_.VerifyVolumeKey(device, *dek);
    if (!key.ok()) {
      return Annotate(key, fmt::format("{}: the header's key digest does not belong to this "
                                       "volume's key",
                                       context));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<OpenResult> Engine::Open(const std::string& device, const std::string& name,
                                        const VolumeRecord& record, const SecretBytes& dek,
                                        const OpenOptions& options) {
  RETURN_IF_ERROR(CheckMappingName(name));
  RETURN_IF_ERROR(CheckVolumeRecord(record));
  RETURN_IF_ERROR(CheckKey(record, dek));
  const std::string context = Context(device, record);
  if (options.allow_discards && record.integrity != IntegrityMode::kNone) {
    return absl::InvalidArgumentError(
        fmt::format("{}: discards are not supported with integrity protection", context));
  }
  const OpenResult result{MapperPath(name), false};

  auto existing = device_mapper_.Info(name);
  if (existing.ok()) {
    // Open again (after a restart): adopt only what matches exactly; never touch the rest.
    RETURN_IF_ERROR(Validate(device, record, &dek));
    absl::Status matches = VerifyMapping(device, name, record, options);
    if (!matches.ok()) {
      return absl::FailedPreconditionError(fmt::format(
          "{}: mapping {} already exists and does not match ({}); close it once nothing uses "
          "it, then retry",
          context, name, std::string(matches.message())));
    }
    return OpenResult{MapperPath(name), true};
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();

  // A dm-integrity mapping left behind by an interrupted activation blocks a new one.
  const std::string integrity_name = IntegrityMappingName(name);
  if (auto stale = device_mapper_.Info(integrity_name); stale.ok()) {
    if (stale->open_count != 0) {
      return absl::FailedPreconditionError(
          fmt::format("{}: a leftover integrity mapping {} is in use; close it first", context,
                      integrity_name));
    }
    RETURN_IF_ERROR(device_mapper_.Remove(integrity_name));
  }

  HeaderCheck check = [&record](const HeaderSnapshot& header) -> absl::Status {
    return ValidateLuks2Header(header.metadata_json, header.facts, record);
  };
  ActivateOptions activate{options.allow_discards, options.integrity_no_journal};
  absl::Status activated = cryptsetup_.Activate(device, name, dek, activate, check);
  if (absl::IsAlreadyExists(activated)) {
    return Annotate(activated, fmt::format("{}: mapping {} appeared concurrently", context, name));
  }
  if (!activated.ok()) {
    // Whatever half-built mapping exists must not survive a failed activation.
    absl::Status removed = TearDown(name, activated);
    if (absl::IsFailedPrecondition(activated)) {
      return absl::FailedPreconditionError(
          fmt::format("{}: the LUKS2 header does not match the key service record: {}; refusing to "
                      "activate (the disk may have been tampered with)",
                      context, std::string(removed.message())));
    }
    return Annotate(removed, fmt::format("{}: activate {}", context, name));
  }
  absl::Status verified = VerifyMapping(device, name, record, options);
  if (!verified.ok()) {
    return Annotate(TearDown(name, verified),
                    fmt::format("{}: the kernel's table for {} differs from what was asked; "
                                "the mapping was removed",
                                context, name));
  }
  return result;
}

absl::Status Engine::TearDown(const std::string& name, const absl::Status& cause) {
  absl::Status closed = Close(name);
  if (closed.ok()) return cause;
  return absl::Status(
      cause.code(), fmt::format("{} (and removing mapping {} failed: {}; remove "
                                "it by hand)",
                                std::string(cause.message()), name, std::string(closed.message())));
}

absl::Status Engine::VerifyMapping(const std::string& device, const std::string& name,
                                   const VolumeRecord& record, const OpenOptions& options) {
  return VerifyMappingImpl(device, name, record, options, /*check_length=*/true);
}

absl::Status Engine::VerifyMappingImpl(const std::string& device, const std::string& name,
                                       const VolumeRecord& record, const OpenOptions& options,
                                       bool check_length) {
  ASSIGN_OR_RETURN(DeviceNumber number, devices_.Number(device));
  ASSIGN_OR_RETURN(std::uint64_t device_bytes, devices_.SizeBytes(device));
  ASSIGN_OR_RETURN(std::vector<DmTarget> table, device_mapper_.Table(name));
  if (record.integrity == IntegrityMode::kNone) {
    ExpectedMapping expected =
        ExpectedMappingFor(record, number, device_bytes, {}, options.allow_discards, true);
    if (!check_length) expected.device_sectors = 0;
    return VerifyCryptTable(table, expected);
  }
  const std::string integrity_name = IntegrityMappingName(name);
  auto integrity_info = device_mapper_.Info(integrity_name);
  if (!integrity_info.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("live table: integrity mapping {} is missing ({})", integrity_name,
                    std::string(integrity_info.status().message())));
  }
  ASSIGN_OR_RETURN(std::vector<DmTarget> integrity_table, device_mapper_.Table(integrity_name));
  const ExpectedMapping expected = ExpectedMappingFor(
      record, number, device_bytes, DeviceNumber{integrity_info->major, integrity_info->minor},
      options.allow_discards, !options.integrity_no_journal);
  RETURN_IF_ERROR(VerifyIntegrityTable(integrity_table, expected));
  return VerifyCryptTable(table, expected, integrity_table[0].length);
}

absl::Status Engine::Close(const std::string& name) {
  RETURN_IF_ERROR(CheckMappingName(name));
  absl::Status closed = cryptsetup_.Deactivate(name);
  if (!closed.ok() && !absl::IsNotFound(closed)) return Annotate(closed, "close " + name);
  // libcryptsetup removes the integrity mapping with the crypt one; a leftover from an
  // interrupted activation is removed here.
  const std::string integrity_name = IntegrityMappingName(name);
  absl::Status removed = device_mapper_.Remove(integrity_name);
  if (!removed.ok() && !absl::IsNotFound(removed))
    return Annotate(removed, "close " + integrity_name);
  return absl::OkStatus();
}

}  // namespace cloak::crypt
