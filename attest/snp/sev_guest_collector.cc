#include "attest/snp/sev_guest_collector.h"

#include <fcntl.h>
#include <linux/sev-guest.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "attest/snp/snp_report.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::snp {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kInitialCertsLen = 4 * kPage;
constexpr std::size_t kMaxCertsLen = 256 * kPage;  // far above any real certificate table
constexpr int kAttempts = 3;
// MSG_REPORT_RSP (SEV-SNP ABI): status (u32), report_size (u32), 24 reserved bytes, report.
constexpr std::size_t kReportInResponse = 0x20;

class RealDevice : public SevGuestDevice {
 public:
  explicit RealDevice(int fd) : fd_(fd) {}
  ~RealDevice() override { ::close(fd_); }
  int Ioctl(unsigned long request, void* arg) override {
    int rc;
    do {
      rc = ::ioctl(fd_, request, arg);
    } while (rc < 0 && errno == EINTR);
    return rc == 0 ? 0 : errno;
  }

 private:
  int fd_;
};

std::uint32_t Le32(const std::uint8_t* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SevGuestDevice>> OpenSevGuestDevice(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(ErrnoToStatus(errno, fmt::format("open {}", path)).message());
  }
  return std::unique_ptr<SevGuestDevice>(std::make_unique<RealDevice>(fd));
}

absl::StatusOr<std::string> SevGuestCollector::Collect(std::span<const std::uint8_t, 64> binding) {
  std::size_t certs_len = kInitialCertsLen;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    std::vector<std::uint8_t> certs(certs_len, 0);
    snp_ext_report_req req{};
    std::memcpy(req.data.user_data, binding.data(), binding.size());
    req.data.vmpl = vmpl_;
    req.certs_address = reinterpret_cast<std::uintptr_t>(certs.data());
    req.certs_len = static_cast<std::uint32_t>(certs.size());
    snp_report_resp resp{};
    snp_guest_request_ioctl io{};
    io.msg_version = 1;
    io.req_data = reinterpret_cast<std::uintptr_t>(&req);
    io.resp_data = reinterpret_cast<std::uintptr_t>(&resp);
    const int err = device_->Ioctl(SNP_GET_EXT_REPORT, &io);
    const std::uint32_t vmm_error = static_cast<std::uint32_t>(io.exitinfo2 >> 32);
    const std::uint32_t fw_error = static_cast<std::uint32_t>(io.exitinfo2);
    if (err == ENOSPC || (err == EIO && vmm_error == SNP_GUEST_VMM_ERR_INVALID_LEN)) {
      // The host's certificates need a larger buffer; the kernel wrote the size it wants.
      const std::size_t wanted =
          (static_cast<std::size_t>(req.certs_len) + kPage - 1) / kPage * kPage;
      if (wanted <= certs_len || wanted > kMaxCertsLen) {
        return absl::UnavailableError(
            fmt::format("SNP_GET_EXT_REPORT: the host asks for a {}-byte certificate buffer, "
                        "outside {}..{} bytes",
                        req.certs_len, certs_len + 1, kMaxCertsLen));
      }
      certs_len = wanted;
      continue;
    }
    if (err != 0) {
      return absl::UnavailableError(fmt::format(
          "SNP_GET_EXT_REPORT failed: {} (firmware error 0x{:x}, VMM error 0x{:x}); check that the "
          "sev-guest driver is loaded and the host supports extended reports",
          std::string(ErrnoToStatus(err, "ioctl").message()), fw_error, vmm_error));
    }
    const std::uint32_t status = Le32(resp.data);
    const std::uint32_t report_size = Le32(resp.data + 4);
    if (status != 0) {
      return absl::UnavailableError(
          fmt::format("SNP_GET_EXT_REPORT: the firmware answered status 0x{:x}", status));
    }
    if (report_size != kReportSize || kReportInResponse + report_size > sizeof(resp.data)) {
      return absl::UnavailableError(
          fmt::format("SNP_GET_EXT_REPORT: the firmware returned a {}-byte report, not {} bytes",
                      report_size, kReportSize));
    }
    const bool no_certs =
        std::all_of(certs.begin(), certs.end(), [](std::uint8_t b) { return b == 0; });
    return EncodeSevSnpEvidence(
        {reinterpret_cast<const char*>(resp.data) + kReportInResponse, kReportSize},
        no_certs ? std::string_view()
                 : std::string_view(reinterpret_cast<const char*>(certs.data()), certs.size()));
  }
  return absl::UnavailableError(
      "SNP_GET_EXT_REPORT: the certificate buffer was still too small after retries");
}

}  // namespace cloak::attest::snp
