#include "kms/crypto/pkcs11_kek_provider.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <limits>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/aes_gcm.h"
#include "kms/crypto/kek_wrap_format.h"
#include "kms/crypto/pkcs11_error.h"
#include "kms/crypto/pkcs11_kek_objects.h"
#include "kms/crypto/pkcs11_token.h"
#include "kms/crypto/random.h"

namespace cloak::kms {
namespace {

constexpr std::size_t kMaxPrefixSize = 64;
constexpr std::size_t kMaxSessions = 64;
constexpr std::size_t kCiphertextOffset = kWrapHeaderSize + kAesGcmNonceSize;

absl::Status CheckOptions(const Pkcs11Options& options) {
  if (options.module_path.empty()) {
    return absl::InvalidArgumentError("PKCS#11 options: module_path is empty");
  }
  if (options.token_label.empty() && !options.slot_id) {
    return absl::InvalidArgumentError("PKCS#11 options: set token_label or slot_id");
  }
  if (options.pin_file.empty()) {
    return absl::InvalidArgumentError("PKCS#11 options: pin_file is empty");
  }
  if (options.key_label_prefix.empty() || options.key_label_prefix.size() > kMaxPrefixSize) {
    return absl::InvalidArgumentError(fmt::format(
        "PKCS#11 options: key_label_prefix must be 1 to {} characters", kMaxPrefixSize));
  }
  if (options.max_sessions < 1 || options.max_sessions > kMaxSessions) {
    return absl::InvalidArgumentError(
        fmt::format("PKCS#11 options: max_sessions must be 1 to {}", kMaxSessions));
  }
  return absl::OkStatus();
}

// Sessions that report the token or the session gone are closed, not reused.
void DiscardIfBroken(Pkcs11SessionPool::Lease& lease, CK_RV rv) {
  if (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED || rv == CKR_DEVICE_REMOVED ||
      rv == CKR_DEVICE_ERROR || rv == CKR_TOKEN_NOT_PRESENT) {
    lease.Discard();
  }
}

// The blob header: format version, then the KEK version big-endian.
std::array<std::uint8_t, kWrapHeaderSize> Header(std::uint32_t kek_version) {
  return {kWrapFormatVersion, static_cast<std::uint8_t>(kek_version >> 24),
          static_cast<std::uint8_t>(kek_version >> 16), static_cast<std::uint8_t>(kek_version >> 8),
          static_cast<std::uint8_t>(kek_version)};
}

// header || aad, what GCM authenticates besides the ciphertext (as in kek_wrap_format).
std::vector<std::uint8_t> GcmAad(std::span<const std::uint8_t> header,
                                 std::span<const std::uint8_t> aad) {
  std::vector<std::uint8_t> out(header.size() + aad.size());
  std::memcpy(out.data(), header.data(), header.size());
  if (!aad.empty()) std::memcpy(out.data() + header.size(), aad.data(), aad.size());
  return out;
}

// Cryptoki's parameter structs take non-const pointers; the token only reads them.
CK_GCM_PARAMS GcmParams(std::span<const std::uint8_t> nonce, std::span<std::uint8_t> gcm_aad) {
  CK_GCM_PARAMS params{};
  params.pIv = const_cast<CK_BYTE*>(nonce.data());
  params.ulIvLen = nonce.size();
  params.ulIvBits = nonce.size() * 8;
  params.pAAD = gcm_aad.data();
  params.ulAADLen = gcm_aad.size();
  params.ulTagBits = kAesGcmTagSize * 8;
  return params;
}

// A key the token refuses to use for this purpose has been retired (perhaps by another
// instance since this one loaded its versions).
absl::Status KeyUseStatus(CK_RV rv, const char* function, std::uint32_t version) {
  if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED) {
    return absl::FailedPreconditionError(
        fmt::format("{}: CKR_KEY_FUNCTION_NOT_PERMITTED: KEK version {} is retired on the token",
                    function, version));
  }
  return CkrToStatus(rv, function, fmt::format("KEK version {}", version));
}

}  // namespace

Pkcs11KekProvider::Pkcs11KekProvider(std::unique_ptr<Pkcs11Token> token, std::string prefix)
    : token_(std::move(token)), prefix_(std::move(prefix)) {}

