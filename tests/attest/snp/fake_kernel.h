#pragma once

// Fakes of the kernel's side of the two SEV-SNP guest interfaces: a configfs-tsm report
// tree in a temp directory (outblob is a FIFO served by a thread that reads inblob, as the
// kernel produces the report on read) and a /dev/sev-guest that answers
// SNP_GET_EXT_REPORT.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "attest/snp/configfs_collector.h"
#include "attest/snp/sev_guest_collector.h"

namespace cloak::attest::snp::snp_test {

// Makes the report the firmware would return for `report_data` (64 bytes).
using ReportMaker = std::function<std::string(const std::string& report_data)>;

class FakeTsm : public TsmEntryOps {
 public:
  // Creates <root>/report.
  FakeTsm(std::string root, ReportMaker maker);
  ~FakeTsm() override;

  absl::Status MakeEntry(const std::string& path) override;
  absl::Status RemoveEntry(const std::string& path) override;

  std::string provider = "sev_guest";
  std::string auxblob;               // empty: no auxblob attribute
  bool concurrent_writer = false;    // bump generation while the report is read
  std::vector<std::string> created;  // entries made
  std::vector<std::string> removed;  // entries removed
  std::string last_privlevel;

 private:
  void Serve(std::string entry);
  void JoinAll();
  std::string root_;
  ReportMaker maker_;
  std::mutex mu_;
  std::vector<std::thread> servers_;
  std::atomic<bool> stop_{false};
};

class FakeSevGuest : public SevGuestDevice {
 public:
  explicit FakeSevGuest(ReportMaker maker) : maker_(std::move(maker)) {}

  int Ioctl(unsigned long request, void* arg) override;

  std::string table;        // the host's certificates; empty: none
  bool use_enospc = false;  // signal "too small" the way older kernels did
  int fail_errno = 0;       // fail every call with this errno
  std::uint32_t firmware_status = 0;
  int calls = 0;
  std::uint32_t last_vmpl = 0;

 private:
  ReportMaker maker_;
};

}  // namespace cloak::attest::snp::snp_test
