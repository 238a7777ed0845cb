#pragma once

// Pkcs11KekProvider: KEKs that never leave a PKCS#11 token (an HSM, or SoftHSM2 in
// tests). Each KEK version is an AES-256 key generated inside the token; wrapping and
// unwrapping are AES-256-GCM computed by the token, in the blob format of
// kek_wrap_format.h, so stored blobs look the same as the file provider's. Object
// layout, rotation and error mapping: docs/kms-crypto.md, "PKCS#11".

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/secret_bytes.h"
#include "kms/crypto/kek_provider.h"

namespace cloak::kms {

struct Pkcs11Options {
  // The PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so.
  std::string module_path;
  // The token: by label, by slot id, or both (then the slot must hold that label).
  std::string token_label;
  std::optional<std::uint64_t> slot_id;
  // A file holding the user PIN (one trailing newline is ignored). It must be a regular
  // file owned by this user with no group or other permission bits.
  std::string pin_file;
  // KEK versions are the token's secret keys labelled "<key_label_prefix>-v<N>".
  std::string key_label_prefix = "cloak-kek";
  // Sessions opened for concurrent wraps and unwraps, 1..64.
  std::size_t max_sessions = 4;
};

struct Pkcs11Token;  // The loaded module, the logged-in token and its session pool.

class Pkcs11KekProvider final : public KekProvider {
 public:
  // Logs in to the token and loads the KEK versions on it. INVALID_ARGUMENT for bad
  // options; NOT_FOUND when the module, the slot or a token with the label is missing;
  // FAILED_PRECONDITION for a PIN file with a loose mode, several tokens with the label,
  // a token without KEK versions (use Initialize) or a KEK object that is extractable or
  // not AES-256; PERMISSION_DENIED for a wrong or locked PIN (the PIN is never in a
  // message); other Cryptoki errors as CkrToStatus.
  static absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> Open(const Pkcs11Options& options);

  // Like Open, for a token that holds no KEK version yet: generates version 1 inside
  // it. ALREADY_EXISTS when the token already holds a version under the prefix.
  static absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> Initialize(
      const Pkcs11Options& options);

  ~Pkcs11KekProvider() override;

  absl::StatusOr<std::vector<std::uint8_t>> Wrap(std::uint32_t kek_version,
                                                 const SecretBytes& plaintext,
                                                 std::span<const std::uint8_t> aad) override;
  absl::StatusOr<SecretBytes> Unwrap(std::uint32_t kek_version,
                                     std::span<const std::uint8_t> wrapped,
                                     std::span<const std::uint8_t> aad) override;
  std::uint32_t CurrentVersion() const override;
  std::vector<KekVersionInfo> Versions() const override;

  // Generates a new KEK inside the token as the new current version and returns its
  // number. RESOURCE_EXHAUSTED when the version numbers are used up; ABORTED when
  // another instance added the same version at the same moment (retry); Cryptoki
  // errors as CkrToStatus, leaving the provider as it was. Thread-safe.
  absl::StatusOr<std::uint32_t> AddVersion();

  // Marks `version` retired on the token (CKA_ENCRYPT and CKA_DECRYPT false); retiring a
  // retired version is OK. NOT_FOUND for an unknown version; FAILED_PRECONDITION for the
  // current version (add a newer one first) or when the token refuses the change.
  // Thread-safe.
  absl::Status Retire(std::uint32_t version);

 private:
  struct Entry {
    std::uint32_t version = 0;
    KekState state = KekState::kActive;
    std::uint64_t handle = 0;  // CK_OBJECT_HANDLE, valid for the module's lifetime.
  };

  Pkcs11KekProvider(std::unique_ptr<Pkcs11Token> token, std::string prefix);

  static absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> Connect(const Pkcs11Options& options);
  static constexpr std::chrono::seconds kMissReloadInterval{1};

  // Re-reads the KEK objects from the token. Caller holds rotation_mutex_ (or is the
  // only user, during Open) and no lock on mutex_.
  absl::Status Reload();
  // The object handle for `version` if it may be used; reloads from the token once when
  // the version is newer than any known (another instance may have added it), at most
  // once per kMissReloadInterval.
  absl::StatusOr<std::uint64_t> UsableHandle(std::uint32_t version);
  absl::StatusOr<std::uint64_t> UsableHandleLocked(std::uint32_t version) const;

  const std::unique_ptr<Pkcs11Token> token_;
  const std::string prefix_;
  std::mutex rotation_mutex_;  // Serialises AddVersion, Retire and reloads.
  std::optional<std::chrono::steady_clock::time_point> last_miss_reload_;  // rotation_mutex_
  mutable std::shared_mutex mutex_;
  std::vector<Entry> entries_;  // Ascending by version.
};

// The factory the key service wires: Pkcs11KekProvider::Open.
absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> OpenPkcs11KekProvider(
    const Pkcs11Options& options);

}  // namespace cloak::kms
