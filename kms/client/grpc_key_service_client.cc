#include "kms/client/grpc_key_service_client.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "kms/client/rpc_errors.h"
#include "kms/crypto/hpke.h"
#include "kms/crypto/key_binding.h"
#include "kms/proto/kms.grpc.pb.h"

namespace cloak::kms::client {
namespace {

using Stub = v1::KeyService::Stub;

std::span<const std::uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

void Wipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

// HOST:PORT or [V6]:PORT with a port of 1..65535.
absl::Status ValidateAddress(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  const std::string_view port =
      colon == std::string::npos ? "" : std::string_view(address).substr(colon + 1);
  int value = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (colon == 0 || colon == std::string::npos || error != std::errc() ||
      end != port.data() + port.size() || value < 1 || value > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("key service address \"", address,
                                                   "\": expected HOST:PORT, e.g. 10.0.2.100:7443"));
  }
  return absl::OkStatus();
}

// A literal IP address goes to gRPC's ipv4:/ipv6: resolvers, so that a guest without
// /etc/resolv.conf never needs DNS; a name goes through the default resolver.
std::string ChannelTarget(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  in6_addr ip{};
  if (inet_pton(AF_INET, host.c_str(), &ip) == 1) return "ipv4:" + address;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']' &&
      inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &ip) == 1) {
    return "ipv6:" + address;
  }
  return address;
}

v1::EvidenceType ToProto(EvidenceType type) {
  switch (type) {
    case EvidenceType::kTpm:
      return v1::EVIDENCE_TYPE_TPM;
    case EvidenceType::kSevSnp:
      return v1::EVIDENCE_TYPE_SEV_SNP;
    case EvidenceType::kTdx:
      return v1::EVIDENCE_TYPE_TDX;
    case EvidenceType::kNone:
      return v1::EVIDENCE_TYPE_NONE;
  }
  return v1::EVIDENCE_TYPE_UNSPECIFIED;
}

std::string Sha256Hex(std::span<const std::uint8_t> bytes) {
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(bytes.data(), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

template <typename Request, typename Response>
absl::StatusOr<Response> Call(Stub& stub,
                              grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                                           Response*),
                              const Request& request, absl::string_view rpc,
                              const std::string& address, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  Response response;
  const grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) return DescribeKeyServiceError(status, rpc, address);
  return response;
}

// Call with the session token in the request, wiped from it afterwards.
template <typename Request, typename Response>
absl::StatusOr<Response> CallWithToken(Stub& stub,
                                       grpc::Status (Stub::*method)(grpc::ClientContext*,
                                                                    const Request&, Response*),
                                       Request request, std::string token, absl::string_view rpc,
                                       const std::string& address, absl::Duration timeout) {
  request.set_session_token(std::move(token));
  absl::StatusOr<Response> result = Call(stub, method, request, rpc, address, timeout);
  Wipe(request.mutable_session_token());
  return result;
}

VolumeKeyInfo ToInfo(const std::string& volume_id, std::uint32_t key_version, v1::VolumeState state,
                     const std::string& record_json) {
  return VolumeKeyInfo{.volume_id = volume_id,
                       .key_version = key_version,
                       .state = state,
                       .record_json = record_json};
}

}  // namespace

struct GrpcKeyServiceClient::Impl {
  std::unique_ptr<Stub> stub;
};

struct GrpcKeyServiceClient::Session {
  SecretBytes token;
  HpkeKeyPair key_pair;
  AttestationBinding binding{};
  absl::Time attested_at;
  SessionInfo info;

  // The token for one request; the caller wipes the request field afterwards.
  std::string TokenCopy() const {
    return std::string(reinterpret_cast<const char*>(token.SecretData()), token.size());
  }
};

GrpcKeyServiceClient::GrpcKeyServiceClient(GrpcKeyServiceClientOptions options,
                                           std::unique_ptr<Attester> attester,
                                           std::unique_ptr<Impl> impl)
    : options_(std::move(options)),
      attester_(std::move(attester)),
      impl_(std::move(impl)),
      clock_(options_.clock != nullptr ? *options_.clock : system_clock_) {}

GrpcKeyServiceClient::~GrpcKeyServiceClient() = default;

