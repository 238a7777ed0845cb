// The TPM AK bindings record: strict parsing, canonical form, and the source that reads
// it from the key store once per version.

#include "attest/verifier/ak_bindings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/kms/service/service_test_util.h"

namespace cloak::attest {
namespace {

using ::testing::HasSubstr;

const std::string kAk(64, 'a');
const std::string kEk(64, 'e');

std::string Entry(const std::string& ak, const std::string& extra = "") {
  return R"({"ak":")" + ak + R"(","ek":")" + kEk +
         R"(","ek_subject":"CN=ek","enrolled_at":"2026-12-04T19:00:00Z")" + extra + "}";
}

TEST(AkBindingsTest, RoundTripsInCanonicalForm) {
  const std::string document =
      R"({"bindings":[)" + Entry(std::string(64, 'b')) + "," + Entry(kAk) + "]}";
  absl::StatusOr<AkBindings> parsed = ParseAkBindings(document);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ(parsed->at(kAk).ek_fingerprint, kEk);
  EXPECT_EQ(parsed->at(kAk).ek_subject, "CN=ek");
  EXPECT_EQ(absl::ToUnixSeconds(parsed->at(kAk).enrolled_at), 1796410800);
  const std::string canonical = SerializeAkBindings(*parsed);
  // Sorted by AK: "aaaa..." first.
  EXPECT_LT(canonical.find(kAk), canonical.find(std::string(64, 'b')));
  absl::StatusOr<AkBindings> again = ParseAkBindings(canonical);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *parsed);
  EXPECT_TRUE(ParseAkBindings(R"({"bindings":[]})").ok());
}

TEST(AkBindingsTest, RefusesAnythingElseNamingTheEntry) {
  const struct {
    std::string document;
    std::string message;
  } cases[] = {
      {"[]", "not a JSON object"},
      {"{}", "must be an array"},
      {R"({"bindings":[],"extra":1})", "unknown key \"extra\""},
      {R"({"bindings":[)" + Entry(kAk, R"(,"pin":1)") + "]}", "bindings[0]: unknown key"},
      {R"({"bindings":[)" + Entry("AA" + std::string(62, 'a')) + "]}", "64 lower-case hex"},
      {R"({"bindings":[)" + Entry(std::string(63, 'a')) + "]}", "64 lower-case hex"},
      {R"({"bindings":[)" + Entry(kAk) + "," + Entry(kAk) + "]}", "bindings[1]: attestation key"},
      {R"({"bindings":[{"ak":")" + kAk + R"("}]})", "bindings[0].ek: a string is required"},
      {R"({"bindings":[{"ak":")" + kAk + R"(","ek":")" + kEk +
           R"(","ek_subject":"","enrolled_at":"yesterday"}]})",
       "enrolled_at"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<AkBindings> parsed = ParseAkBindings(c.document);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.document;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.message)) << c.document;
  }
}

kms::AuditEvent SetPolicyEvent() {
  return kms::AuditEvent{
      .actor = "test", .action = "SetPolicy", .volume_id = "", .outcome = "ok", .details = {}};
}

TEST(AkBindingSourceTest, ReadsEachVersionAndIsEmptyWithoutARecord) {
  kms::kms_test::ServiceHarness h;
  AkBindingSource source(h.store, h.clock, absl::ZeroDuration());
  absl::StatusOr<std::shared_ptr<const LoadedAkBindings>> none = source.Current();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ((*none)->version, 0);
  EXPECT_TRUE((*none)->bindings.empty());

  ASSERT_TRUE(h.store
                  .PutPolicy(kAkBindingsPolicyName, R"({"bindings":[)" + Entry(kAk) + "]}", 0,
                             SetPolicyEvent())
                  .ok());
  absl::StatusOr<std::shared_ptr<const LoadedAkBindings>> one = source.Current();
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)->version, 1);
  EXPECT_TRUE((*one)->bindings.contains(kAk));

  // A document that no longer parses is DATA_LOSS, never an empty (or partial) list.
  ASSERT_TRUE(
      h.store.PutPolicy(kAkBindingsPolicyName, R"({"bindings":"all"})", 1, SetPolicyEvent()).ok());
  EXPECT_EQ(source.Current().status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cloak::attest