Pkcs11KekProvider::~Pkcs11KekProvider() = default;

absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> Pkcs11KekProvider::Connect(
    const Pkcs11Options& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  ASSIGN_OR_RETURN(
      std::unique_ptr<Pkcs11Token> token,
      OpenPkcs11Token(Pkcs11TokenOptions{options.module_path, options.token_label, options.slot_id,
                                         options.pin_file, options.max_sessions}));
  std::unique_ptr<Pkcs11KekProvider> provider(
      new Pkcs11KekProvider(std::move(token), options.key_label_prefix));
  RETURN_IF_ERROR(provider->Reload());
  return provider;
}

absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> Pkcs11KekProvider::Open(
    const Pkcs11Options& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11KekProvider> provider, Connect(options));
  if (provider->CurrentVersion() == 0) {
    return absl::FailedPreconditionError(
        fmt::format("{} holds no active KEK labelled {}-v<N>; initialise the token's KEKs first",
                    provider->token_->description, options.key_label_prefix));
  }
  return provider;
}

absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> Pkcs11KekProvider::Initialize(
    const Pkcs11Options& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11KekProvider> provider, Connect(options));
  if (!provider->Versions().empty()) {
    return absl::AlreadyExistsError(
        fmt::format("{} already holds KEKs labelled {}-v<N>; refusing to initialise it again",
                    provider->token_->description, options.key_label_prefix));
  }
  RETURN_IF_ERROR(provider->AddVersion().status());
  return provider;
}

absl::Status Pkcs11KekProvider::Reload() {
  ASSIGN_OR_RETURN(Pkcs11SessionPool::Lease lease, token_->pool.Acquire());
  absl::StatusOr<std::vector<Pkcs11KekObject>> objects =
      ListPkcs11KekObjects(token_->functions(), lease.session(), prefix_);
  if (!objects.ok()) return Annotate(objects.status(), token_->description);
  std::vector<Entry> entries;
  entries.reserve(objects->size());
  for (const Pkcs11KekObject& object : *objects) {
    entries.push_back(Entry{object.version, object.state, object.handle});
  }
  std::unique_lock lock(mutex_);
  entries_ = std::move(entries);
  return absl::OkStatus();
}

std::uint32_t Pkcs11KekProvider::CurrentVersion() const {
  std::shared_lock lock(mutex_);
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->state == KekState::kActive) return it->version;
  }
  return 0;
}

std::vector<KekVersionInfo> Pkcs11KekProvider::Versions() const {
  std::shared_lock lock(mutex_);
  std::vector<KekVersionInfo> versions;
  versions.reserve(entries_.size());
  for (const Entry& entry : entries_) versions.push_back({entry.version, entry.state});
  return versions;
}

absl::StatusOr<std::uint64_t> Pkcs11KekProvider::UsableHandleLocked(std::uint32_t version) const {
  for (const Entry& entry : entries_) {
    if (entry.version != version) continue;
    if (entry.state == KekState::kRetired) {
      return absl::FailedPreconditionError(
          fmt::format("KEK version {} is retired; rewrap under the current version", version));
    }
    return entry.handle;
  }
  return absl::NotFoundError(fmt::format("KEK version {} ({}) is not on {}", version,
                                         Pkcs11KekLabel(prefix_, version), token_->description));
}

