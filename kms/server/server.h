#pragma once

// KmsServer: cloak-kms assembled from its configuration — store, KEK provider, session
// tokens, verifier, KeyService and AdminService on one TLS 1.3 port, and the background
// KEK rotation runner. main.cc owns one; tests can run one in-process.

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/fault_injection.h"
#include "common/logging.h"
#include "kms/server/config.h"

namespace cloak::kms::server {

class KmsServer {
 public:
  // Opens the store and the KEK provider, loads the session signing key, resumes a KEK
  // rotation left running, and starts serving on config.listen. `logger` must not be null;
  // `faults` reach the store and the rotation runner. Configuration problems are
  // INVALID_ARGUMENT / FAILED_PRECONDITION / NOT_FOUND / PERMISSION_DENIED naming the key;
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<KmsServer>> Start(const ServerConfig& config,
                                                          std::shared_ptr<Logger> logger,
                                                          FaultPoints faults);
  ~KmsServer();

  // The address actually bound, "HOST:PORT" (the port resolved when config.listen asked
  // for port 0).
  const std::string& address() const;

  // Stops accepting calls, lets in-flight calls finish for up to `drain` (then cancels
  // them), and stops the rotation runner between two steps. Idempotent.
  void Shutdown(std::chrono::milliseconds drain);

 private:
  struct Parts;
  explicit KmsServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

// Writes "ADDRESS\n" to `path` atomically (a temporary file beside it, then rename), so
// that a reader sees either nothing, the previous file, or the whole new line. Errors
// name the file.
absl::Status WriteReadyFile(const std::string& path, const std::string& address);

}  // namespace cloak::kms::server
