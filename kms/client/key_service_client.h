#pragma once

// KeyServiceClient: what the node and controller plugins ask of the key service
// (docs/kms.md, docs/kms-client.md). One client holds one attested session: an
// ephemeral X25519 key pair (private half in SecretBytes), the binding its evidence
// carried, and the session token. Volume calls attest first when there is no session,
// when it is within a margin of its expiry, or once more when the service answers
// UNAUTHENTICATED. The token, the DEK and the evidence never appear in a status message.
// GrpcKeyServiceClient (grpc_key_service_client.h) is the real implementation.

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/secret_bytes.h"
#include "kms/proto/kms.pb.h"

namespace cloak::kms::client {

namespace v1 = ::cloak::kms::v1;

// The current session, as far as a caller may see it (never the token).
struct SessionInfo {
  std::string identity;  // as the service admitted it, e.g. "node/workers@3f9a0c1d22e4b7a8"
  v1::Role role = v1::ROLE_UNSPECIFIED;
  absl::Time expires_at;
  // Hex SHA-256 of the session token: lets tests and operators correlate a session
  // (e.g. prove that a log holds no copy of the token) without revealing it.
  std::string token_sha256;
  std::size_t token_size = 0;
};

// A released key: the DEK opened with the session's private key.
struct VolumeKey {
  SecretBytes dek;
  std::uint32_t key_version = 0;
  std::string record_json;  // docs/volume-record.md: the authority on LUKS2 parameters
  // How long this call spent attesting (Challenge, evidence, Attest) before the release;
  // zero when it used the session it found.
  absl::Duration attestation = absl::ZeroDuration();
};

// A volume as CreateVolumeKey and CloneVolumeKey answer it (no key material).
struct VolumeKeyInfo {
  std::string volume_id;
  std::uint32_t key_version = 0;
  v1::VolumeState state = v1::VOLUME_STATE_UNSPECIFIED;
  std::string record_json;
};

using Labels = std::map<std::string, std::string>;

class KeyServiceClient {
 public:
  virtual ~KeyServiceClient() = default;

  // Every method is thread-safe; concurrent volume calls share one session and at most
  // one attestation runs at a time. Transport failures are UNAVAILABLE (or
  // DEADLINE_EXCEEDED) naming the service address and the fix; the service's own codes
  // pass through with its message (docs/kms.md lists them per RPC).

  // Challenge → fresh ephemeral key pair → evidence → Attest, replacing any session.
  // The attester's codes; PERMISSION_DENIED when the service refuses the evidence.
  virtual absl::StatusOr<SessionInfo> Attest() = 0;

  // The DEK of `volume_id` (node role), opened with the session's key; info =
  // ReleaseInfo(volume_id, key_version), aad = the binding. NOT_FOUND for an unknown or
  // destroyed volume, PERMISSION_DENIED for a controller session, DATA_LOSS when the
  // sealed key does not open (altered in transit).
  virtual absl::StatusOr<VolumeKey> GetVolumeKey(const std::string& volume_id) = 0;

  // Creates (or finds, idempotently) the volume's key and record (controller role).
  // ALREADY_EXISTS for an incompatible duplicate or a destroyed id.
  virtual absl::StatusOr<VolumeKeyInfo> CreateVolumeKey(const std::string& volume_id,
                                                        v1::IntegrityMode integrity_mode,
                                                        const Labels& labels) = 0;

  // Compare-and-set of the volume's state, e.g. CREATED → FORMATTED (node role); the
  // state afterwards. INVALID_ARGUMENT for another transition, FAILED_PRECONDITION for a
  // destroyed volume.
  virtual absl::StatusOr<v1::VolumeState> ReportVolumeState(const std::string& volume_id,
                                                            v1::VolumeState expected,
                                                            v1::VolumeState next) = 0;

  // Crypto-shreds the volume's key (controller role). OK when it is already gone.
  virtual absl::Status DestroyVolumeKey(const std::string& volume_id) = 0;

  // `volume_id` sharing the key of `source_volume_id` (controller role). NOT_FOUND /
  // FAILED_PRECONDITION for a missing / destroyed source, ALREADY_EXISTS.
  virtual absl::StatusOr<VolumeKeyInfo> CloneVolumeKey(const std::string& source_volume_id,
                                                       const std::string& volume_id,
                                                       const Labels& labels) = 0;

  // HOST:PORT of the key service. Thread-safe.
  virtual const std::string& address() const = 0;
};

}  // namespace cloak::kms::client