absl::StatusOr<std::uint64_t> Pkcs11KekProvider::UsableHandle(std::uint32_t version) {
  {
    std::shared_lock lock(mutex_);
    absl::StatusOr<std::uint64_t> handle = UsableHandleLocked(version);
    if (!absl::IsNotFound(handle.status())) return handle;
    if (!entries_.empty() && version <= entries_.back().version) return handle;
  }
  // A version newer than any known may have been added by another instance. Look at the
  // token again, at most once per kMissReloadInterval, so that requests naming absent
  // versions cannot keep the token busy listing objects.
  std::lock_guard rotation(rotation_mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (last_miss_reload_ && now - *last_miss_reload_ < kMissReloadInterval) {
    std::shared_lock lock(mutex_);
    return UsableHandleLocked(version);
  }
  last_miss_reload_ = now;
  RETURN_IF_ERROR(Reload());
  std::shared_lock lock(mutex_);
  return UsableHandleLocked(version);
}

absl::StatusOr<std::vector<std::uint8_t>> Pkcs11KekProvider::Wrap(
    std::uint32_t kek_version, const SecretBytes& plaintext, std::span<const std::uint8_t> aad) {
  if (plaintext.empty()) return absl::InvalidArgumentError("nothing to wrap: the key is empty");
  ASSIGN_OR_RETURN(const CK_OBJECT_HANDLE key, UsableHandle(kek_version));
  std::vector<std::uint8_t> wrapped(kCiphertextOffset + plaintext.size() + kAesGcmTagSize);
  const auto header = Header(kek_version);
  std::memcpy(wrapped.data(), header.data(), header.size());
  const std::span<std::uint8_t> nonce(wrapped.data() + kWrapHeaderSize, kAesGcmNonceSize);
  RETURN_IF_ERROR(FillPublicRandom(nonce));
  std::vector<std::uint8_t> gcm_aad = GcmAad(header, aad);
  CK_GCM_PARAMS params = GcmParams(nonce, gcm_aad);
  CK_MECHANISM mechanism{CKM_AES_GCM, &params, sizeof(params)};

  ASSIGN_OR_RETURN(Pkcs11SessionPool::Lease lease, token_->pool.Acquire());
  CK_FUNCTION_LIST& f = token_->functions();
  CK_RV rv = f.C_EncryptInit(lease.session(), &mechanism, key);
  if (rv != CKR_OK) {
    DiscardIfBroken(lease, rv);
    return KeyUseStatus(rv, "C_EncryptInit", kek_version);
  }
  CK_ULONG sealed_size = wrapped.size() - kCiphertextOffset;
  rv = f.C_Encrypt(lease.session(), const_cast<CK_BYTE*>(plaintext.SecretData()), plaintext.size(),
                   wrapped.data() + kCiphertextOffset, &sealed_size);
  if (rv != CKR_OK) {
    DiscardIfBroken(lease, rv);
    OPENSSL_cleanse(wrapped.data(), wrapped.size());
    return CkrToStatus(rv, "C_Encrypt", fmt::format("wrapping under KEK version {}", kek_version));
  }
  if (sealed_size != plaintext.size() + kAesGcmTagSize) {
    return absl::InternalError(
        fmt::format("C_Encrypt returned {} bytes for a {}-byte key under AES-GCM; expected {}",
                    sealed_size, plaintext.size(), plaintext.size() + kAesGcmTagSize));
  }
  return wrapped;
}

absl::StatusOr<SecretBytes> Pkcs11KekProvider::Unwrap(std::uint32_t kek_version,
                                                      std::span<const std::uint8_t> wrapped,
                                                      std::span<const std::uint8_t> aad) {
  ASSIGN_OR_RETURN(const std::uint32_t named_version, WrappedKekVersion(wrapped));
  if (named_version != kek_version) {
    return absl::InvalidArgumentError(
        fmt::format("wrapped key names KEK version {}, but version {} was asked for", named_version,
                    kek_version));
  }
  ASSIGN_OR_RETURN(const CK_OBJECT_HANDLE key, UsableHandle(kek_version));
  std::vector<std::uint8_t> gcm_aad = GcmAad(wrapped.first(kWrapHeaderSize), aad);
  CK_GCM_PARAMS params = GcmParams(wrapped.subspan(kWrapHeaderSize, kAesGcmNonceSize), gcm_aad);
  CK_MECHANISM mechanism{CKM_AES_GCM, &params, sizeof(params)};
  const std::span<const std::uint8_t> sealed = wrapped.subspan(kCiphertextOffset);

  ASSIGN_OR_RETURN(Pkcs11SessionPool::Lease lease, token_->pool.Acquire());
  CK_FUNCTION_LIST& f = token_->functions();
  CK_RV rv = f.C_DecryptInit(lease.session(), &mechanism, key);
  if (rv != CKR_OK) {
    DiscardIfBroken(lease, rv);
    return KeyUseStatus(rv, "C_DecryptInit", kek_version);
  }
  // Some tokens (SoftHSM2) want room for the whole input, tag included. The buffer is
  // locked and wiped when it goes, like every other plaintext.
  SecretBytes buffer(sealed.size());
  CK_ULONG plain_size = buffer.size();
  rv = f.C_Decrypt(lease.session(), const_cast<CK_BYTE*>(sealed.data()), sealed.size(),
                   buffer.MutableSecretData(), &plain_size);
  if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
      rv == kCkrAeadDecryptFailed || rv == CKR_GENERAL_ERROR) {
    // SoftHSM2 2.6 reports a GCM tag mismatch as CKR_GENERAL_ERROR; see the docs.
    return absl::UnauthenticatedError(fmt::format(
        "C_Decrypt: {}: wrapped key does not verify: it was altered, or it belongs to another "
        "volume or key version",
        CkrName(rv)));
  }
  if (rv != CKR_OK) {
    DiscardIfBroken(lease, rv);
    return CkrToStatus(rv, "C_Decrypt",
                       fmt::format("unwrapping under KEK version {}", kek_version));
  }
  if (plain_size + kAesGcmTagSize != sealed.size()) {
    return absl::InternalError(
        fmt::format("C_Decrypt returned {} bytes from a {}-byte AES-GCM ciphertext", plain_size,
                    sealed.size()));
  }
  return SecretBytes::CopyFrom(buffer.SecretSpan().first(plain_size));
}

