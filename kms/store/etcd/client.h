#pragma once

// Client: EtcdKeyStore's connection to an etcd cluster over etcd's v3 gRPC API
// (etcd_rpc.proto). One channel per endpoint; a call goes to the endpoint that last
// answered and moves on to the next one when that endpoint is unreachable.
//
// This is the one place where gRPC statuses from etcd become absl statuses:
// unreachable, timed out, no leader → UNAVAILABLE; out of space or overloaded →
// RESOURCE_EXHAUSTED; refused credentials or a request etcd will not take (too large) →
// FAILED_PRECONDITION; anything else → INTERNAL. Every message names the operation and
// the endpoint.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/status.h"
#include "kms/store/etcd/etcd_rpc.grpc.pb.h"

namespace cloak::kms::etcd {

struct ConnectionOptions {
  // "host:port", "http://host:port" or "https://host:port".
  std::vector<std::string> endpoints;
  // PEM files. Any of them set (or an https:// endpoint) selects TLS; ca_file empty
  // then means the system's roots. cert_file and key_file go together.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

// Whether a call may be sent again, to the same or another endpoint, when the first
// try got no answer. Reads may; a commit may not, since it may have been applied.
enum class Retry { kUntilDeadline, kNever };

class Client {
 public:
  // Builds the channels; connects lazily. INVALID_ARGUMENT for a malformed endpoint or
  // incomplete TLS options; FAILED_PRECONDITION when a PEM file cannot be read.
  static absl::StatusOr<std::unique_ptr<Client>> Create(const ConnectionOptions& options);

  // KV.Range / KV.Txn / KV.Compact, answering by `deadline`. `what` names the operation
  // for messages. Thread-safe.
  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& request,
                                                    absl::Time deadline, std::string_view what);
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& request,
                                                absl::Time deadline, std::string_view what,
                                                Retry retry);
  absl::StatusOr<etcdserverpb::CompactionResponse> Compact(std::int64_t revision,
                                                           absl::Time deadline);

 private:
  struct Endpoint {
    std::string address;
    std::shared_ptr<grpc::ChannelCredentials> credentials;
    grpc::ChannelArguments args;
    std::mutex mutex;  // guards the two below
    std::shared_ptr<etcdserverpb::KV::Stub> stub;
    absl::Time connected_at;
  };
  explicit Client(std::vector<std::unique_ptr<Endpoint>> endpoints)
      : endpoints_(std::move(endpoints)) {}

  static std::shared_ptr<etcdserverpb::KV::Stub> Connect(Endpoint& endpoint);
  std::shared_ptr<etcdserverpb::KV::Stub> StubOf(Endpoint& endpoint);
  // Replaces the endpoint's channel after it failed to connect (at most every 200 ms).
  // gRPC's own reconnection can stay stuck on a member that was down or still starting
  // when the channel first tried it; a fresh channel with a fresh subchannel does not.
  void Reconnect(Endpoint& endpoint);

  template <typename Response, typename Call>
  absl::StatusOr<Response> Invoke(Call&& call, absl::Time deadline, std::string_view what,
                                  Retry retry);

  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::atomic<std::size_t> current_{0};  // the endpoint that answered last
};

// The absl status for a failed gRPC call to etcd at `endpoint` (see the file comment).
absl::Status FromEtcdStatus(const grpc::Status& status, std::string_view what,
                            std::string_view endpoint);

}  // namespace cloak::kms::etcd