absl::StatusOr<std::unique_ptr<GrpcKeyServiceClient>> GrpcKeyServiceClient::Create(
    GrpcKeyServiceClientOptions options, std::unique_ptr<Attester> attester) {
  RETURN_IF_ERROR(ValidateAddress(options.address));
  if (options.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return absl::InvalidArgumentError(
        "key service client: the server CA holds no PEM certificate; pass the CA that signed "
        "the key service's certificate (cloak-kms init writes it as ca.pem)");
  }
  if (attester == nullptr) {
    return absl::InvalidArgumentError("key service client: an attester is required");
  }
  if (options.rpc_timeout <= absl::ZeroDuration()) options.rpc_timeout = absl::Seconds(15);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.ca_pem;
  grpc::ChannelArguments args;
  if (!options.target_name_override.empty()) {
    args.SetSslTargetNameOverride(options.target_name_override);
  }
  // This client's own connection: sessions are per client, and so is the channel.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto impl = std::make_unique<Impl>();
  impl->stub = v1::KeyService::NewStub(
      grpc::CreateCustomChannel(ChannelTarget(options.address), grpc::SslCredentials(ssl), args));
  return std::unique_ptr<GrpcKeyServiceClient>(
      new GrpcKeyServiceClient(std::move(options), std::move(attester), std::move(impl)));
}

int GrpcKeyServiceClient::attestations() const {
  std::lock_guard lock(mutex_);
  return attestations_;
}

bool GrpcKeyServiceClient::Usable(const Session& session) const {
  const absl::Duration lifetime = session.info.expires_at - session.attested_at;
  const absl::Duration margin = std::min(options_.reattest_margin, lifetime / 4);
  return clock_.Now() + margin < session.info.expires_at;
}

namespace {

class StubEnrollmentChannel final : public EnrollmentChannel {
 public:
  StubEnrollmentChannel(v1::KeyService::Stub& stub, const std::string& address,
                        absl::Duration timeout)
      : stub_(stub), address_(address), timeout_(timeout) {}

  absl::StatusOr<v1::BeginAkEnrollmentResponse> BeginAkEnrollment(
      const v1::BeginAkEnrollmentRequest& request) override {
    return Call(stub_, &v1::KeyService::Stub::BeginAkEnrollment, request, "BeginAkEnrollment",
                address_, timeout_);
  }
  absl::StatusOr<v1::CompleteAkEnrollmentResponse> CompleteAkEnrollment(
      const v1::CompleteAkEnrollmentRequest& request) override {
    return Call(stub_, &v1::KeyService::Stub::CompleteAkEnrollment, request, "CompleteAkEnrollment",
                address_, timeout_);
  }

