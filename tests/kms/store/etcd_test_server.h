#pragma once

// EtcdTestServer: a real, single-member etcd for the etcd store's integration tests. It
// listens on 127.0.0.1 on client and peer ports chosen at run time, keeps its data in a
// private temporary directory, and is killed (and the directory removed) when the
// object goes. The binary is $CLOAK_ETCD or `etcd` on PATH; scripts/install-deps
// installs it (Debian's etcd-server).

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "tests/kms/store/temp_dir.h"

namespace cloak::kms {

class EtcdTestServer {
 public:
  // Starts etcd and waits until it answers. FAILED_PRECONDITION when the binary is
  // missing; UNAVAILABLE when it does not come up (its log is in the message).
  static absl::StatusOr<std::unique_ptr<EtcdTestServer>> Start();
  ~EtcdTestServer();
  EtcdTestServer(const EtcdTestServer&) = delete;
  EtcdTestServer& operator=(const EtcdTestServer&) = delete;

  // "127.0.0.1:<client port>".
  std::string endpoint() const;
  // Stops etcd (SIGTERM, then SIGKILL) and keeps its data.
  void Stop();
  // Starts it again on the same ports and data, and waits until it answers.
  absl::Status Restart();

 private:
  explicit EtcdTestServer(std::string binary) : binary_(std::move(binary)) {}
  absl::Status Launch();
  absl::Status WaitUntilHealthy();
  std::string LogTail() const;

  std::string binary_;
  TempDir dir_;
  int client_port_ = 0;
  int peer_port_ = 0;
  pid_t pid_ = -1;
};

// The etcd that every test of the binary shares, started by a gtest environment before
// the first test (which fails the whole binary, naming scripts/install-deps, when etcd
// cannot start) and stopped after the last.
EtcdTestServer& SharedEtcd();

// A key prefix that no other test of this process uses, so that each test sees an
// empty store on the shared etcd.
std::string UniqueEtcdPrefix();

}  // namespace cloak::kms
