#include "kms/server/server.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "attest/policy/parse.h"
#include "attest/policy/policy.h"
#include "attest/verifier/ak_bindings.h"
#include "attest/verifier/ak_enrollment.h"
#include "attest/verifier/attestation_verifier.h"
#include "attest/verifier/policy_authorizer.h"
#include "common/status.h"
#include "fmt/format.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "kms/crypto/secret_file.h"
#include "kms/server/admin_gateway.h"
#include "kms/server/kek_factory.h"
#include "kms/server/rotation_runner.h"
#include "kms/server/store_factory.h"
#include "kms/server/tls.h"
#include "kms/service/evidence_verifier.h"
#include "kms/service/kek_rotator.h"
#include "kms/service/key_service.h"
#include "kms/service/nonce_table.h"
#include "kms/service/session_tokens.h"

namespace cloak::kms::server {

// Declaration order is construction order; members are destroyed in reverse, so the
// gRPC server stops before the services, and the services before the store.
struct KmsServer::Parts {
  ServerConfig config;
  std::shared_ptr<Logger> logger;
  FaultPoints faults;
  SystemClock clock;
  std::unique_ptr<KeyStore> store;
  KekBackend keks;
  std::unique_ptr<SessionTokens> tokens;
  std::unique_ptr<attest::StorePolicySource> policy;
  std::unique_ptr<attest::AkBindingSource> ak_bindings;
  std::unique_ptr<attest::TpmAkEnrollment> ak_enrollment;  // null without EK CAs
  std::unique_ptr<attest::AttestationVerifier> verifier;
  std::unique_ptr<attest::PolicyAuthorizer> authorizer;
  std::unique_ptr<NonceTable> nonces;
  std::unique_ptr<KekRotator> rotator;
  std::unique_ptr<RotationRunner> runner;
  std::unique_ptr<AdminAuthenticator> admin_auth;
  std::unique_ptr<KeyServiceImpl> key_service;
  std::unique_ptr<AdminGateway> admin_service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::string address;
  bool stopped = false;
};

namespace {

absl::StatusOr<SecretBytes> LoadSigningSeed(const std::string& path) {
  absl::StatusOr<SecretBytes> seed = ReadPrivateFile(path, 4096);
  if (!seed.ok()) {
    return Annotate(seed.status(), fmt::format("session.signing_key_file {}", path));
  }
  if (seed->size() != kSessionSigningSeedSize) {
    return absl::InvalidArgumentError(fmt::format(
        "session.signing_key_file: {} holds {} bytes; it must hold exactly {} (an Ed25519 "
        "seed). Create one with `cloak-kms init` or `head -c 32 /dev/urandom > FILE`, mode 0600",
        path, seed->size(), kSessionSigningSeedSize));
  }
  return seed;
}

// The SEV-SNP verifier of `attestation`: AMD's pinned roots, plus the configured extra
// roots and VCEK cache; null when SEV-SNP is switched off.
absl::StatusOr<std::shared_ptr<const attest::snp::SnpVerifier>> MakeSnpVerifier(
    const AttestationConfig& attestation) {
  if (!attestation.snp_enabled) return nullptr;
  attest::snp::SnpVerifierOptions options;
  if (!attestation.snp_roots_file.empty()) {
    ASSIGN_OR_RETURN(std::string pem,
                     ReadTextFile(attestation.snp_roots_file, "attestation.sev-snp.roots_file"));
    if (absl::Status added = options.anchors.AddRootsPem(pem); !added.ok()) {
      return Annotate(added,
                      fmt::format("attestation.sev-snp.roots_file {}", attestation.snp_roots_file));
    }
  }
  if (!attestation.snp_vcek_cache_dir.empty()) {
    absl::StatusOr<attest::snp::SnpVcekCache> cache =
        attest::snp::SnpVcekCache::LoadDirectory(attestation.snp_vcek_cache_dir);
    if (!cache.ok()) {
      return Annotate(cache.status(), fmt::format("attestation.sev-snp.vcek_cache_dir {}",
                                                  attestation.snp_vcek_cache_dir));
    }
    options.vcek_cache = std::make_shared<const attest::snp::SnpVcekCache>(*std::move(cache));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<attest::snp::SnpVerifier> verifier,
                   attest::snp::SnpVerifier::Create(std::move(options)));
  return std::shared_ptr<const attest::snp::SnpVerifier>(std::move(verifier));
}

// The attestation policy and the TPM AK bindings must parse before they are stored;
// other names (none yet) are stored as the JSON objects they are.
absl::Status CheckPolicyDocument(std::string_view name, std::string_view document) {
  if (name == attest::policy::kPolicyName) return attest::policy::ParsePolicy(document).status();
  if (name == attest::kAkBindingsPolicyName) return attest::ParseAkBindings(document).status();
  return absl::OkStatus();
}

}  // namespace

KmsServer::KmsServer(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

KmsServer::~KmsServer() { Shutdown(std::chrono::milliseconds(0)); }

const std::string& KmsServer::address() const { return parts_->address; }

absl::StatusOr<std::unique_ptr<KmsServer>> KmsServer::Start(const ServerConfig& config,
                                                            std::shared_ptr<Logger> logger,
                                                            FaultPoints faults) {
  RETURN_IF_ERROR(RestrictProcessToTls13());
  ASSIGN_OR_RETURN(HostPort listen, ParseHostPort(config.listen, "listen"));

  auto parts = std::make_unique<Parts>();
  Parts& p = *parts;
  p.config = config;
  p.logger = std::move(logger);
  p.faults = std::move(faults);

  ASSIGN_OR_RETURN(p.store, MakeKeyStore(config.store, p.clock, p.faults));
  ASSIGN_OR_RETURN(p.keks, MakeKekProvider(config.kek));
  {
    ASSIGN_OR_RETURN(SecretBytes seed, LoadSigningSeed(config.session.signing_key_file));
    ASSIGN_OR_RETURN(
        p.tokens, SessionTokens::Create(seed, p.clock, absl::Seconds(config.session.token_ttl_s)));
  }
  p.policy = std::make_unique<attest::StorePolicySource>(*p.store, p.clock);
  p.ak_bindings = std::make_unique<attest::AkBindingSource>(*p.store, p.clock);
  {
    attest::AttestationVerifierOptions options;
    ASSIGN_OR_RETURN(options.snp, MakeSnpVerifier(config.attestation));
    for (const std::string& file : config.attestation.tpm_ek_ca_files) {
      ASSIGN_OR_RETURN(std::string pem, ReadTextFile(file, "attestation.tpm.ek_ca_files"));
      options.tpm_ek_ca_pem.push_back(std::move(pem));
    }
    if (!options.tpm_ek_ca_pem.empty()) {
      ASSIGN_OR_RETURN(p.ak_enrollment,
                       attest::TpmAkEnrollment::Create(
                           attest::TpmAkEnrollmentOptions{.ek_ca_pem = options.tpm_ek_ca_pem,
                                                          .store = p.store.get(),
                                                          .clock = &p.clock,
                                                          .policy = p.policy.get(),
                                                          .bindings = p.ak_bindings.get(),
                                                          .ttl = absl::Seconds(60),
                                                          .max_pending = 4096}));
    }
    options.insecure_allow_unattested = config.insecure_allow_unattested;
    options.policy = p.policy.get();
    options.ak_bindings = p.ak_bindings.get();
    options.clock = &p.clock;
    ASSIGN_OR_RETURN(p.verifier, attest::AttestationVerifier::Create(std::move(options)));
  }
  p.authorizer = std::make_unique<attest::PolicyAuthorizer>(*p.policy);
  p.nonces = std::make_unique<NonceTable>(p.clock);
  p.rotator = std::make_unique<KekRotator>(*p.store, *p.keks.provider, *p.keks.versions,
                                           KekRotator::Options{});
  p.runner = std::make_unique<RotationRunner>(*p.rotator, p.logger, p.faults);
  ASSIGN_OR_RETURN(std::string client_ca, ReadTextFile(config.tls.client_ca, "tls.client_ca"));
  ASSIGN_OR_RETURN(p.admin_auth, AdminAuthenticator::Create(client_ca));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                   MakeServerCredentials(config.tls));

  p.key_service =
      std::make_unique<KeyServiceImpl>(KeyServiceContext{.store = p.store.get(),
                                                         .keks = p.keks.provider.get(),
                                                         .verifier = p.verifier.get(),
                                                         .authorizer = p.authorizer.get(),
                                                         .tokens = p.tokens.get(),
                                                         .nonces = p.nonces.get(),
                                                         .clock = &p.clock,
                                                         .logger = p.logger,
                                                         .ak_enroller = p.ak_enrollment.get()});
  RotationRunner* runner = p.runner.get();
  AdminServiceContext admin_context;
  admin_context.store = p.store.get();
  admin_context.keks = p.keks.provider.get();
  admin_context.rotator = p.rotator.get();
  admin_context.description =
      ServiceDescription{.store = config.store.type,
                         .kek_provider = config.kek.type,
                         .evidence_types = p.verifier->AcceptedTypes(),
                         .insecure_allow_unattested = config.insecure_allow_unattested};
  admin_context.check_policy = CheckPolicyDocument;
  attest::StorePolicySource* policy = p.policy.get();
  attest::AkBindingSource* bindings = p.ak_bindings.get();
  admin_context.policy_stored = [policy, bindings](std::string_view name) {
    if (name == attest::kAkBindingsPolicyName) {
      bindings->Invalidate();
    } else {
      policy->Invalidate();
    }
  };
  // The runner drives the rotation itself, step by step, so that shutdown can stop it
  // between steps; the work closure AdminServiceImpl hands over is not needed.
  admin_context.run_in_background = [runner](std::function<void()>) { runner->Kick(); };
  p.admin_service = std::make_unique<AdminGateway>(std::move(admin_context), *p.admin_auth,
                                                   p.logger, config.insecure_allow_unattested);

  if (config.insecure_allow_unattested) {
    p.logger->Warn(
        "WARNING: INSECURE MODE: insecure_allow_unattested is on; EVIDENCE_TYPE_NONE is accepted "
        "and any caller can claim any node or controller identity. Development only: never run "
        "this in production");
  }

  absl::StatusOr<RotationProgress> rotation = p.store->GetRotationProgress();
  if (rotation.ok() && rotation->state == RotationState::kRunning) {
    p.logger->Info("resuming an unfinished KEK rotation",
                   {{"target_kek_version", std::to_string(rotation->target_kek_version)},
                    {"done", std::to_string(rotation->done)},
                    {"total", std::to_string(rotation->total)}});
    p.runner->Kick();
  } else if (!rotation.ok() && rotation.status().code() != absl::StatusCode::kNotFound) {
    return Annotate(rotation.status(), "reading the KEK rotation record");
  }

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(FormatHostPort(listen), credentials, &port);
  // gRPC enables SO_REUSEPORT by default, which would let a second server share the port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.RegisterService(p.key_service.get());
  builder.RegisterService(p.admin_service.get());
  p.grpc_server = builder.BuildAndStart();
  if (p.grpc_server == nullptr || port == 0) {
    return absl::UnavailableError(fmt::format(
        "listen: cannot serve on {}: the address is in use or not local; choose another "
        "(port 0 picks a free one)",
        config.listen));
  }
  listen.port = port;
  p.address = FormatHostPort(listen);
  return std::unique_ptr<KmsServer>(new KmsServer(std::move(parts)));
}

void KmsServer::Shutdown(std::chrono::milliseconds drain) {
  if (parts_ == nullptr || parts_->stopped) return;
  parts_->stopped = true;
  if (parts_->grpc_server != nullptr) {
    parts_->grpc_server->Shutdown(std::chrono::system_clock::now() + drain);
    parts_->grpc_server->Wait();
  }
  if (parts_->runner != nullptr) parts_->runner->Stop();
}

absl::Status WriteReadyFile(const std::string& path, const std::string& address) {
  const std::string temp = fmt::format("{}.tmp.{}", path, getpid());
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return ErrnoToStatus(errno, fmt::format("ready file: cannot create {}", temp));
  const std::string line = address + "\n";
  const ssize_t written = write(fd, line.data(), line.size());
  const int write_error = errno;
  if (written != static_cast<ssize_t>(line.size()) || fsync(fd) != 0) {
    close(fd);
    unlink(temp.c_str());
    return ErrnoToStatus(write_error == 0 ? EIO : write_error,
                         fmt::format("ready file: cannot write {}", temp));
  }
  close(fd);
  if (rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    unlink(temp.c_str());
    return ErrnoToStatus(error, fmt::format("ready file: cannot rename {} to {}", temp, path));
  }
  return absl::OkStatus();
}

}  // namespace cloak::kms::server
