#pragma once

// GrpcKeyServiceClient: KeyServiceClient over gRPC and TLS to cloak-kms. The channel is
// the client's own (no subchannel shared with other clients in the process), trusts only
// the given server CA and presents no client certificate: KeyService callers are
// authorised by attestation. cloak-kms accepts TLS 1.3 only (docs/kms-server.md).

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kms/client/attester.h"
#include "kms/client/key_service_client.h"
#include "kms/store/clock.h"

namespace cloak::kms::client {

struct GrpcKeyServiceClientOptions {
  std::string address;  // HOST:PORT of cloak-kms, e.g. "10.0.2.100:7443"
  std::string ca_pem;   // PEM of the CA that signed the service's certificate
  // The name the service's certificate must carry when it differs from the host in
  // `address` (cloak-kms init's certificate names localhost and 127.0.0.1). Empty: none.
  std::string target_name_override;
  absl::Duration rpc_timeout = absl::Seconds(15);  // per RPC, attestation RPCs included
  // Re-attest when the session expires within this margin (capped at a quarter of the
  // session's lifetime, so short sessions are still used).
  absl::Duration reattest_margin = absl::Seconds(30);
  const Clock* clock = nullptr;  // must outlive the client; null: the system clock
  // Before the first attestation, let the attester enroll with the service
  // (Attester::Enroll: a TPM proves its AK shares the TPM with its certified EK). A
  // service that does not enroll AKs, or refuses this one, leaves the AK to the policy's
  // pinned list; the refusal is added to an Attest refusal's message.
  bool enroll_attester = true;
};

class GrpcKeyServiceClient final : public KeyServiceClient {
 public:
  // Builds the channel; nothing is dialled yet. INVALID_ARGUMENT when the address is not
  // HOST:PORT, ca_pem holds no PEM certificate, or `attester` is null.
  static absl::StatusOr<std::unique_ptr<GrpcKeyServiceClient>> Create(
      GrpcKeyServiceClientOptions options, std::unique_ptr<Attester> attester);
  ~GrpcKeyServiceClient() override;
  GrpcKeyServiceClient(const GrpcKeyServiceClient&) = delete;
  GrpcKeyServiceClient& operator=(const GrpcKeyServiceClient&) = delete;

  absl::StatusOr<SessionInfo> Attest() override;
  absl::StatusOr<VolumeKey> GetVolumeKey(const std::string& volume_id) override;
  absl::StatusOr<VolumeKeyInfo> CreateVolumeKey(const std::string& volume_id,
                                                v1::IntegrityMode integrity_mode,
                                                const Labels& labels) override;
  absl::StatusOr<v1::VolumeState> ReportVolumeState(const std::string& volume_id,
                                                    v1::VolumeState expected,
                                                    v1::VolumeState next) override;
  absl::Status DestroyVolumeKey(const std::string& volume_id) override;
  absl::StatusOr<VolumeKeyInfo> CloneVolumeKey(const std::string& source_volume_id,
                                               const std::string& volume_id,
                                               const Labels& labels) override;
  const std::string& address() const override { return options_.address; }

  // How many attestations this client has completed (tests). Thread-safe.
  int attestations() const;

 private:
  struct Impl;
  struct Session;

  GrpcKeyServiceClient(GrpcKeyServiceClientOptions options, std::unique_ptr<Attester> attester,
                       std::unique_ptr<Impl> impl);

  // The session for a call: the current one unless it is missing, near expiry, or is
  // `refused` (the service just answered UNAUTHENTICATED with it); then a fresh one, whose
  // attestation time is added to `*attesting` when given.
  absl::StatusOr<std::shared_ptr<const Session>> SessionForCall(const Session* refused,
                                                                absl::Duration* attesting);
  // Attester::Enroll, once per client. Caller holds attest_mutex_. Only transport
  // failures are returned; a refusal is remembered in enrollment_note_.
  absl::Status EnrollLocked();
  // Runs a whole attestation. Caller holds attest_mutex_.
  absl::StatusOr<std::shared_ptr<const Session>> AttestLocked();
  bool Usable(const Session& session) const;
  // Runs `call(session)` with a session, re-attesting once when the service answers
  // UNAUTHENTICATED. Time spent attesting is added to `*attesting` when given.
  template <typename Response, typename Call>
  absl::StatusOr<Response> WithSession(Call call, absl::Duration* attesting = nullptr);

  const GrpcKeyServiceClientOptions options_;
  const std::unique_ptr<Attester> attester_;
  const std::unique_ptr<Impl> impl_;
  SystemClock system_clock_;
  const Clock& clock_;

  std::mutex attest_mutex_;   // one attestation at a time (the attester is not thread-safe)
  mutable std::mutex mutex_;  // guards session_ and attestations_
  std::shared_ptr<const Session> session_;
  int attestations_ = 0;
  bool enrolled_ = false;        // guarded by attest_mutex_
  std::string enrollment_note_;  // why enrollment did not succeed; guarded by attest_mutex_
};

}  // namespace cloak::kms::client
