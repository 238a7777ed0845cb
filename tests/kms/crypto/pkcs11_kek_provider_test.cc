// What only the PKCS#11 provider has: keys that stay in the token, PIN handling,
// token discovery, and several instances sharing one token.

#include "kms/crypto/pkcs11_kek_provider.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "gtest/gtest.h"
#include "kms/crypto/key_binding.h"
#include "kms/crypto/pkcs11_kek_objects.h"
#include "kms/crypto/random.h"
#include "tests/kms/crypto/pkcs11_test_token.h"

namespace cloak::kms {
namespace {

using kms_test::SoftHsmToken;
using kms_test::TokenInspector;

class Pkcs11KekProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const absl::Status created = token_.Create();
    ASSERT_TRUE(created.ok()) << created;
    absl::StatusOr<SecretBytes> dek = GenerateDek(kDekSize);
    ASSERT_TRUE(dek.ok());
    dek_ = *std::move(dek);
  }

  std::unique_ptr<Pkcs11KekProvider> MustInitialize() {
    absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> provider =
        Pkcs11KekProvider::Initialize(token_.Options());
    EXPECT_TRUE(provider.ok()) << provider.status();
    return provider.ok() ? *std::move(provider) : nullptr;
  }

  void WritePinFile(const std::string& contents, mode_t mode) {
    const std::string path = token_.Options().pin_file;
    std::ofstream(path, std::ios::trunc) << contents;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }

  SoftHsmToken token_;
  SecretBytes dek_;
};

