#pragma once

// AdminClient: cloakctl's view of the key service's AdminService (kms/proto/kms.proto).
// The commands take this interface; GrpcAdminClient is the one real implementation
// (gRPC over mutual TLS), tests use a fake.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cli/client_config.h"
#include "grpcpp/support/status.h"
#include "kms/proto/kms.pb.h"

namespace cloak::cli {

namespace v1 = ::cloak::kms::v1;

class AdminClient {
 public:
  virtual ~AdminClient() = default;

  // Every call below is one RPC of the same name, not thread-safe. Errors keep the
  // RPC's status code; their message already says what failed and what to do
  // (DescribeRpcError).

  // Serving state and current KEK version; UNAVAILABLE when the service's store is down.
  virtual absl::StatusOr<v1::HealthResponse> Health() = 0;
  // One page of volumes in id order; an empty next_page_token ends the listing.
  virtual absl::StatusOr<v1::ListVolumesResponse> ListVolumes(int page_size,
                                                              const std::string& page_token) = 0;
  // One volume; NOT_FOUND when the service does not know it.
  virtual absl::StatusOr<v1::VolumeInfo> GetVolume(const std::string& volume_id) = 0;
  // Starts (or joins) a KEK rotation and returns its status.
  virtual absl::StatusOr<v1::RotationStatus> RotateKek() = 0;
  // The current or last rotation; STATE_UNSPECIFIED before any.
  virtual absl::StatusOr<v1::RotationStatus> GetRotationStatus() = 0;
  // Up to `limit` entries with sequence >= from_sequence, in sequence order.
  virtual absl::StatusOr<v1::ListAuditResponse> ListAudit(std::uint64_t from_sequence,
                                                          int limit) = 0;
  // Version `version` (0: the latest) of policy `name`; NOT_FOUND when there is none.
  virtual absl::StatusOr<v1::Policy> GetPolicy(const std::string& name, std::int64_t version) = 0;
  // Stores `document` as the next version of `name` if its latest version is
  // `expected_version` (0: none yet); ABORTED when it is another one.
  virtual absl::StatusOr<v1::Policy> SetPolicy(const std::string& name, const std::string& document,
                                               std::int64_t expected_version) = 0;
  // HOST:PORT of the key service, for messages.
  virtual const std::string& target() const = 0;
};

// Turns a failed RPC into a status with the same code whose message names the call, the
// service address and the likely fix (network, CA, client certificate). Thread-safe.
absl::Status DescribeRpcError(const grpc::Status& status, absl::string_view rpc,
                              absl::string_view target);

class GrpcAdminClient final : public AdminClient {
 public:
  // Reads the three PEM files and builds a TLS channel that trusts only config.ca and
  // presents config.cert / config.key. Nothing is dialled yet. INVALID_ARGUMENT naming
  // the flag and config key when a file is missing, unreadable or not PEM.
  static absl::StatusOr<std::unique_ptr<GrpcAdminClient>> Create(const ClientConfig& config,
                                                                 absl::Duration timeout);
  ~GrpcAdminClient() override;

  absl::StatusOr<v1::HealthResponse> Health() override;
  absl::StatusOr<v1::ListVolumesResponse> ListVolumes(int page_size,
                                                      const std::string& page_token) override;
  absl::StatusOr<v1::VolumeInfo> GetVolume(const std::string& volume_id) override;
  absl::StatusOr<v1::RotationStatus> RotateKek() override;
  absl::StatusOr<v1::RotationStatus> GetRotationStatus() override;
  absl::StatusOr<v1::ListAuditResponse> ListAudit(std::uint64_t from_sequence, int limit) override;
  absl::StatusOr<v1::Policy> GetPolicy(const std::string& name, std::int64_t version) override;
  absl::StatusOr<v1::Policy> SetPolicy(const std::string& name, const std::string& document,
                                       std::int64_t expected_version) override;
  const std::string& target() const override { return target_; }

 private:
  struct Impl;
  GrpcAdminClient(std::string target, std::unique_ptr<Impl> impl);

  std::string target_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cloak::cli
