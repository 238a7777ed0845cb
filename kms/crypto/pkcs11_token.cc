#include "kms/crypto/pkcs11_token.h"

#include <vector>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/pkcs11_error.h"
#include "kms/crypto/secret_file.h"

namespace cloak::kms {
namespace {

constexpr std::size_t kMaxPinFileSize = 256;

absl::StatusOr<CK_TOKEN_INFO> TokenInfo(CK_FUNCTION_LIST& f, CK_SLOT_ID slot) {
  CK_TOKEN_INFO info{};
  const CK_RV rv = f.C_GetTokenInfo(slot, &info);
  if (rv == CKR_SLOT_ID_INVALID || rv == CKR_TOKEN_NOT_PRESENT) {
    return absl::NotFoundError(
        fmt::format("C_GetTokenInfo: {}: no token in slot {}", CkrName(rv), slot));
  }
  RETURN_IF_ERROR(CkrToStatus(rv, "C_GetTokenInfo", fmt::format("slot {}", slot)));
  return info;
}

absl::StatusOr<CK_SLOT_ID> FindSlot(CK_FUNCTION_LIST& f, const Pkcs11TokenOptions& options) {
  if (options.slot_id) {
    const CK_SLOT_ID slot = *options.slot_id;
    ASSIGN_OR_RETURN(const CK_TOKEN_INFO info, TokenInfo(f, slot));
    if (!options.token_label.empty() && TrimTokenLabel(info.label) != options.token_label) {
      return absl::NotFoundError(fmt::format("the token in slot {} is labelled '{}', not '{}'",
                                             slot, TrimTokenLabel(info.label),
                                             options.token_label));
    }
    return slot;
  }
  CK_ULONG count = 0;
  CK_RV rv = f.C_GetSlotList(CK_TRUE, nullptr, &count);
  RETURN_IF_ERROR(CkrToStatus(rv, "C_GetSlotList", "listing slots with a token"));
  std::vector<CK_SLOT_ID> slots(count);
  rv = f.C_GetSlotList(CK_TRUE, slots.data(), &count);
  RETURN_IF_ERROR(CkrToStatus(rv, "C_GetSlotList", "listing slots with a token"));
  slots.resize(count);
  std::optional<CK_SLOT_ID> found;
  for (const CK_SLOT_ID slot : slots) {
    absl::StatusOr<CK_TOKEN_INFO> info = TokenInfo(f, slot);
    if (!info.ok() || TrimTokenLabel(info->label) != options.token_label) continue;
    if (found) {
      return absl::FailedPreconditionError(
          fmt::format("tokens in slots {} and {} are both labelled '{}'; set the slot id", *found,
                      slot, options.token_label));
    }
    found = slot;
  }
  if (!found) {
    return absl::NotFoundError(fmt::format("no token labelled '{}' among {} slots with a token",
                                           options.token_label, slots.size()));
  }
  return *found;
}

// The PIN without one trailing "\n" or "\r\n".
std::span<const std::uint8_t> PinOf(const SecretBytes& file) {
  std::span<const std::uint8_t> pin = file.SecretSpan();
  if (!pin.empty() && pin.back() == '\n') pin = pin.first(pin.size() - 1);
  if (!pin.empty() && pin.back() == '\r') pin = pin.first(pin.size() - 1);
  return pin;
}

absl::Status Login(CK_FUNCTION_LIST& f, CK_SESSION_HANDLE session, const std::string& pin_file,
                   const std::string& description) {
  absl::StatusOr<SecretBytes> file = ReadPrivateFile(pin_file, kMaxPinFileSize);
  if (!file.ok()) return Annotate(file.status(), fmt::format("PIN file for {}", description));
  const std::span<const std::uint8_t> pin = PinOf(*file);
  if (pin.empty()) {
    return absl::InvalidArgumentError(fmt::format("PIN file {} is empty", pin_file));
  }
  // Cryptoki takes a non-const pointer but does not write through it.
  const CK_RV rv = f.C_Login(session, CKU_USER, const_cast<CK_UTF8CHAR*>(pin.data()), pin.size());
  if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) return absl::OkStatus();
  if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE) {
    return absl::PermissionDeniedError(fmt::format(
        "C_Login: {}: the user PIN in {} is not accepted by {}; check the file (repeated "
        "failures may lock the token)",
        CkrName(rv), pin_file, description));
  }
  if (rv == CKR_PIN_LOCKED) {
    return absl::PermissionDeniedError(fmt::format(
        "C_Login: CKR_PIN_LOCKED: the user PIN of {} is locked; the security officer must "
        "reset it",
        description));
  }
  return CkrToStatus(rv, "C_Login", fmt::format("logging in to {}", description));
}

}  // namespace

std::string TrimTokenLabel(const CK_UTF8CHAR (&label)[32]) {
  std::string text(reinterpret_cast<const char*>(label), sizeof(label));
  while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.pop_back();
  return text;
}

Pkcs11Token::~Pkcs11Token() {
  // The pool's sessions close after this body runs, so the login lasts until the last
  // of them is gone.
  functions().C_CloseSession(login_session);
}

absl::StatusOr<std::unique_ptr<Pkcs11Token>> OpenPkcs11Token(const Pkcs11TokenOptions& options) {
  ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Module> module, Pkcs11Module::Load(options.module_path));
  CK_FUNCTION_LIST& f = module->functions();
  ASSIGN_OR_RETURN(const CK_SLOT_ID slot, FindSlot(f, options));
  ASSIGN_OR_RETURN(const CK_TOKEN_INFO info, TokenInfo(f, slot));
  const std::string description =
      fmt::format("token '{}' in slot {} of {}", TrimTokenLabel(info.label), slot, module->path());
  if ((info.flags & CKF_TOKEN_INITIALIZED) == 0 || (info.flags & CKF_USER_PIN_INITIALIZED) == 0) {
    return absl::FailedPreconditionError(
        fmt::format("{} is not initialised or has no user PIN yet", description));
  }
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  const CK_RV rv =
      f.C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session);
  RETURN_IF_ERROR(CkrToStatus(rv, "C_OpenSession", description));
  if (absl::Status status = Login(f, session, options.pin_file, description); !status.ok()) {
    f.C_CloseSession(session);
    return status;
  }
  return std::make_unique<Pkcs11Token>(std::move(module), slot, description, session,
                                       options.max_sessions);
}

}  // namespace cloak::kms
