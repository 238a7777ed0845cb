#include "kms/store/validation.h"

#include <type_traits>

#include "common/secret_bytes.h"
#include "gtest/gtest.h"
#include "kms/store/key_store.h"
#include "tests/kms/store/store_test_util.h"

namespace cloak::kms {
namespace {

// Invariant 1 at the type level: the store's API carries only wrapped key bytes.
// There is no path from SecretBytes (the one type holding plaintext keys) to a
// WrappedKey, and the key fields of what the store accepts are WrappedKey.
static_assert(!std::is_constructible_v<WrappedKey, const SecretBytes&>);
static_assert(!std::is_constructible_v<WrappedKey, SecretBytes&&>);
static_assert(!std::is_convertible_v<SecretBytes, WrappedKey>);
static_assert(!std::is_convertible_v<std::vector<std::uint8_t>, WrappedKey>,
              "wrapping must be spelled out: WrappedKey(ciphertext)");
static_assert(std::is_same_v<decltype(NewVolume::wrapped_dek), WrappedKey>);
static_assert(std::is_same_v<decltype(Volume::wrapped_dek), WrappedKey>);
static_assert(std::is_invocable_r_v<absl::StatusOr<Volume>, decltype(&KeyStore::RewrapVolume),
                                    KeyStore*, std::string_view, std::int64_t, const WrappedKey&,
                                    std::uint32_t, const AuditEvent&>);
static_assert(
    !std::is_invocable_v<decltype(&KeyStore::RewrapVolume), KeyStore*, std::string_view,
                         std::int64_t, const SecretBytes&, std::uint32_t, const AuditEvent&>);

TEST(ValidationTest, VolumeIds) {
  EXPECT_TRUE(ValidateVolumeId("pvc-0b1c", "volume_id").ok());
  EXPECT_TRUE(ValidateVolumeId(std::string(kMaxVolumeIdBytes, 'a'), "volume_id").ok());
  for (std::string bad : {std::string(), std::string(kMaxVolumeIdBytes + 1, 'a'),
                          std::string("a\nb"), std::string("a\0b", 3), std::string("\xc3\x28")}) {
    absl::Status status = ValidateVolumeId(bad, "volume_id");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(std::string(status.message()).starts_with("volume_id")) << status;
  }
}

TEST(ValidationTest, RecordJsonMustBeAnObject) {
  EXPECT_TRUE(ValidateRecordJson(R"({"version":1})", "record_json").ok());
  for (const char* bad : {"", "[]", "1", "{", "\"x\""}) {
    EXPECT_EQ(ValidateRecordJson(bad, "record_json").code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  std::string big = R"({"x":")" + std::string(kMaxRecordJsonBytes, 'a') + R"("})";
  EXPECT_EQ(ValidateRecordJson(big, "record_json").code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, NewVolumeNeedsVersionsAndAKey) {
  EXPECT_TRUE(ValidateNewVolume(TestVolume("pvc-1")).ok());
  NewVolume zero_key_version = TestVolume("pvc-1");
  zero_key_version.key_version = 0;
  NewVolume zero_kek = TestVolume("pvc-1");
  zero_kek.kek_version = 0;
  NewVolume huge_key = TestVolume("pvc-1");
  huge_key.wrapped_dek = TestWrapped("k", kMaxWrappedKeyBytes + 1);
  NewVolume many_labels = TestVolume("pvc-1");
  for (std::size_t i = 0; i <= kMaxLabels; ++i) many_labels.labels["l" + std::to_string(i)] = "v";
  for (const NewVolume& bad : {zero_key_version, zero_kek, huge_key, many_labels}) {
    EXPECT_EQ(ValidateNewVolume(bad).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ValidationTest, AuditEvents) {
  EXPECT_TRUE(ValidateAuditEvent(TestEvent("CreateVolumeKey")).ok());
  struct Case {
    const char* name;
    AuditEvent event;
  };
  AuditEvent base = TestEvent("CreateVolumeKey");
  std::vector<Case> cases;
  cases.push_back({"no actor", base});
  cases.back().event.actor.clear();
  cases.push_back({"no action", base});
  cases.back().event.action.clear();
  cases.push_back({"no outcome", base});
  cases.back().event.outcome.clear();
  cases.push_back({"uppercase detail key", base});
  cases.back().event.details["Key"] = "v";
  for (const char* forbidden : {"dek", "wrapped_key", "evidence", "secret", "passphrase"}) {
    cases.push_back({forbidden, base});
    cases.back().event.details[forbidden] = "v";
  }
  cases.push_back({"long value", base});
  cases.back().event.details["note"] = std::string(1025, 'x');
  cases.push_back({"binary value", base});
  cases.back().event.details["note"] = std::string("\xff\x00", 2);
  for (const Case& c : cases) {
    EXPECT_EQ(ValidateAuditEvent(c.event).code(), absl::StatusCode::kInvalidArgument) << c.name;
  }
}

TEST(ValidationTest, BindAuditEventFillsOrChecksTheVolume) {
  absl::StatusOr<AuditEvent> filled = BindAuditEvent(TestEvent("X"), "pvc-1");
  ASSERT_TRUE(filled.ok());
  EXPECT_EQ(filled->volume_id, "pvc-1");
  AuditEvent named = TestEvent("X");
  named.volume_id = "pvc-1";
  EXPECT_TRUE(BindAuditEvent(named, "pvc-1").ok());
  EXPECT_EQ(BindAuditEvent(named, "pvc-2").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, PageTokensRoundTripAndRejectForgeries) {
  for (std::string id : {std::string("a"), std::string("pvc-0b1c"), std::string("ünïcode"),
                         std::string(kMaxVolumeIdBytes, 'z')}) {
    absl::StatusOr<std::string> decoded = DecodePageToken(EncodePageToken(id));
    ASSERT_TRUE(decoded.ok()) << id;
    EXPECT_EQ(*decoded, id);
  }
  EXPECT_EQ(*DecodePageToken(""), "");
  for (const char* bad : {"v1.", "v1.6", "v1.zz", "v2.61", "61", "v1.6G"}) {
    EXPECT_EQ(DecodePageToken(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ValidationTest, PageSizes) {
  EXPECT_EQ(*NormalizePageSize(0, "page_size"), kDefaultPageSize);
  EXPECT_EQ(*NormalizePageSize(7, "page_size"), 7);
  EXPECT_EQ(*NormalizePageSize(kMaxPageSize + 1, "page_size"), kMaxPageSize);
  EXPECT_EQ(NormalizePageSize(-1, "page_size").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, StateNamesRoundTrip) {
  for (VolumeState state :
       {VolumeState::kCreated, VolumeState::kFormatted, VolumeState::kDestroyed}) {
    EXPECT_EQ(*ParseVolumeState(VolumeStateName(state)), state);
  }
  for (RotationState state :
       {RotationState::kRunning, RotationState::kCompleted, RotationState::kFailed}) {
    EXPECT_EQ(*ParseRotationState(RotationStateName(state)), state);
  }
  EXPECT_FALSE(ParseVolumeState("deleted").ok());
  EXPECT_FALSE(ParseRotationState("paused").ok());
}

}  // namespace
}  // namespace cloak::kms
