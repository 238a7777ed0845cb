#pragma once

// How a plugin (node or controller) reaches the key service: the attested client built
// from cloak-csi's flags, and Probe's readiness check over it.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "csi/readiness.h"
#include "kms/client/attesters/select.h"
#include "kms/client/key_service_client.h"

namespace cloak::csi {

struct KeyServiceConnection {
  std::string address;      // HOST:PORT
  std::string ca_file;      // PEM of the CA that signed the key service's certificate
  std::string server_name;  // the name its certificate carries, when not the host
  kms::client::AttesterOptions attester;
};

// The client with the attester `connection` selects; nothing is dialled yet.
// INVALID_ARGUMENT without an address, NOT_FOUND for an unreadable CA file, the
// attester's codes otherwise. `role` ("node", "controller") names the flags in messages.
absl::StatusOr<std::unique_ptr<kms::client::KeyServiceClient>> ConnectKeyService(
    const KeyServiceConnection& connection, std::string_view role);

// Probe's view of the key service: an attestation (Challenge → evidence → Attest) that
// succeeded less than a minute ago counts; otherwise one is run now. A refusal or an
// unreachable service is not-ready with the client's message. `keys` must outlive it.
std::unique_ptr<ReadinessCheck> KeyServiceCheck(kms::client::KeyServiceClient& keys);

}  // namespace cloak::csi
