#pragma once

// SevGuestCollector: SEV-SNP extended reports through /dev/sev-guest (ioctl
// SNP_GET_EXT_REPORT, <linux/sev-guest.h>), the interface of kernels before configfs-tsm.
// The ioctl sits behind SevGuestDevice so tests can play the kernel's side.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "attest/snp/collector.h"

namespace cloak::attest::snp {

inline constexpr char kDefaultSevGuestDevice[] = "/dev/sev-guest";

// An open /dev/sev-guest.
class SevGuestDevice {
 public:
  virtual ~SevGuestDevice() = default;

  // ioctl(2) on the device with `request` and `arg` (a struct snp_guest_request_ioctl*).
  // Returns 0, or the errno of the failure. Not thread-safe.
  virtual int Ioctl(unsigned long request, void* arg) = 0;
};

// Opens `path` read-write. UNAVAILABLE with errno context when it cannot be opened.
absl::StatusOr<std::unique_ptr<SevGuestDevice>> OpenSevGuestDevice(const std::string& path);

class SevGuestCollector : public SnpCollector {
 public:
  // A collector over `device`, requesting reports at `vmpl`.
  explicit SevGuestCollector(std::unique_ptr<SevGuestDevice> device, std::uint32_t vmpl = 0)
      : device_(std::move(device)), vmpl_(vmpl) {}

  absl::StatusOr<std::string> Collect(std::span<const std::uint8_t, 64> binding) override;

 private:
  std::unique_ptr<SevGuestDevice> device_;
  std::uint32_t vmpl_;
};

}  // namespace cloak::attest::snp
