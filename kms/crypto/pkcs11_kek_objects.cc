#include "kms/crypto/pkcs11_kek_objects.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/kek_wrap_format.h"
#include "kms/crypto/pkcs11_error.h"

namespace cloak::kms {
namespace {

CK_ATTRIBUTE Attribute(CK_ATTRIBUTE_TYPE type, void* value, CK_ULONG size) {
  return CK_ATTRIBUTE{type, value, size};
}

// Token objects matching `match`.
absl::StatusOr<std::vector<CK_OBJECT_HANDLE>> FindObjects(CK_FUNCTION_LIST& f,
                                                          CK_SESSION_HANDLE session,
                                                          std::vector<CK_ATTRIBUTE> match) {
  CK_RV rv = f.C_FindObjectsInit(session, match.data(), match.size());
  RETURN_IF_ERROR(CkrToStatus(rv, "C_FindObjectsInit", "looking for KEK objects"));
  std::vector<CK_OBJECT_HANDLE> found;
  CK_OBJECT_HANDLE batch[32];
  for (;;) {
    CK_ULONG count = 0;
    rv = f.C_FindObjects(session, batch, std::size(batch), &count);
    if (rv != CKR_OK || count == 0) break;
    found.insert(found.end(), batch, batch + count);
  }
  const CK_RV final_rv = f.C_FindObjectsFinal(session);
  RETURN_IF_ERROR(CkrToStatus(rv, "C_FindObjects", "looking for KEK objects"));
  RETURN_IF_ERROR(CkrToStatus(final_rv, "C_FindObjectsFinal", "looking for KEK objects"));
  return found;
}

absl::StatusOr<std::string> Label(CK_FUNCTION_LIST& f, CK_SESSION_HANDLE session,
                                  CK_OBJECT_HANDLE object) {
  CK_ATTRIBUTE query = Attribute(CKA_LABEL, nullptr, 0);
  CK_RV rv = f.C_GetAttributeValue(session, object, &query, 1);
  RETURN_IF_ERROR(CkrToStatus(rv, "C_GetAttributeValue(CKA_LABEL)", "reading a key label"));
  if (query.ulValueLen == CK_UNAVAILABLE_INFORMATION || query.ulValueLen > 1024) {
    return std::string();
  }
  std::string label(query.ulValueLen, '\0');
  query.pValue = label.data();
  rv = f.C_GetAttributeValue(session, object, &query, 1);
  RETURN_IF_ERROR(CkrToStatus(rv, "C_GetAttributeValue(CKA_LABEL)", "reading a key label"));
  label.resize(query.ulValueLen);
  return label;
}

// The version in `label` when it is exactly "<prefix>-v<N>", N in 1..2^32-1 without
// leading zeros.
std::optional<std::uint32_t> VersionOf(std::string_view label, std::string_view prefix) {
  if (label.size() <= prefix.size() + 2 || !label.starts_with(prefix)) return std::nullopt;
  label.remove_prefix(prefix.size());
  if (!label.starts_with("-v")) return std::nullopt;
  label.remove_prefix(2);
  if (label.front() == '0' || label.size() > 10) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(label.data(), label.data() + label.size(), value);
  if (error != std::errc() || end != label.data() + label.size() || value == 0 ||
      value > std::numeric_limits<std::uint32_t>::max()) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(value);
}

// Reads the policy attributes of a KEK object and derives its state; refuses keys that
// could leave the token or are not AES-256.
absl::StatusOr<KekState> CheckedState(CK_FUNCTION_LIST& f, CK_SESSION_HANDLE session,
                                      CK_OBJECT_HANDLE object, std::string_view label) {
  CK_KEY_TYPE key_type = 0;
  CK_ULONG value_len = 0;
  CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, encrypt = CK_FALSE, decrypt = CK_FALSE;
  CK_ATTRIBUTE query[] = {
      Attribute(CKA_KEY_TYPE, &key_type, sizeof(key_type)),
      Attribute(CKA_VALUE_LEN, &value_len, sizeof(value_len)),
      Attribute(CKA_SENSITIVE, &sensitive, sizeof(sensitive)),
      Attribute(CKA_EXTRACTABLE, &extractable, sizeof(extractable)),
      Attribute(CKA_ENCRYPT, &encrypt, sizeof(encrypt)),
      Attribute(CKA_DECRYPT, &decrypt, sizeof(decrypt)),
  };
  const CK_RV rv = f.C_GetAttributeValue(session, object, query, std::size(query));
  RETURN_IF_ERROR(CkrToStatus(rv, "C_GetAttributeValue", fmt::format("KEK object {}", label)));
  if (key_type != CKK_AES || value_len != kKekSize) {
    return absl::FailedPreconditionError(fmt::format(
        "KEK object {} is not a {}-byte AES key; remove or relabel it", label, kKekSize));
  }
  if (sensitive != CK_TRUE || extractable != CK_FALSE) {
    return absl::FailedPreconditionError(
        fmt::format("KEK object {} could leave the token (CKA_SENSITIVE {}, CKA_EXTRACTABLE {}); "
                    "refusing to use it: generate KEKs with AddVersion",
                    label, sensitive == CK_TRUE, extractable == CK_TRUE));
  }
  return encrypt == CK_TRUE && decrypt == CK_TRUE ? KekState::kActive : KekState::kRetired;
}

}  // namespace

std::string Pkcs11KekLabel(std::string_view prefix, std::uint32_t version) {
  return fmt::format("{}-v{}", prefix, version);
}

absl::StatusOr<std::vector<Pkcs11KekObject>> ListPkcs11KekObjects(CK_FUNCTION_LIST& functions,
                                                                  CK_SESSION_HANDLE session,
                                                                  std::string_view prefix) {
  CK_BBOOL yes = CK_TRUE;
  CK_OBJECT_CLASS secret_key = CKO_SECRET_KEY;
  ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> handles,
                   FindObjects(functions, session,
                               {Attribute(CKA_CLASS, &secret_key, sizeof(secret_key)),
                                Attribute(CKA_TOKEN, &yes, sizeof(yes))}));
  std::vector<Pkcs11KekObject> objects;
  for (CK_OBJECT_HANDLE handle : handles) {
    ASSIGN_OR_RETURN(const std::string label, Label(functions, session, handle));
    const std::optional<std::uint32_t> version = VersionOf(label, prefix);
    if (!version) continue;
    ASSIGN_OR_RETURN(const KekState state, CheckedState(functions, session, handle, label));
    objects.push_back(Pkcs11KekObject{*version, state, handle});
  }
  std::sort(objects.begin(), objects.end(),
            [](const auto& a, const auto& b) { return a.version < b.version; });
  for (std::size_t i = 1; i < objects.size(); ++i) {
    if (objects[i].version == objects[i - 1].version) {
      return absl::FailedPreconditionError(
          fmt::format("two keys on the token are labelled {}; remove the one that wraps nothing",
                      Pkcs11KekLabel(prefix, objects[i].version)));
    }
  }
  return objects;
}

