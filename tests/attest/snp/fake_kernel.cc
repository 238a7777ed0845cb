#include "tests/attest/snp/fake_kernel.h"

#include <fcntl.h>
#include <linux/sev-guest.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/status/status.h"

namespace cloak::attest::snp::snp_test {
namespace {

void Write(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

FakeTsm::FakeTsm(std::string root, ReportMaker maker)
    : root_(std::move(root)), maker_(std::move(maker)) {
  std::signal(SIGPIPE, SIG_IGN);
  std::filesystem::create_directories(root_ + "/report");
}

FakeTsm::~FakeTsm() {
  stop_ = true;
  JoinAll();
}

void FakeTsm::JoinAll() {
  std::vector<std::thread> servers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    servers.swap(servers_);
  }
  for (auto& t : servers) t.join();
}

absl::Status FakeTsm::MakeEntry(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0) {
    return errno == EEXIST ? absl::AlreadyExistsError(path) : absl::UnavailableError(path);
  }
  Write(path + "/inblob", "");
  Write(path + "/privlevel", "");
  Write(path + "/provider", provider + "\n");
  Write(path + "/generation", "1\n");
  if (!auxblob.empty()) Write(path + "/auxblob", auxblob);
  if (::mkfifo((path + "/outblob").c_str(), 0600) != 0) return absl::UnavailableError("mkfifo");
  created.push_back(path);
  std::lock_guard<std::mutex> lock(mu_);
  servers_.emplace_back([this, path] { Serve(path); });
  return absl::OkStatus();
}

void FakeTsm::Serve(std::string entry) {
  const std::string fifo = entry + "/outblob";
  int fd = -1;
  while (fd < 0) {  // wait for the reader (the collector) without blocking forever
    fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) break;
    if (errno != ENXIO || stop_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::fcntl(fd, F_SETFL, 0);
  last_privlevel = Read(entry + "/privlevel");
  const std::string report = maker_(Read(entry + "/inblob"));
  if (concurrent_writer) Write(entry + "/generation", "2\n");
  std::size_t done = 0;
  while (done < report.size()) {
    const ssize_t n = ::write(fd, report.data() + done, report.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

absl::Status FakeTsm::RemoveEntry(const std::string& path) {
  stop_ = true;
  JoinAll();
  stop_ = false;
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  removed.push_back(path);
  return absl::OkStatus();
}

int FakeSevGuest::Ioctl(unsigned long request, void* arg) {
  ++calls;
  if (request != SNP_GET_EXT_REPORT) return ENOTTY;
  auto* io = static_cast<snp_guest_request_ioctl*>(arg);
  if (io->msg_version != 1) return EINVAL;
  if (fail_errno != 0) {
    io->exitinfo2 = 0x27;  // a firmware error code
    return fail_errno;
  }
  auto* req = reinterpret_cast<snp_ext_report_req*>(static_cast<std::uintptr_t>(io->req_data));
  auto* resp = reinterpret_cast<snp_report_resp*>(static_cast<std::uintptr_t>(io->resp_data));
  last_vmpl = req->data.vmpl;
  if (req->certs_len % 4096 != 0) return EINVAL;  // the kernel wants whole pages
  const std::uint32_t needed = static_cast<std::uint32_t>((table.size() + 4095) / 4096 * 4096);
  if (req->certs_len < needed) {
    req->certs_len = needed;
    if (use_enospc) return ENOSPC;
    io->exitinfo2 = std::uint64_t{SNP_GUEST_VMM_ERR_INVALID_LEN} << 32;
    return EIO;
  }
  auto* certs = reinterpret_cast<std::uint8_t*>(static_cast<std::uintptr_t>(req->certs_address));
  std::memset(certs, 0, req->certs_len);
  std::memcpy(certs, table.data(), table.size());
  const std::string report =
      maker_(std::string(reinterpret_cast<const char*>(req->data.user_data), 64));
  std::memset(resp->data, 0, sizeof(resp->data));
  std::memcpy(resp->data, &firmware_status, 4);
  const std::uint32_t size = static_cast<std::uint32_t>(report.size());
  std::memcpy(resp->data + 4, &size, 4);
  std::memcpy(resp->data + 0x20, report.data(), report.size());
  io->exitinfo2 = 0;
  return 0;
}

}  // namespace cloak::attest::snp::snp_test
