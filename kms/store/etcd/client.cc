#include "kms/store/etcd/client.h"

#include <fstream>
#include <iterator>
#include <utility>

#include "absl/time/clock.h"
#include "fmt/format.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace cloak::kms::etcd {
namespace {

// Between rounds over every endpoint when none answered.
constexpr absl::Duration kRoundPause = absl::Milliseconds(50);

absl::StatusOr<std::string> ReadPem(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(fmt::format(
        "cannot read the etcd {} file {}; check the path and its permissions", what, path));
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Splits "scheme://host:port" into (tls, "host:port").
absl::StatusOr<std::pair<bool, std::string>> ParseEndpoint(std::string_view endpoint) {
  bool tls = false;
  if (endpoint.starts_with("https://")) {
    tls = true;
    endpoint.remove_prefix(8);
  } else if (endpoint.starts_with("http://")) {
    endpoint.remove_prefix(7);
  }
  while (endpoint.ends_with('/')) endpoint.remove_suffix(1);
  std::size_t colon = endpoint.rfind(':');
  if (endpoint.empty() || colon == std::string_view::npos || colon == 0 ||
      colon + 1 == endpoint.size() || endpoint.find('/') != std::string_view::npos) {
    return absl::InvalidArgumentError(fmt::format(
        "etcd endpoint '{}' is not host:port (optionally with http:// or https://)", endpoint));
  }
  return std::make_pair(tls, std::string(endpoint));
}

std::chrono::system_clock::time_point ToChrono(absl::Time time) { return absl::ToChronoTime(time); }

}  // namespace

absl::Status FromEtcdStatus(const grpc::Status& status, std::string_view what,
                            std::string_view endpoint) {
  const std::string& detail = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return absl::OkStatus();
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::ABORTED:
      return absl::UnavailableError(
          fmt::format("{}: etcd at {} did not answer in time or has no leader ({}); check that "
                      "the etcd cluster is running and reachable, then retry",
                      what, endpoint, detail));
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return absl::ResourceExhaustedError(fmt::format(
          "{}: etcd at {} is out of space or overloaded ({}); compact and defragment etcd or "
          "raise its --quota-backend-bytes, disarm the NOSPACE alarm, then retry",
          what, endpoint, detail));
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return absl::FailedPreconditionError(
          fmt::format("{}: etcd at {} refused the key service's credentials ({}); check the "
                      "client certificate and etcd's auth settings",
                      what, endpoint, detail));
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return absl::FailedPreconditionError(
          fmt::format("{}: etcd at {} refused the request ({}); a request too large needs a "
                      "higher --max-request-bytes, too many operations a higher --max-txn-ops",
                      what, endpoint, detail));
    default:
      return absl::InternalError(fmt::format("{}: etcd at {} failed with gRPC code {} ({})", what,
                                             endpoint, static_cast<int>(status.error_code()),
                                             detail));
  }
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const ConnectionOptions& options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("etcd endpoints: at least one is required");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "etcd TLS: cert_file and key_file must be given together (the client certificate and "
        "its private key)");
  }
  bool want_tls =
      !options.ca_file.empty() || !options.cert_file.empty() || !options.key_file.empty();
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(options.ca_file, "CA");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!options.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadPem(options.cert_file, "client certificate");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem(options.key_file, "client key");
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }

  grpc::ChannelArguments args;
  // Come back quickly after an etcd restart instead of gRPC's default backoff of up to
  // two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A page of 1000 volumes with large records exceeds gRPC's default 4 MiB.
  args.SetMaxReceiveMessageSize(-1);

  // Channels are private to each Client (and replaced by Reconnect), so a subchannel
  // that gRPC left stuck is never shared with a fresh channel.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);

  std::vector<std::unique_ptr<Endpoint>> endpoints;
  for (const std::string& endpoint : options.endpoints) {
    absl::StatusOr<std::pair<bool, std::string>> parsed = ParseEndpoint(endpoint);
    if (!parsed.ok()) return parsed.status();
    auto [https, address] = *std::move(parsed);
    if (!https && want_tls && endpoint.starts_with("http://")) {
      return absl::InvalidArgumentError(fmt::format(
          "etcd endpoint '{}' says http:// but TLS files are configured; use https://", endpoint));
    }
    auto entry = std::make_unique<Endpoint>();
    entry->address = address;
    entry->credentials =
        https || want_tls ? grpc::SslCredentials(ssl) : grpc::InsecureChannelCredentials();
    entry->args = args;
    entry->stub = Connect(*entry);
    entry->connected_at = absl::Now();
    endpoints.push_back(std::move(entry));
  }
  return std::unique_ptr<Client>(new Client(std::move(endpoints)));
}