absl::StatusOr<CK_OBJECT_HANDLE> GeneratePkcs11KekObject(CK_FUNCTION_LIST& functions,
                                                         CK_SESSION_HANDLE session,
                                                         std::string_view prefix,
                                                         std::uint32_t version) {
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  std::string label = Pkcs11KekLabel(prefix, version);
  CK_OBJECT_CLASS secret_key = CKO_SECRET_KEY;
  CK_KEY_TYPE aes = CKK_AES;
  CK_ULONG value_len = kKekSize;
  CK_ATTRIBUTE key_template[] = {
      Attribute(CKA_CLASS, &secret_key, sizeof(secret_key)),
      Attribute(CKA_KEY_TYPE, &aes, sizeof(aes)),
      Attribute(CKA_VALUE_LEN, &value_len, sizeof(value_len)),
      Attribute(CKA_LABEL, label.data(), label.size()),
      Attribute(CKA_TOKEN, &yes, sizeof(yes)),
      Attribute(CKA_PRIVATE, &yes, sizeof(yes)),
      Attribute(CKA_SENSITIVE, &yes, sizeof(yes)),
      Attribute(CKA_EXTRACTABLE, &no, sizeof(no)),
      Attribute(CKA_MODIFIABLE, &yes, sizeof(yes)),  // Retire changes CKA_ENCRYPT/DECRYPT.
      Attribute(CKA_ENCRYPT, &yes, sizeof(yes)),
      Attribute(CKA_DECRYPT, &yes, sizeof(yes)),
      Attribute(CKA_WRAP, &no, sizeof(no)),
      Attribute(CKA_UNWRAP, &no, sizeof(no)),
      Attribute(CKA_SIGN, &no, sizeof(no)),
      Attribute(CKA_VERIFY, &no, sizeof(no)),
      Attribute(CKA_DERIVE, &no, sizeof(no)),
  };
  CK_MECHANISM mechanism{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  const CK_RV rv =
      functions.C_GenerateKey(session, &mechanism, key_template, std::size(key_template), &handle);
  RETURN_IF_ERROR(CkrToStatus(rv, "C_GenerateKey", fmt::format("generating KEK {}", label)));
  return handle;
}

absl::StatusOr<std::size_t> CountPkcs11ObjectsLabelled(CK_FUNCTION_LIST& functions,
                                                       CK_SESSION_HANDLE session,
                                                       std::string_view label) {
  CK_BBOOL yes = CK_TRUE;
  std::string copy(label);
  ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> handles,
                   FindObjects(functions, session,
                               {Attribute(CKA_LABEL, copy.data(), copy.size()),
                                Attribute(CKA_TOKEN, &yes, sizeof(yes))}));
  return handles.size();
}

absl::Status RetirePkcs11KekObject(CK_FUNCTION_LIST& functions, CK_SESSION_HANDLE session,
                                   CK_OBJECT_HANDLE handle) {
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE change[] = {
      Attribute(CKA_ENCRYPT, &no, sizeof(no)),
      Attribute(CKA_DECRYPT, &no, sizeof(no)),
  };
  const CK_RV rv = functions.C_SetAttributeValue(session, handle, change, std::size(change));
  if (rv == CKR_ATTRIBUTE_READ_ONLY || rv == CKR_ACTION_PROHIBITED) {
    return absl::FailedPreconditionError(fmt::format(
        "C_SetAttributeValue: {}: the token will not clear CKA_ENCRYPT/CKA_DECRYPT on this KEK "
        "(is CKA_MODIFIABLE false?), so it cannot be retired",
        CkrName(rv)));
  }
  return CkrToStatus(rv, "C_SetAttributeValue", "retiring a KEK");
}

}  // namespace cloak::kms