TEST_F(Pkcs11KekProviderTest, OpenNeedsInitializeAndInitializeRunsOnce) {
  EXPECT_EQ(OpenPkcs11KekProvider(token_.Options()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::unique_ptr<Pkcs11KekProvider> provider = MustInitialize();
  ASSERT_NE(provider, nullptr);
  EXPECT_EQ(Pkcs11KekProvider::Initialize(token_.Options()).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(OpenPkcs11KekProvider(token_.Options()).ok());
}

TEST_F(Pkcs11KekProviderTest, KeysAreSensitiveAndNeverExtractable) {
  std::unique_ptr<Pkcs11KekProvider> provider = MustInitialize();
  ASSERT_NE(provider, nullptr);
  ASSERT_TRUE(provider->AddVersion().ok());
  absl::StatusOr<std::unique_ptr<TokenInspector>> inspector = TokenInspector::Open();
  ASSERT_TRUE(inspector.ok()) << inspector.status();
  CK_FUNCTION_LIST& f = (*inspector)->f();
  const CK_SESSION_HANDLE session = (*inspector)->session();

  for (const std::uint32_t version : {1u, 2u}) {
    SCOPED_TRACE(version);
    const CK_OBJECT_HANDLE key = (*inspector)->FindByLabel(Pkcs11KekLabel("cloak-kek", version));
    ASSERT_NE(key, CK_INVALID_HANDLE);

    std::uint8_t value[64];
    CK_ATTRIBUTE read_value{CKA_VALUE, value, sizeof(value)};
    EXPECT_EQ(f.C_GetAttributeValue(session, key, &read_value, 1), CKR_ATTRIBUTE_SENSITIVE);
    EXPECT_EQ(read_value.ulValueLen, CK_UNAVAILABLE_INFORMATION);

    CK_BBOOL token = 0, sensitive = 0, extractable = 1, always_sensitive = 0, never_extractable = 0,
             wrap = 1;
    CK_ULONG value_len = 0;
    CK_ATTRIBUTE flags[] = {{CKA_TOKEN, &token, 1},
                            {CKA_SENSITIVE, &sensitive, 1},
                            {CKA_EXTRACTABLE, &extractable, 1},
                            {CKA_ALWAYS_SENSITIVE, &always_sensitive, 1},
                            {CKA_NEVER_EXTRACTABLE, &never_extractable, 1},
                            {CKA_WRAP, &wrap, 1},
                            {CKA_VALUE_LEN, &value_len, sizeof(value_len)}};
    ASSERT_EQ(f.C_GetAttributeValue(session, key, flags, std::size(flags)), CKR_OK);
    EXPECT_EQ(token, CK_TRUE);
    EXPECT_EQ(sensitive, CK_TRUE);
    EXPECT_EQ(extractable, CK_FALSE);
    EXPECT_EQ(always_sensitive, CK_TRUE);
    EXPECT_EQ(never_extractable, CK_TRUE);
    EXPECT_EQ(wrap, CK_FALSE);
    EXPECT_EQ(value_len, 32u);

    // Wrapping the KEK out under a key we hold fails.
    CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ULONG len = 32;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE wrapping_template[] = {{CKA_CLASS, &secret, sizeof(secret)},
                                        {CKA_KEY_TYPE, &aes, sizeof(aes)},
                                        {CKA_VALUE_LEN, &len, sizeof(len)},
                                        {CKA_TOKEN, &no, 1},
                                        {CKA_WRAP, &yes, 1}};
    CK_MECHANISM keygen{CKM_AES_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE wrapping_key = CK_INVALID_HANDLE;
    ASSERT_EQ(f.C_GenerateKey(session, &keygen, wrapping_template, std::size(wrapping_template),
                              &wrapping_key),
              CKR_OK);
    for (const CK_MECHANISM_TYPE type : {CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD, CKM_AES_ECB}) {
      CK_MECHANISM mechanism{type, nullptr, 0};
      std::uint8_t out[128];
      CK_ULONG out_len = sizeof(out);
      const CK_RV rv = f.C_WrapKey(session, &mechanism, wrapping_key, key, out, &out_len);
      EXPECT_NE(rv, CKR_OK) << "mechanism 0x" << std::hex << type;
    }
    CK_MECHANISM aes_key_wrap{CKM_AES_KEY_WRAP, nullptr, 0};
    std::uint8_t out[128];
    CK_ULONG out_len = sizeof(out);
    EXPECT_EQ(f.C_WrapKey(session, &aes_key_wrap, wrapping_key, key, out, &out_len),
              CKR_KEY_UNEXTRACTABLE);
    f.C_DestroyObject(session, wrapping_key);

    // The policy attributes cannot be loosened.
    CK_ATTRIBUTE make_extractable{CKA_EXTRACTABLE, &yes, 1};
    EXPECT_NE(f.C_SetAttributeValue(session, key, &make_extractable, 1), CKR_OK);
    CK_ATTRIBUTE make_public{CKA_SENSITIVE, &no, 1};
    EXPECT_NE(f.C_SetAttributeValue(session, key, &make_public, 1), CKR_OK);
  }
}

TEST_F(Pkcs11KekProviderTest, TheTokenItselfRefusesARetiredKey) {
  std::unique_ptr<Pkcs11KekProvider> provider = MustInitialize();
  ASSERT_NE(provider, nullptr);
  const std::vector<std::uint8_t> aad = WrapAad("pvc-1", 1);
  absl::StatusOr<std::vector<std::uint8_t>> wrapped = provider->Wrap(1, dek_, aad);
  ASSERT_TRUE(wrapped.ok());
  // A second instance loaded before the retirement still has version 1 as active.
  absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> other =
      OpenPkcs11KekProvider(token_.Options());
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(provider->AddVersion().ok());
  ASSERT_TRUE(provider->Retire(1).ok());

  const absl::Status stale_wrap = (*other)->Wrap(1, dek_, aad).status();
  EXPECT_EQ(stale_wrap.code(), absl::StatusCode::kFailedPrecondition) << stale_wrap;
  const absl::Status stale_unwrap = (*other)->Unwrap(1, *wrapped, aad).status();
  EXPECT_EQ(stale_unwrap.code(), absl::StatusCode::kFailedPrecondition) << stale_unwrap;
  EXPECT_NE(stale_unwrap.message().find("CKR_KEY_FUNCTION_NOT_PERMITTED"), std::string::npos);
}

TEST_F(Pkcs11KekProviderTest, TagFailureIsUnauthenticatedAndNamesTheTokensAnswer) {
  std::unique_ptr<Pkcs11KekProvider> provider = MustInitialize();
  ASSERT_NE(provider, nullptr);
  const std::vector<std::uint8_t> aad = WrapAad("pvc-1", 1);
  absl::StatusOr<std::vector<std::uint8_t>> wrapped = provider->Wrap(1, dek_, aad);
  ASSERT_TRUE(wrapped.ok());
  wrapped->back() ^= 0x80;
  const absl::Status status = provider->Unwrap(1, *wrapped, aad).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  // SoftHSM2 2.6 answers CKR_GENERAL_ERROR; HSMs CKR_ENCRYPTED_DATA_INVALID or
  // CKR_AEAD_DECRYPT_FAILED. The message keeps the token's answer for the operator.
  EXPECT_NE(status.message().find("C_Decrypt: CKR_"), std::string::npos) << status;
}

TEST_F(Pkcs11KekProviderTest, AnotherInstanceFindsVersionsAddedLater) {
  std::unique_ptr<Pkcs11KekProvider> provider = MustInitialize();
  ASSERT_NE(provider, nullptr);
  absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> other =
      OpenPkcs11KekProvider(token_.Options());
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(provider->AddVersion().ok());
  const std::vector<std::uint8_t> aad = WrapAad("pvc-1", 1);
  absl::StatusOr<std::vector<std::uint8_t>> wrapped = provider->Wrap(2, dek_, aad);
  ASSERT_TRUE(wrapped.ok());
  absl::StatusOr<SecretBytes> unwrapped = (*other)->Unwrap(2, *wrapped, aad);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
  EXPECT_TRUE(*unwrapped == dek_);
  EXPECT_EQ((*other)->CurrentVersion(), 2u);
  // Both instances rotate through the token: the next version is 3 whichever adds it.
  absl::StatusOr<std::uint32_t> added = (*other)->AddVersion();
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 3u);
}

TEST_F(Pkcs11KekProviderTest, WrongPinIsPermissionDeniedAndNotEchoed) {
  WritePinFile("99887766\n", 0600);
  absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> provider =
      OpenPkcs11KekProvider(token_.Options());
  ASSERT_EQ(provider.status().code(), absl::StatusCode::kPermissionDenied) << provider.status();
  const std::string message(provider.status().message());
  EXPECT_NE(message.find("CKR_PIN_INCORRECT"), std::string::npos) << message;
  EXPECT_NE(message.find(token_.Options().pin_file), std::string::npos) << message;
  EXPECT_EQ(message.find("99887766"), std::string::npos) << message;
  EXPECT_EQ(message.find(kms_test::kTestUserPin), std::string::npos) << message;
}

TEST_F(Pkcs11KekProviderTest, PinFileWithLooseModeIsRefused) {
  WritePinFile(std::string(kms_test::kTestUserPin) + "\n", 0644);
  absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> provider =
      OpenPkcs11KekProvider(token_.Options());
  EXPECT_EQ(provider.status().code(), absl::StatusCode::kFailedPrecondition) << provider.status();
  EXPECT_NE(provider.status().message().find("0644"), std::string::npos) << provider.status();
  EXPECT_EQ(provider.status().message().find(kms_test::kTestUserPin), std::string::npos);
  WritePinFile(std::string(kms_test::kTestUserPin), 0400);  // no newline, read-only: fine
  EXPECT_TRUE(Pkcs11KekProvider::Initialize(token_.Options()).ok());
}

TEST_F(Pkcs11KekProviderTest, BadOptionsAndMissingThingsAreNamed) {
  Pkcs11Options options = token_.Options();
  options.module_path = token_.dir().File("no-such-module.so");
  absl::Status status = OpenPkcs11KekProvider(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_NE(status.message().find("no-such-module.so"), std::string::npos);

  options = token_.Options();
  options.token_label = "no-such-token";
  status = OpenPkcs11KekProvider(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_NE(status.message().find("no-such-token"), std::string::npos);

  options = token_.Options();
  options.token_label.clear();
  EXPECT_EQ(OpenPkcs11KekProvider(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = token_.Options();
  options.max_sessions = 0;
  EXPECT_EQ(OpenPkcs11KekProvider(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = token_.Options();
  options.slot_id = 0x7fffffff;
  EXPECT_EQ(OpenPkcs11KekProvider(options).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(Pkcs11KekProviderTest, PrefixesSeparateKeySets) {
  std::unique_ptr<Pkcs11KekProvider> provider = MustInitialize();
  ASSERT_NE(provider, nullptr);
  Pkcs11Options other_options = token_.Options();
  other_options.key_label_prefix = "cloak-kek-staging";
  absl::StatusOr<std::unique_ptr<Pkcs11KekProvider>> other =
      Pkcs11KekProvider::Initialize(other_options);
  ASSERT_TRUE(other.ok()) << other.status();
  const std::vector<std::uint8_t> aad = WrapAad("pvc-1", 1);
  absl::StatusOr<std::vector<std::uint8_t>> wrapped = provider->Wrap(1, dek_, aad);
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ((*other)->Unwrap(1, *wrapped, aad).status().code(), absl::StatusCode::kUnauthenticated);
}

// Invariant 1 for the token's own storage: what SoftHSM2 writes holds no DEK.
TEST_F(Pkcs11KekProviderTest, TokenFilesNeverContainADek) {
  std::unique_ptr<Pkcs11KekProvider> provider = MustInitialize();
  ASSERT_NE(provider, nullptr);
  std::vector<SecretBytes> deks;
  for (int i = 0; i < 8; ++i) {
    absl::StatusOr<SecretBytes> dek = GenerateDek(kDekSizeWithHmacIntegrity);
    ASSERT_TRUE(dek.ok());
    ASSERT_TRUE(provider->Wrap(provider->CurrentVersion(), *dek, WrapAad("pvc-1", 1)).ok());
    if (i == 3) {
      ASSERT_TRUE(provider->AddVersion().ok());
    }
    deks.push_back(*std::move(dek));
  }
  ASSERT_TRUE(provider->Retire(1).ok());
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(token_.TokenDir())) {
    if (!entry.is_regular_file()) continue;
    ++files;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in),
                                          std::istreambuf_iterator<char>()};
    for (const SecretBytes& dek : deks) {
      for (std::size_t offset = 0; offset + 16 <= dek.size(); offset += 16) {
        const auto window = dek.SecretSpan().subspan(offset, 16);
        EXPECT_EQ(std::search(bytes.begin(), bytes.end(), window.begin(), window.end()),
                  bytes.end())
            << entry.path();
      }
    }
  }
  EXPECT_GT(files, 0);
}

}  // namespace
}  // namespace cloak::kms