 private:
  v1::KeyService::Stub& stub_;
  const std::string& address_;
  const absl::Duration timeout_;
};

bool IsTransportFailure(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

absl::Status GrpcKeyServiceClient::EnrollLocked() {
  if (enrolled_ || !options_.enroll_attester) return absl::OkStatus();
  StubEnrollmentChannel channel(*impl_->stub, options_.address, options_.rpc_timeout);
  const absl::Status status = attester_->Enroll(channel);
  if (IsTransportFailure(status.code())) return status;
  enrolled_ = true;
  if (!status.ok()) enrollment_note_ = std::string(status.message());
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const GrpcKeyServiceClient::Session>>
GrpcKeyServiceClient::AttestLocked() {
  const std::string& address = options_.address;
  RETURN_IF_ERROR(EnrollLocked());
  ASSIGN_OR_RETURN(v1::ChallengeResponse challenge,
                   Call(*impl_->stub, &Stub::Challenge, v1::ChallengeRequest(), "Challenge",
                        address, options_.rpc_timeout));
  if (challenge.nonce().size() != kNonceSize) {
    return absl::InternalError(absl::StrCat("the key service at ", address, " sent a nonce of ",
                                            challenge.nonce().size(), " bytes; expected ",
                                            kNonceSize));
  }
  auto session = std::make_shared<Session>();
  ASSIGN_OR_RETURN(session->key_pair, HpkeGenerateKeyPair());
  const AttestationChallenge bound =
      AttestationChallenge::For(Bytes(challenge.nonce()), session->key_pair.public_key);
  session->binding = bound.binding;
  absl::StatusOr<std::string> evidence = attester_->Collect(bound);
  if (!evidence.ok()) {
    return Annotate(evidence.status(),
                    absl::StrCat("collecting ", std::string(EvidenceTypeName(attester_->type())),
                                 " evidence for the key service at ", address));
  }
  v1::AttestRequest request;
  request.set_nonce(challenge.nonce());
  request.set_ephemeral_public_key(
      std::string(session->key_pair.public_key.begin(), session->key_pair.public_key.end()));
  request.set_evidence_type(ToProto(attester_->type()));
  request.set_evidence(*std::move(evidence));
  session->attested_at = clock_.Now();
  absl::StatusOr<v1::AttestResponse> response =
      Call(*impl_->stub, &Stub::Attest, request, "Attest", address, options_.rpc_timeout);
  Wipe(request.mutable_evidence());
  if (!response.ok()) {
    if (!enrollment_note_.empty() &&
        (response.status().code() == absl::StatusCode::kUnauthenticated ||
         response.status().code() == absl::StatusCode::kPermissionDenied)) {
      return absl::Status(response.status().code(),
                          absl::StrCat(response.status().message(),
                                       " (attestation key enrollment was refused earlier: ",
                                       enrollment_note_, ")"));
    }
    return response.status();
  }
  session->token = SecretBytes::CopyFrom(Bytes(response->session_token()));
  session->info = SessionInfo{.identity = response->identity(),
                              .role = response->role(),
                              .expires_at = absl::FromUnixMillis(response->expires_at_unix_ms()),
                              .token_sha256 = Sha256Hex(session->token.SecretSpan()),
                              .token_size = session->token.size()};
  Wipe(response->mutable_session_token());
  if (session->token.empty()) {
    return absl::InternalError(
        absl::StrCat("the key service at ", address, " answered Attest without a session token"));
  }
  std::shared_ptr<const Session> adopted = std::move(session);
  std::lock_guard lock(mutex_);
  session_ = adopted;
  ++attestations_;
  return adopted;
}

absl::StatusOr<std::shared_ptr<const GrpcKeyServiceClient::Session>>
GrpcKeyServiceClient::SessionForCall(const Session* refused, absl::Duration* attesting) {
  const auto current = [&]() -> std::shared_ptr<const Session> {
    std::lock_guard lock(mutex_);
    if (session_ != nullptr && session_.get() != refused && Usable(*session_)) return session_;
    return nullptr;
  };
  if (auto session = current()) return session;
  std::lock_guard attest_lock(attest_mutex_);
  if (auto session = current()) return session;  // another call attested meanwhile
  const auto started = std::chrono::steady_clock::now();
  auto attested = AttestLocked();
  if (attesting != nullptr)
    *attesting += absl::FromChrono(std::chrono::steady_clock::now() - started);
  return attested;
}

template <typename Response, typename CallWith>
absl::StatusOr<Response> GrpcKeyServiceClient::WithSession(CallWith call,
                                                           absl::Duration* attesting) {
  ASSIGN_OR_RETURN(std::shared_ptr<const Session> session, SessionForCall(nullptr, attesting));
  absl::StatusOr<Response> result = call(session);
  if (result.ok() || result.status().code() != absl::StatusCode::kUnauthenticated) return result;
  // The service no longer accepts the token (expired by its clock, signed by a key it
  // has since replaced): attest again, once.
  ASSIGN_OR_RETURN(session, SessionForCall(session.get(), attesting));
  return call(session);
}

absl::StatusOr<SessionInfo> GrpcKeyServiceClient::Attest() {
  std::lock_guard attest_lock(attest_mutex_);
  ASSIGN_OR_RETURN(std::shared_ptr<const Session> session, AttestLocked());
  return session->info;
}

absl::StatusOr<VolumeKey> GrpcKeyServiceClient::GetVolumeKey(const std::string& volume_id) {
  std::shared_ptr<const Session> used;
  absl::Duration attesting = absl::ZeroDuration();
  v1::GetVolumeKeyRequest request;
  request.set_volume_id(volume_id);
  absl::StatusOr<v1::GetVolumeKeyResponse> response = WithSession<v1::GetVolumeKeyResponse>(
      [&](const std::shared_ptr<const Session>& session) {
        used = session;
        request.set_ephemeral_public_key(
            std::string(session->key_pair.public_key.begin(), session->key_pair.public_key.end()));
        return CallWithToken(*impl_->stub, &Stub::GetVolumeKey, request, session->TokenCopy(),
                             "GetVolumeKey", options_.address, options_.rpc_timeout);
      },
      &attesting);
  if (!response.ok()) return response.status();
  absl::StatusOr<SecretBytes> dek =
      HpkeOpen(used->key_pair.private_key, Bytes(response->sealed_dek_enc()),
               ReleaseInfo(volume_id, response->key_version()), used->binding,
               Bytes(response->sealed_dek()));
  if (!dek.ok()) {
    return absl::DataLossError(absl::StrCat(
        "the sealed key of volume ", volume_id, " from the key service at ", options_.address,
        " does not open with this session's key (", dek.status().message(),
        "): it was altered in transit or sealed to another key; nothing was released to the "
        "caller"));
  }
  return VolumeKey{.dek = *std::move(dek),
                   .key_version = response->key_version(),
                   .record_json = response->record_json(),
                   .attestation = attesting};
}

absl::StatusOr<VolumeKeyInfo> GrpcKeyServiceClient::CreateVolumeKey(
    const std::string& volume_id, v1::IntegrityMode integrity_mode, const Labels& labels) {
  v1::CreateVolumeKeyRequest request;
  request.set_volume_id(volume_id);
  request.set_integrity_mode(integrity_mode);
  request.mutable_labels()->insert(labels.begin(), labels.end());
  ASSIGN_OR_RETURN(v1::CreateVolumeKeyResponse response,
                   WithSession<v1::CreateVolumeKeyResponse>([&](const auto& session) {
                     return CallWithToken(*impl_->stub, &Stub::CreateVolumeKey, request,
                                          session->TokenCopy(), "CreateVolumeKey", options_.address,
                                          options_.rpc_timeout);
                   }));
  return ToInfo(response.volume_id(), response.key_version(), response.state(),
                response.record_json());
}

absl::StatusOr<v1::VolumeState> GrpcKeyServiceClient::ReportVolumeState(
    const std::string& volume_id, v1::VolumeState expected, v1::VolumeState next) {
  v1::ReportVolumeStateRequest request;
  request.set_volume_id(volume_id);
  request.set_expected_state(expected);
  request.set_new_state(next);
  ASSIGN_OR_RETURN(v1::ReportVolumeStateResponse response,
                   WithSession<v1::ReportVolumeStateResponse>([&](const auto& session) {
                     return CallWithToken(*impl_->stub, &Stub::ReportVolumeState, request,
                                          session->TokenCopy(), "ReportVolumeState",
                                          options_.address, options_.rpc_timeout);
                   }));
  return response.state();
}

absl::Status GrpcKeyServiceClient::DestroyVolumeKey(const std::string& volume_id) {
  v1::DestroyVolumeKeyRequest request;
  request.set_volume_id(volume_id);
  return WithSession<v1::DestroyVolumeKeyResponse>([&](const auto& session) {
           return CallWithToken(*impl_->stub, &Stub::DestroyVolumeKey, request,
                                session->TokenCopy(), "DestroyVolumeKey", options_.address,
                                options_.rpc_timeout);
         })
      .status();
}

absl::StatusOr<VolumeKeyInfo> GrpcKeyServiceClient::CloneVolumeKey(
    const std::string& source_volume_id, const std::string& volume_id, const Labels& labels) {
  v1::CloneVolumeKeyRequest request;
  request.set_source_volume_id(source_volume_id);
  request.set_volume_id(volume_id);
  request.mutable_labels()->insert(labels.begin(), labels.end());
  ASSIGN_OR_RETURN(v1::CloneVolumeKeyResponse response,
                   WithSession<v1::CloneVolumeKeyResponse>([&](const auto& session) {
                     return CallWithToken(*impl_->stub, &Stub::CloneVolumeKey, request,
                                          session->TokenCopy(), "CloneVolumeKey", options_.address,
                                          options_.rpc_timeout);
                   }));
  return ToInfo(response.volume_id(), response.key_version(), response.state(),
                response.record_json());
}

}  // namespace cloak::kms::client
