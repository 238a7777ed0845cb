// The behaviour every KekProvider must have, run against FileKekProvider and
// Pkcs11KekProvider (on a private SoftHSM2 token) alike, so the key service can drive
// either one the same way.

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "kms/crypto/file_kek_provider.h"
#include "kms/crypto/key_binding.h"
#include "kms/crypto/pkcs11_kek_provider.h"
#include "kms/crypto/random.h"
#include "tests/kms/crypto/pkcs11_test_token.h"

namespace cloak::kms {
namespace {

using kms_test::SoftHsmToken;

enum class Kind { kFile, kPkcs11 };

std::string KindName(const ::testing::TestParamInfo<Kind>& info) {
  return info.param == Kind::kFile ? "File" : "Pkcs11";
}

// A provider with the rotation API both implementations share.
struct Subject {
  std::unique_ptr<KekProvider> provider;
  std::function<absl::StatusOr<std::uint32_t>()> add_version;
  std::function<absl::Status(std::uint32_t)> retire;
};

template <typename Provider>
Subject SubjectOf(std::unique_ptr<Provider> provider) {
  Provider* raw = provider.get();
  return Subject{std::move(provider), [raw] { return raw->AddVersion(); },
                 [raw](std::uint32_t version) { return raw->Retire(version); }};
}

class KekProviderConformanceTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    absl::StatusOr<Subject> subject = Make(/*initialize=*/true);
    ASSERT_TRUE(subject.ok()) << subject.status();
    subject_ = *std::move(subject);
    absl::StatusOr<SecretBytes> dek = GenerateDek(kDekSize);
    ASSERT_TRUE(dek.ok());
    dek_ = *std::move(dek);
  }

  // A new provider on the same storage, as after a restart of the key service.
  absl::StatusOr<Subject> Make(bool initialize) {
    if (GetParam() == Kind::kFile) {
      auto provider =
          initialize ? FileKekProvider::Initialize(kek_file_) : FileKekProvider::Open(kek_file_);
      if (!provider.ok()) return provider.status();
      return SubjectOf(*std::move(provider));
    }
    if (initialize) {
      absl::Status created = token_.Create();
      if (!created.ok()) return created;
    }
    auto provider = initialize ? Pkcs11KekProvider::Initialize(token_.Options())
                               : OpenPkcs11KekProvider(token_.Options());
    if (!provider.ok()) return provider.status();
    return SubjectOf(*std::move(provider));
  }

  // Drops the provider (for PKCS#11 the last user finalises the module) and opens a new one.
  void Restart() {
    subject_.provider.reset();
    absl::StatusOr<Subject> reopened = Make(/*initialize=*/false);
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    subject_ = *std::move(reopened);
  }

  KekProvider& provider() { return *subject_.provider; }

  std::vector<std::uint8_t> MustWrap(std::uint32_t kek_version, std::string_view volume,
                                     std::uint32_t key_version) {
    absl::StatusOr<std::vector<std::uint8_t>> wrapped =
        provider().Wrap(kek_version, dek_, WrapAad(volume, key_version));
    EXPECT_TRUE(wrapped.ok()) << wrapped.status();
    return wrapped.ok() ? *wrapped : std::vector<std::uint8_t>{};
  }

  void ExpectUnwrapsToDek(std::uint32_t kek_version, const std::vector<std::uint8_t>& wrapped) {
    absl::StatusOr<SecretBytes> unwrapped =
        provider().Unwrap(kek_version, wrapped, WrapAad("pvc-1", 1));
    ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
    EXPECT_TRUE(*unwrapped == dek_);
  }

  kms_test::TempDir dir_;
  const std::string kek_file_ = dir_.File("kek.bin");
  SoftHsmToken token_;
  Subject subject_;
  SecretBytes dek_;
};

TEST_P(KekProviderConformanceTest, StartsWithOneActiveVersion) {
  EXPECT_EQ(provider().CurrentVersion(), 1u);
  EXPECT_EQ(provider().Versions(), (std::vector<KekVersionInfo>{{1, KekState::kActive}}));
}

