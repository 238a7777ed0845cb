#pragma once

// FakeCryptsetup: LUKS2 headers and activations held in memory, for unit tests of the
// engine. Format writes the JSON libcryptsetup would write; Activate adds the tables the
// kernel would report to a FakeDeviceMapper.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "crypt/cryptsetup.h"
#include "tests/crypt/fake_block_devices.h"
#include "tests/crypt/fake_device_mapper.h"

namespace cloak::crypt::testing {

class FakeCryptsetup final : public Cryptsetup {
 public:
  struct Volume {
    HeaderSnapshot header;
    SecretBytes volume_key;
    SecretBytes passphrase;
  };

  // Both must outlive the fake.
  FakeCryptsetup(FakeDeviceMapper& device_mapper, FakeBlockDevices& devices)
      : device_mapper_(device_mapper), devices_(devices) {}

  absl::Status Format(const std::string& device, const FormatSpec& spec,
                      const SecretBytes& volume_key,
                      const SecretBytes& keyslot_passphrase) override;
  absl::StatusOr<HeaderSnapshot> ReadHeader(const std::string& device) override;
  absl::Status VerifyVolumeKey(const std::string& device, const SecretBytes& volume_key) override;
  absl::Status Activate(const std::string& device, const std::string& name,
                        const SecretBytes& volume_key, const ActivateOptions& options,
                        const HeaderCheck& check) override;
  absl::Status Deactivate(const std::string& name) override;
  absl::Status Resize(const std::string& name, const SecretBytes& volume_key) override;

  // Test hooks.
  std::map<std::string, Volume> volumes;  // by device path
  std::vector<std::string> calls;         // "Format <device>", "Activate <device> <name>", ...
  // Runs after a successful activation: tests use it to make the kernel "disagree".
  std::function<void(const std::string& name)> after_activate;
  // Devices whose header exists but cannot be loaded (a damaged LUKS header).
  std::map<std::string, absl::Status> unreadable;
  // Grown by Resize: the size the crypt table takes after a resize.
  std::map<std::string, std::string> device_of;  // mapping name -> device path

 private:
  FakeDeviceMapper& device_mapper_;
  FakeBlockDevices& devices_;
};

}  // namespace cloak::crypt::testing
