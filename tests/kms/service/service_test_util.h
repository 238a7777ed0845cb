#pragma once

// A key service wired for unit tests: FakeKeyStore, a FileKekProvider in a temporary
// directory, a FakeClock, TestVerifier, the default authorizer, and a Logger whose
// output is captured in memory.

#include <memory>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "common/logging.h"
#include "kms/crypto/file_kek_provider.h"
#include "kms/crypto/hpke.h"
#include "kms/service/admin_service.h"
#include "kms/service/authorizer.h"
#include "kms/service/evidence_verifier.h"
#include "kms/service/kek_rotator.h"
#include "kms/service/key_service.h"
#include "kms/service/nonce_table.h"
#include "kms/service/session_tokens.h"
#include "kms/store/testing/fake_clock.h"
#include "kms/store/testing/fake_key_store.h"
#include "tests/kms/crypto/temp_dir.h"

namespace cloak::kms::kms_test {

// Accepts EVIDENCE_TYPE_TPM evidence laid out like the none evidence (binding ‖
// identity), or refuses everything with `refusal` when it is set.
class TestVerifier final : public EvidenceVerifier {
 public:
  absl::StatusOr<Claims> Verify(EvidenceType type, std::span<const std::uint8_t> evidence,
                                const AttestationChallenge& challenge) override;
  absl::Status refusal;
  int calls = 0;
};

// A node or controller session: its ephemeral key pair, binding and token.
struct Session {
  HpkeKeyPair key_pair;
  AttestationBinding binding{};
  std::string token;
};

class ServiceHarness {
 public:
  ServiceHarness();

  // Challenge → Attest with a fresh ephemeral key for `identity`.
  absl::StatusOr<Session> Attest(const std::string& identity);
  // CreateVolumeKey as `controller`.
  absl::Status Create(const Session& controller, const std::string& volume_id,
                      v1::IntegrityMode mode = v1::INTEGRITY_MODE_NONE,
                      v1::CreateVolumeKeyResponse* response = nullptr);
  // GetVolumeKey as `node`, opened with the node's private key.
  absl::StatusOr<SecretBytes> Fetch(const Session& node, const std::string& volume_id,
                                    v1::GetVolumeKeyResponse* response = nullptr);
  // The DEK as stored: unwrapped straight from the store with the KEK provider.
  absl::StatusOr<SecretBytes> StoredDek(const std::string& volume_id);

  std::string LogText() const { return log_stream_->str(); }

  TempDir dir;
  FakeClock clock;
  FakeKeyStore store{clock};
  std::unique_ptr<FileKekProvider> keks;
  TestVerifier verifier;
  DefaultAuthorizer authorizer;
  std::unique_ptr<SessionTokens> tokens;
  NonceTable nonces{clock};
  std::shared_ptr<std::ostringstream> log_stream_ = std::make_shared<std::ostringstream>();
  std::shared_ptr<Logger> logger;
  std::unique_ptr<KeyServiceImpl> service;
};

std::span<const std::uint8_t> AsBytes(const std::string& s);
std::string AsString(std::span<const std::uint8_t> bytes);

}  // namespace cloak::kms::kms_test