absl::StatusOr<std::uint32_t> Pkcs11KekProvider::AddVersion() {
  std::lock_guard rotation(rotation_mutex_);
  RETURN_IF_ERROR(Reload());  // Another instance may have added versions.
  std::uint32_t last = 0;
  {
    std::shared_lock lock(mutex_);
    if (!entries_.empty()) last = entries_.back().version;
  }
  if (last == std::numeric_limits<std::uint32_t>::max()) {
    return absl::ResourceExhaustedError(
        fmt::format("{} has used every KEK version number under {}", token_->description, prefix_));
  }
  const std::uint32_t next = last + 1;
  ASSIGN_OR_RETURN(Pkcs11SessionPool::Lease lease, token_->pool.Acquire());
  CK_FUNCTION_LIST& f = token_->functions();
  absl::StatusOr<CK_OBJECT_HANDLE> handle =
      GeneratePkcs11KekObject(f, lease.session(), prefix_, next);
  if (!handle.ok()) return Annotate(handle.status(), token_->description);
  // Two instances rotating at the same moment would both create version `next`.
  absl::StatusOr<std::size_t> same_label =
      CountPkcs11ObjectsLabelled(f, lease.session(), Pkcs11KekLabel(prefix_, next));
  if (!same_label.ok() || *same_label != 1) {
    f.C_DestroyObject(lease.session(), *handle);
    if (!same_label.ok()) return same_label.status();
    return absl::AbortedError(
        fmt::format("another instance added KEK version {} to {} at the same time; retry", next,
                    token_->description));
  }
  std::unique_lock lock(mutex_);
  entries_.push_back(Entry{next, KekState::kActive, *handle});
  return next;
}

absl::Status Pkcs11KekProvider::Retire(std::uint32_t version) {
  std::lock_guard rotation(rotation_mutex_);
  RETURN_IF_ERROR(Reload());
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  {
    std::shared_lock lock(mutex_);
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [version](const Entry& entry) { return entry.version == version; });
    if (it == entries_.end()) {
      return absl::NotFoundError(fmt::format("KEK version {} ({}) is not on {}", version,
                                             Pkcs11KekLabel(prefix_, version),
                                             token_->description));
    }
    if (it->state == KekState::kRetired) return absl::OkStatus();
    handle = it->handle;
  }
  if (version == CurrentVersion()) {
    return absl::FailedPreconditionError(fmt::format(
        "KEK version {} is the current version; add a newer version before retiring it", version));
  }
  {
    ASSIGN_OR_RETURN(Pkcs11SessionPool::Lease lease, token_->pool.Acquire());
    RETURN_IF_ERROR(RetirePkcs11KekObject(token_->functions(), lease.session(), handle));
  }
  std::unique_lock lock(mutex_);
  for (Entry& entry : entries_) {
    if (entry.version == version) entry.state = KekState::kRetired;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> OpenPkcs11KekProvider(
    const Pkcs11Options& options) {
  return Pkcs11KekProvider::Open(options);
}

}  // namespace cloak::kms
