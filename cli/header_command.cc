#include "cli/header_command.h"

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/exit_codes.h"
#include "crypt/header_validator.h"
#include "crypt/volume_record.h"

namespace cloak::cli {
namespace {

constexpr std::streamsize kMaxRecordBytes = 1 << 20;

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open record file " + path);
  std::string text(static_cast<std::size_t>(kMaxRecordBytes) + 1, '\0');
  in.read(text.data(), kMaxRecordBytes + 1);
  if (in.gcount() > kMaxRecordBytes) {
    return absl::InvalidArgumentError("record file " + path + " is larger than 1 MiB");
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}

}  // namespace

int RunHeaderVerify(const HeaderVerifyArgs& args, crypt::Cryptsetup& cryptsetup, std::ostream& out,
                    std::ostream& err) {
  auto text = ReadSmallFile(args.record_path);
  if (!text.ok()) {
    err << "cloakctl header verify: " << text.status().message() << "\n";
    return kExitUsage;
  }
  auto record = crypt::ParseVolumeRecord(*text);
  if (!record.ok()) {
    err << "cloakctl header verify: " << args.record_path << ": " << record.status().message()
        << "\n";
    return kExitUsage;
  }
  // Validation needs only the header: the device-mapper and block-device views are unused.
  auto header = cryptsetup.ReadHeader(args.device);
  absl::Status status = header.status();
  if (header.ok()) {
    status = crypt::ValidateLuks2Header(header->metadata_json, header->facts, *record);
  }
  if (!status.ok()) {
    err << "MISMATCH " << args.device << " (volume " << record->volume_id
        << "): " << status.message() << "\n";
    return kExitFailed;
  }
  out << "OK " << args.device << ": LUKS2 volume " << record->volume_id << ", " << record->cipher
      << " " << record->key_size_bits << "-bit, integrity "
      << crypt::IntegrityModeName(record->integrity) << ", " << record->sector_size
      << "-byte sectors, data at " << record->data_offset_bytes << ", 1 keyslot (pbkdf2-sha256, "
      << record->keyslot_iterations << " iterations)\n";
  return kExitOk;
}

void AddHeaderCommands(CLI::App& app, crypt::Cryptsetup& cryptsetup, int& result) {
  CLI::App* header = app.add_subcommand("header", "Offline checks of LUKS2 headers");
  header->require_subcommand(1);
  auto args = std::make_shared<HeaderVerifyArgs>();
  CLI::App* verify = header->add_subcommand(
      "verify", "Check a device's LUKS2 header against a volume record (no key needed)");
  verify->add_option("--device", args->device, "Block device or image file")->required();
  verify->add_option("--record", args->record_path, "Volume record JSON file")->required();
  verify->callback([args, &cryptsetup, &result] {
    result = RunHeaderVerify(*args, cryptsetup, std::cout, std::cerr);
  });
}

}  // namespace cloak::cli
