#include "cli/kms_client.h"

#include <openssl/crypto.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "kms/proto/kms.grpc.pb.h"

namespace cloak::cli {
namespace {

constexpr std::streamsize kMaxPemBytes = 1 << 20;

// Reads a PEM file named by `flag` / `key` in messages.
absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view flag,
                                    absl::string_view key, absl::string_view marker) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", path, " (", flag,
                                                   ", config key `", key,
                                                   "`): check the path and its permissions"));
  }
  std::string text(static_cast<std::size_t>(kMaxPemBytes) + 1, '\0');
  in.read(text.data(), kMaxPemBytes + 1);
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > static_cast<std::size_t>(kMaxPemBytes) ||
      text.find(std::string("-----BEGIN ") + std::string(marker)) == std::string::npos) {
    OPENSSL_cleanse(text.data(), text.size());
    return absl::InvalidArgumentError(
        absl::StrCat(path, " (", flag, ", config key `", key, "`) is not a PEM ", marker, " file"));
  }
  return text;
}

}  // namespace

absl::Status DescribeRpcError(const grpc::Status& status, absl::string_view rpc,
                              absl::string_view target) {
  const std::string detail = status.error_message();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE: {
      // gRPC reports TLS failures as UNAVAILABLE too; pick the hint from the detail. A
      // server that refuses our certificate usually just closes the socket.
      constexpr absl::string_view kTlsHint =
          "the TLS handshake failed: check that --ca (config key `ca`) is the CA that signed "
          "the key service's certificate, that this certificate names the host in --kms, and "
          "that --cert (`cert`) is an admin certificate signed by the CA the key service "
          "trusts";
      absl::string_view hint =
          "check that the key service runs and that --kms (config key `kms`) is its address; "
          "if it does, check --ca and --cert as for a failed TLS handshake";
      if (absl::StrContains(detail, "Connection refused")) {
        hint =
            "nothing listens there: check that the key service runs and that --kms (config "
            "key `kms`) is its address";
      } else if (absl::StrContains(detail, "andshake") || absl::StrContains(detail, "SSL") ||
                 absl::StrContains(detail, "certificate") ||
                 absl::StrContains(detail, "Socket closed")) {
        hint = kTlsHint;
      }
      return absl::UnavailableError(absl::StrCat("cannot reach the key service at ", target, ": ",
                                                 detail, " (", rpc, "); ", hint));
    }
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::DeadlineExceededError(absl::StrCat("the key service at ", target,
                                                      " did not answer ", rpc, " in time: ", detail,
                                                      "; retry, or check its load"));
    case grpc::StatusCode::UNAUTHENTICATED:
      return absl::UnauthenticatedError(absl::StrCat(
          "the key service at ", target, " did not accept this client for ", rpc, ": ", detail,
          "; AdminService needs mutual TLS: pass --cert and --key (config keys `cert`, `key`) "
          "with an admin client certificate signed by the key service's client CA"));
    case grpc::StatusCode::PERMISSION_DENIED:
      return absl::PermissionDeniedError(
          absl::StrCat("the key service at ", target, " refused ", rpc, ": ", detail,
                       "; use an admin client certificate (--cert, --key)"));
    default:
      return absl::Status(code, absl::StrCat(rpc, " failed at ", target, ": ",
                                             absl::StatusCodeToString(code), ": ", detail));
  }
}

struct GrpcAdminClient::Impl {
  std::unique_ptr<v1::AdminService::Stub> stub;
  absl::Duration timeout;

