#pragma once

// Helpers for the cloak-kms integration tests: the real binary as a child process (its
// stdout and stderr captured in a file), `cloak-kms init` through the binary, TLS
// channels, and a node's Challenge → Attest with NONE evidence.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "kms/crypto/hpke.h"
#include "kms/proto/kms.grpc.pb.h"
#include "kms/service/evidence_verifier.h"

namespace cloak::kms::server_test {

// $CLOAK_BINARY_DIR/kms/server/cloak-kms.
std::string KmsBinary();

// A private directory under `base` (default $TMPDIR or /tmp), removed afterwards.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& base = "");
  ~ScratchDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& contents);

// Runs `cloak-kms init --dir DIR --cloakctl-config CLOAKCTL`; the exit code.
int RunInit(const std::string& dir, const std::string& cloakctl);

class KmsProcess {
 public:
  struct Options {
    std::vector<std::string> args;  // after "cloak-kms"
    std::vector<std::string> env;   // NAME=VALUE added to this process's environment
    std::string log_path;           // stdout and stderr, appended
    std::string ready_file;         // what WaitReady polls
  };
  explicit KmsProcess(Options options);
  ~KmsProcess();  // SIGKILLs a child still running

  // The address in the ready file once it holds a line other than `stale`; an error when
  // the process exits first or `timeout` passes.
  absl::StatusOr<std::string> WaitReady(std::chrono::milliseconds timeout,
                                        const std::string& stale = "");
  void Signal(int signal_number);
  // The exit code (128 + signal when killed), or nullopt on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  Options options_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

struct TlsFiles {
  std::string ca_pem;
  std::string cert_pem;  // empty: no client certificate
  std::string key_pem;
};

// Files from an init'ed directory: the server CA, and the admin certificate and key.
TlsFiles AdminTlsFiles(const std::string& dir);

// A TLS channel to `address` (verifying the server for "localhost").
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const TlsFiles& tls);

absl::Status ToAbsl(const grpc::Status& status);

struct Session {
  HpkeKeyPair key_pair;
  AttestationBinding binding{};
  std::string token;
};

// Challenge → Attest with EVIDENCE_TYPE_NONE for `identity` and a fresh ephemeral key.
absl::StatusOr<Session> Attest(v1::KeyService::Stub& stub, const std::string& identity);

// GetVolumeKey as `node`, opened on the client side with the node's private key.
absl::StatusOr<SecretBytes> FetchDek(v1::KeyService::Stub& stub, const Session& node,
                                     const std::string& volume_id,
                                     v1::GetVolumeKeyResponse* response = nullptr);

std::string AsString(std::span<const std::uint8_t> bytes);

// Runs `command` through the shell; its exit code (-1 when it did not exit normally) and
// its stdout and stderr together.
std::pair<int, std::string> Shell(const std::string& command);

}  // namespace cloak::kms::server_test

namespace cloak::kms::server_test {

// An init'ed directory with a running cloak-kms on 127.0.0.1, port 0.
struct KmsInstance {
  std::unique_ptr<ScratchDir> scratch;
  std::string dir;     // the init'ed directory
  std::string config;  // the config file served
  std::string log;     // captured stdout + stderr
  std::string ready;   // the ready file
  std::unique_ptr<KmsProcess> process;
  std::string address;
};

// Runs init in a fresh directory under `base` (empty: $TMPDIR), then, unless
// `config_edit` says otherwise, serves DIR/kms.yaml with --listen 127.0.0.1:0,
// --ready-file and `args`. `config_edit` rewrites the YAML text before serving.
absl::StatusOr<std::unique_ptr<KmsInstance>> InitAndServe(
    std::vector<std::string> args, std::vector<std::string> env = {}, const std::string& base = "",
    std::string (*config_edit)(std::string) = nullptr);

// Starts the instance's server again (same files and log); sets process and address.
absl::Status Restart(KmsInstance& instance, std::vector<std::string> args,
                     std::vector<std::string> env = {});

}  // namespace cloak::kms::server_test
