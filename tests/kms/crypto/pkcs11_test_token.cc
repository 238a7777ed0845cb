#include "tests/kms/crypto/pkcs11_test_token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/pkcs11_error.h"
#include "kms/crypto/pkcs11_token.h"

namespace cloak::kms::kms_test {
namespace {

constexpr char kTestSoPin[] = "27182818";

void PadLabel(const std::string& label, CK_UTF8CHAR (&out)[32]) {
  std::memset(out, ' ', sizeof(out));
  std::memcpy(out, label.data(), std::min(label.size(), sizeof(out)));
}

absl::StatusOr<CK_SLOT_ID> SlotWhere(CK_FUNCTION_LIST& f, bool initialized) {
  CK_ULONG count = 0;
  RETURN_IF_ERROR(CkrToStatus(f.C_GetSlotList(CK_TRUE, nullptr, &count), "C_GetSlotList", ""));
  std::vector<CK_SLOT_ID> slots(count);
  RETURN_IF_ERROR(CkrToStatus(f.C_GetSlotList(CK_TRUE, slots.data(), &count), "C_GetSlotList", ""));
  for (CK_ULONG i = 0; i < count; ++i) {
    CK_TOKEN_INFO info{};
    if (f.C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
    const bool is_initialized = (info.flags & CKF_TOKEN_INITIALIZED) != 0;
    if (is_initialized == initialized &&
        (!initialized || TrimTokenLabel(info.label) == kTestTokenLabel)) {
      return slots[i];
    }
  }
  return absl::NotFoundError(initialized ? "the test token is not in the slot list"
                                         : "SoftHSM2 offers no free slot");
}

CK_UTF8CHAR* Pin(const char* pin) { return reinterpret_cast<CK_UTF8CHAR*>(const_cast<char*>(pin)); }

}  // namespace

absl::Status SoftHsmToken::Create() {
  if (::access(kSoftHsmModule, R_OK) != 0) {
    return absl::FailedPreconditionError(
        fmt::format("SoftHSM2 is not installed ({} is missing); scripts/install-deps installs "
                    "the softhsm2 package",
                    kSoftHsmModule));
  }
  if (dir_.path().empty()) return absl::InternalError("cannot create a temporary directory");
  std::filesystem::create_directory(TokenDir());
  const std::string conf = dir_.File("softhsm2.conf");
  std::ofstream(conf) << "directories.tokendir = " << TokenDir() << "\n"
                      << "objectstore.backend = file\n"
                      << "log.level = ERROR\n"
                      << "slots.removable = false\n";
  ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);

  ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Module> module, Pkcs11Module::Load(kSoftHsmModule));
  CK_FUNCTION_LIST& f = module->functions();
  ASSIGN_OR_RETURN(const CK_SLOT_ID free_slot, SlotWhere(f, false));
  CK_UTF8CHAR label[32];
  PadLabel(kTestTokenLabel, label);
  RETURN_IF_ERROR(
      CkrToStatus(f.C_InitToken(free_slot, Pin(kTestSoPin), std::strlen(kTestSoPin), label),
                  "C_InitToken", "test token"));
  ASSIGN_OR_RETURN(const CK_SLOT_ID slot, SlotWhere(f, true));
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  RETURN_IF_ERROR(CkrToStatus(
      f.C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session),
      "C_OpenSession", "test token"));
  CK_RV rv = f.C_Login(session, CKU_SO, Pin(kTestSoPin), std::strlen(kTestSoPin));
  if (rv == CKR_OK) rv = f.C_InitPIN(session, Pin(kTestUserPin), std::strlen(kTestUserPin));
  f.C_Logout(session);
  f.C_CloseSession(session);
  RETURN_IF_ERROR(CkrToStatus(rv, "C_Login/C_InitPIN", "test token"));

  const std::string pin_file = dir_.File("user.pin");
  const int fd = ::open(pin_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoToStatus(errno, "create PIN file");
  const std::string contents = std::string(kTestUserPin) + "\n";
  const bool written =
      ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size());
  ::close(fd);
  return written ? absl::OkStatus() : absl::InternalError("short write to the PIN file");
}

Pkcs11Options SoftHsmToken::Options() const {
  Pkcs11Options options;
  options.module_path = kSoftHsmModule;
  options.token_label = kTestTokenLabel;
  options.pin_file = dir_.File("user.pin");
  return options;
}

absl::StatusOr<std::unique_ptr<TokenInspector>> TokenInspector::Open() {
  ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Module> module, Pkcs11Module::Load(kSoftHsmModule));
  CK_FUNCTION_LIST& f = module->functions();
  ASSIGN_OR_RETURN(const CK_SLOT_ID slot, SlotWhere(f, true));
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  RETURN_IF_ERROR(CkrToStatus(
      f.C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session),
      "C_OpenSession", "inspector"));
  const CK_RV rv = f.C_Login(session, CKU_USER, Pin(kTestUserPin), std::strlen(kTestUserPin));
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    f.C_CloseSession(session);
    return CkrToStatus(rv, "C_Login", "inspector");
  }
  return std::unique_ptr<TokenInspector>(new TokenInspector(std::move(module), session));
}

TokenInspector::~TokenInspector() { f().C_CloseSession(session_); }

CK_OBJECT_HANDLE TokenInspector::FindByLabel(const std::string& label) const {
  std::string copy = label;
  CK_ATTRIBUTE match{CKA_LABEL, copy.data(), copy.size()};
  if (f().C_FindObjectsInit(session_, &match, 1) != CKR_OK) return CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE found[2];
  CK_ULONG count = 0;
  const CK_RV rv = f().C_FindObjects(session_, found, 2, &count);
  f().C_FindObjectsFinal(session_);
  return rv == CKR_OK && count == 1 ? found[0] : CK_INVALID_HANDLE;
}

}  // namespace cloak::kms::kms_test