  void Prepare(grpc::ClientContext& context) const {
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
};

GrpcAdminClient::GrpcAdminClient(std::string target, std::unique_ptr<Impl> impl)
    : target_(std::move(target)), impl_(std::move(impl)) {}

GrpcAdminClient::~GrpcAdminClient() = default;

absl::StatusOr<std::unique_ptr<GrpcAdminClient>> GrpcAdminClient::Create(const ClientConfig& config,
                                                                         absl::Duration timeout) {
  grpc::SslCredentialsOptions options;
  absl::StatusOr<std::string> ca = ReadPem(config.ca, "--ca", "ca", "CERTIFICATE");
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::string> cert = ReadPem(config.cert, "--cert", "cert", "CERTIFICATE");
  if (!cert.ok()) return cert.status();
  // "BEGIN PRIVATE KEY", "BEGIN EC PRIVATE KEY", "BEGIN RSA PRIVATE KEY" all contain it.
  absl::StatusOr<std::string> key = ReadPem(config.key, "--key", "key", "");
  if (!key.ok()) return key.status();
  if (key->find("PRIVATE KEY-----") == std::string::npos) {
    OPENSSL_cleanse(key->data(), key->size());
    return absl::InvalidArgumentError(
        absl::StrCat(config.key, " (--key, config key `key`) is not a PEM private key file"));
  }
  options.pem_root_certs = *std::move(ca);
  options.pem_cert_chain = *std::move(cert);
  options.pem_private_key = *key;
  OPENSSL_cleanse(key->data(), key->size());
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(options);
  // gRPC keeps its own copy of the key; wipe ours.
  OPENSSL_cleanse(options.pem_private_key.data(), options.pem_private_key.size());

  auto impl = std::make_unique<Impl>();
  impl->stub = v1::AdminService::NewStub(grpc::CreateChannel(config.kms, credentials));
  impl->timeout = timeout;
  return std::unique_ptr<GrpcAdminClient>(new GrpcAdminClient(config.kms, std::move(impl)));
}

#define CLOAK_CLI_CALL(Rpc, request, Response)                            \
  do {                                                                    \
    grpc::ClientContext context;                                          \
    impl_->Prepare(context);                                              \
    Response response;                                                    \
    grpc::Status status = impl_->stub->Rpc(&context, request, &response); \
    if (!status.ok()) return DescribeRpcError(status, #Rpc, target_);     \
    return response;                                                      \
  } while (0)

absl::StatusOr<v1::HealthResponse> GrpcAdminClient::Health() {
  CLOAK_CLI_CALL(Health, v1::HealthRequest(), v1::HealthResponse);
}

absl::StatusOr<v1::ListVolumesResponse> GrpcAdminClient::ListVolumes(
    int page_size, const std::string& page_token) {
  v1::ListVolumesRequest request;
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  CLOAK_CLI_CALL(ListVolumes, request, v1::ListVolumesResponse);
}

absl::StatusOr<v1::VolumeInfo> GrpcAdminClient::GetVolume(const std::string& volume_id) {
  v1::GetVolumeRequest request;
  request.set_volume_id(volume_id);
  CLOAK_CLI_CALL(GetVolume, request, v1::VolumeInfo);
}

absl::StatusOr<v1::RotationStatus> GrpcAdminClient::RotateKek() {
  CLOAK_CLI_CALL(RotateKek, v1::RotateKekRequest(), v1::RotationStatus);
}

absl::StatusOr<v1::RotationStatus> GrpcAdminClient::GetRotationStatus() {
  CLOAK_CLI_CALL(GetRotationStatus, v1::GetRotationStatusRequest(), v1::RotationStatus);
}

absl::StatusOr<v1::ListAuditResponse> GrpcAdminClient::ListAudit(std::uint64_t from_sequence,
                                                                 int limit) {
  v1::ListAuditRequest request;
  request.set_from_sequence(from_sequence);
  request.set_limit(limit);
  CLOAK_CLI_CALL(ListAudit, request, v1::ListAuditResponse);
}

absl::StatusOr<v1::Policy> GrpcAdminClient::GetPolicy(const std::string& name,
                                                      std::int64_t version) {
  v1::GetPolicyRequest request;
  request.set_name(name);
  request.set_version(version);
  CLOAK_CLI_CALL(GetPolicy, request, v1::Policy);
}

absl::StatusOr<v1::Policy> GrpcAdminClient::SetPolicy(const std::string& name,
                                                      const std::string& document,
                                                      std::int64_t expected_version) {
  v1::SetPolicyRequest request;
  request.set_name(name);
  request.set_document(document);
  request.set_expected_version(expected_version);
  CLOAK_CLI_CALL(SetPolicy, request, v1::Policy);
}

#undef CLOAK_CLI_CALL

}  // namespace cloak::cli