std::shared_ptr<etcdserverpb::KV::Stub> Client::Connect(Endpoint& endpoint) {
  return etcdserverpb::KV::NewStub(
      grpc::CreateCustomChannel(endpoint.address, endpoint.credentials, endpoint.args));
}

std::shared_ptr<etcdserverpb::KV::Stub> Client::StubOf(Endpoint& endpoint) {
  std::lock_guard lock(endpoint.mutex);
  return endpoint.stub;
}

void Client::Reconnect(Endpoint& endpoint) {
  std::lock_guard lock(endpoint.mutex);
  absl::Time now = absl::Now();
  if (now - endpoint.connected_at < absl::Milliseconds(200)) return;
  endpoint.stub = Connect(endpoint);
  endpoint.connected_at = now;
}

template <typename Response, typename Call>
absl::StatusOr<Response> Client::Invoke(Call&& call, absl::Time deadline, std::string_view what,
                                        Retry retry) {
  absl::Status last;
  while (true) {
    std::size_t start = current_.load();
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
      std::size_t index = (start + i) % endpoints_.size();
      Endpoint& endpoint = *endpoints_[index];
      std::shared_ptr<etcdserverpb::KV::Stub> stub = StubOf(endpoint);
      grpc::ClientContext context;
      context.set_deadline(ToChrono(deadline));
      Response response;
      grpc::Status status = call(*stub, &context, &response);
      if (status.ok()) {
        current_.store(index);
        return response;
      }
      last = FromEtcdStatus(status, what, endpoint.address);
      if (last.code() != absl::StatusCode::kUnavailable) return last;
      Reconnect(endpoint);
      // The next call starts with another endpoint.
      current_.store((index + 1) % endpoints_.size());
      if (retry == Retry::kNever || absl::Now() >= deadline) return last;
    }
    if (absl::Now() + kRoundPause >= deadline) return last;
    absl::SleepFor(kRoundPause);
  }
}

absl::StatusOr<etcdserverpb::RangeResponse> Client::Range(const etcdserverpb::RangeRequest& request,
                                                          absl::Time deadline,
                                                          std::string_view what) {
  return Invoke<etcdserverpb::RangeResponse>(
      [&](etcdserverpb::KV::Stub& stub, grpc::ClientContext* context,
          etcdserverpb::RangeResponse* response) { return stub.Range(context, request, response); },
      deadline, what, Retry::kUntilDeadline);
}

absl::StatusOr<etcdserverpb::TxnResponse> Client::Txn(const etcdserverpb::TxnRequest& request,
                                                      absl::Time deadline, std::string_view what,
                                                      Retry retry) {
  return Invoke<etcdserverpb::TxnResponse>(
      [&](etcdserverpb::KV::Stub& stub, grpc::ClientContext* context,
          etcdserverpb::TxnResponse* response) { return stub.Txn(context, request, response); },
      deadline, what, retry);
}

absl::StatusOr<etcdserverpb::CompactionResponse> Client::Compact(std::int64_t revision,
                                                                 absl::Time deadline) {
  etcdserverpb::CompactionRequest request;
  request.set_revision(revision);
  return Invoke<etcdserverpb::CompactionResponse>(
      [&](etcdserverpb::KV::Stub& stub, grpc::ClientContext* context,
          etcdserverpb::CompactionResponse* response) {
        return stub.Compact(context, request, response);
      },
      deadline, "compacting etcd after a destroy", Retry::kUntilDeadline);
}

}  // namespace cloak::kms::etcd