TEST_P(KekProviderConformanceTest, RoundTripBothDekSizes) {
  for (const std::size_t size : {kDekSize, kDekSizeWithHmacIntegrity}) {
    absl::StatusOr<SecretBytes> dek = GenerateDek(size);
    ASSERT_TRUE(dek.ok());
    absl::StatusOr<std::vector<std::uint8_t>> wrapped =
        provider().Wrap(1, *dek, WrapAad("pvc-1", 3));
    ASSERT_TRUE(wrapped.ok()) << wrapped.status();
    absl::StatusOr<SecretBytes> unwrapped = provider().Unwrap(1, *wrapped, WrapAad("pvc-1", 3));
    ASSERT_TRUE(unwrapped.ok()) << unwrapped.status();
    EXPECT_TRUE(*unwrapped == *dek);
  }
}

TEST_P(KekProviderConformanceTest, BlobLayoutIsTheSharedWrapFormat) {
  const std::vector<std::uint8_t> wrapped = MustWrap(1, "pvc-1", 1);
  ASSERT_EQ(wrapped.size(), 1 + 4 + 12 + kDekSize + 16);
  EXPECT_EQ(wrapped[0], 0x01);
  EXPECT_EQ((std::vector<std::uint8_t>(wrapped.begin() + 1, wrapped.begin() + 5)),
            (std::vector<std::uint8_t>{0, 0, 0, 1}));
  EXPECT_NE(MustWrap(1, "pvc-1", 1), wrapped) << "every wrap takes a fresh nonce";
}

TEST_P(KekProviderConformanceTest, EmptyPlaintextIsInvalid) {
  EXPECT_EQ(provider().Wrap(1, SecretBytes(), WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(KekProviderConformanceTest, WrongVolumeOrKeyVersionIsUnauthenticated) {
  const std::vector<std::uint8_t> wrapped = MustWrap(1, "pvc-1", 1);
  EXPECT_EQ(provider().Unwrap(1, wrapped, WrapAad("pvc-2", 1)).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(provider().Unwrap(1, wrapped, WrapAad("pvc-1", 2)).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(provider().Unwrap(1, wrapped, {}).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_P(KekProviderConformanceTest, FlippedBitAnywhereIsRefused) {
  const std::vector<std::uint8_t> wrapped = MustWrap(1, "pvc-1", 1);
  const std::vector<std::uint8_t> aad = WrapAad("pvc-1", 1);
  for (std::size_t bit = 0; bit < wrapped.size() * 8; ++bit) {
    std::vector<std::uint8_t> tampered = wrapped;
    tampered[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    const absl::Status status = provider().Unwrap(1, tampered, aad).status();
    if (bit < 5 * 8) {  // The header: format byte or KEK version.
      EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << "bit " << bit << status;
    } else {  // Nonce, ciphertext, tag.
      EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << "bit " << bit << status;
    }
  }
  // The provider still works after all those failures.
  ExpectUnwrapsToDek(1, wrapped);
}

TEST_P(KekProviderConformanceTest, TruncatedBlobsAreRefused) {
  const std::vector<std::uint8_t> wrapped = MustWrap(1, "pvc-1", 1);
  for (const std::size_t size :
       {std::size_t{0}, std::size_t{5}, std::size_t{33}, wrapped.size() - 1}) {
    const std::vector<std::uint8_t> cut(wrapped.begin(), wrapped.begin() + size);
    const absl::Status status = provider().Unwrap(1, cut, WrapAad("pvc-1", 1)).status();
    EXPECT_TRUE(status.code() == absl::StatusCode::kInvalidArgument ||
                status.code() == absl::StatusCode::kUnauthenticated)
        << size << ": " << status;
  }
}

TEST_P(KekProviderConformanceTest, UnknownAndMismatchedKekVersions) {
  EXPECT_EQ(provider().Wrap(2, dek_, WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kNotFound);
  const std::vector<std::uint8_t> wrapped = MustWrap(1, "pvc-1", 1);
  EXPECT_EQ(provider().Unwrap(2, wrapped, WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<std::uint8_t> renamed = wrapped;
  renamed[4] = 9;  // the blob now names KEK version 9, which does not exist
  EXPECT_EQ(provider().Unwrap(9, renamed, WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(KekProviderConformanceTest, AddVersionMovesCurrentAndOldBlobsStillUnwrap) {
  const std::vector<std::uint8_t> old_wrapped = MustWrap(1, "pvc-1", 1);
  absl::StatusOr<std::uint32_t> added = subject_.add_version();
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(*added, 2u);
  EXPECT_EQ(provider().CurrentVersion(), 2u);
  const std::vector<std::uint8_t> new_wrapped = MustWrap(2, "pvc-1", 1);
  ExpectUnwrapsToDek(1, old_wrapped);
  ExpectUnwrapsToDek(2, new_wrapped);
  // Each version is its own key: a v2 blob relabelled as v1 does not verify.
  std::vector<std::uint8_t> relabelled = new_wrapped;
  relabelled[4] = 1;
  EXPECT_EQ(provider().Unwrap(1, relabelled, WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_P(KekProviderConformanceTest, RestartSeesTheSameVersionsAndUnwrapsOldBlobs) {
  const std::vector<std::uint8_t> v1 = MustWrap(1, "pvc-1", 1);
  ASSERT_TRUE(subject_.add_version().ok());
  const std::vector<std::uint8_t> v2 = MustWrap(2, "pvc-1", 1);
  ASSERT_TRUE(subject_.add_version().ok());
  ASSERT_TRUE(subject_.retire(2).ok());
  const std::vector<KekVersionInfo> before = provider().Versions();
  ASSERT_NO_FATAL_FAILURE(Restart());
  EXPECT_EQ(provider().Versions(), before);
  EXPECT_EQ(provider().Versions(),
            (std::vector<KekVersionInfo>{
                {1, KekState::kActive}, {2, KekState::kRetired}, {3, KekState::kActive}}));
  EXPECT_EQ(provider().CurrentVersion(), 3u);
  ExpectUnwrapsToDek(1, v1);
  EXPECT_EQ(provider().Unwrap(2, v2, WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(KekProviderConformanceTest, RetireRules) {
  EXPECT_EQ(subject_.retire(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(subject_.retire(7).code(), absl::StatusCode::kNotFound);
  const std::vector<std::uint8_t> wrapped = MustWrap(1, "pvc-1", 1);
  ASSERT_TRUE(subject_.add_version().ok());
  ASSERT_TRUE(subject_.retire(1).ok());
  EXPECT_TRUE(subject_.retire(1).ok()) << "retiring twice is idempotent";
  EXPECT_EQ(provider().Wrap(1, dek_, WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(provider().Unwrap(1, wrapped, WrapAad("pvc-1", 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(provider().Versions(),
            (std::vector<KekVersionInfo>{{1, KekState::kRetired}, {2, KekState::kActive}}));
  EXPECT_EQ(provider().CurrentVersion(), 2u);
}

TEST_P(KekProviderConformanceTest, ConcurrentWrapAndUnwrapFromEightThreads) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        const std::uint32_t version = provider().CurrentVersion();
        const std::vector<std::uint8_t> aad = WrapAad("pvc-" + std::to_string(t), i);
        absl::StatusOr<std::vector<std::uint8_t>> wrapped = provider().Wrap(version, dek_, aad);
        absl::StatusOr<SecretBytes> unwrapped =
            wrapped.ok() ? provider().Unwrap(version, *wrapped, aad) : wrapped.status();
        if (!unwrapped.ok() || !(*unwrapped == dek_)) ++failures;
      }
    });
  }
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(subject_.add_version().ok());
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(provider().CurrentVersion(), 3u);
}

INSTANTIATE_TEST_SUITE_P(Providers, KekProviderConformanceTest,
                         ::testing::Values(Kind::kFile, Kind::kPkcs11), KindName);

}  // namespace
}  // namespace cloak::kms
