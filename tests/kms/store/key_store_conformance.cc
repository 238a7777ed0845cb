// Conformance: volumes (create, read, state, destroy, clone, list).

#include "tests/kms/store/key_store_conformance.h"

#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "kms/store/validation.h"
#include "tests/kms/store/store_test_util.h"

namespace cloak::kms {
namespace {

using ::testing::SizeIs;

TEST_P(KeyStoreConformance, CreateThenGetRoundTripsEveryField) {
  NewVolume volume = TestVolume("pvc-1", 3);
  Volume stored;
  ASSERT_TRUE(store().CreateVolume(volume, TestEvent("CreateVolumeKey"), &stored).ok());

  EXPECT_EQ(stored.volume_id, "pvc-1");
  EXPECT_EQ(stored.record_json, volume.record_json);
  EXPECT_EQ(stored.state, VolumeState::kCreated);
  EXPECT_EQ(stored.key_id, "pvc-1");
  EXPECT_EQ(stored.key_version, 1u);
  EXPECT_EQ(stored.kek_version, 3u);
  EXPECT_EQ(stored.wrapped_dek, volume.wrapped_dek);
  EXPECT_EQ(stored.labels, volume.labels);
  EXPECT_EQ(stored.source_volume_id, "");
  EXPECT_EQ(stored.created_at, clock().Now());
  EXPECT_EQ(stored.updated_at, clock().Now());
  EXPECT_EQ(stored.revision, 1);

  absl::StatusOr<Volume> read = store().GetVolume("pvc-1");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, stored);
  absl::StatusOr<Volume> keyed = store().GetVolumeKey("pvc-1");
  ASSERT_TRUE(keyed.ok()) << keyed.status();
  EXPECT_EQ(keyed->wrapped_dek, volume.wrapped_dek);
}

TEST_P(KeyStoreConformance, CreateAppendsOneAuditEventNamingTheVolume) {
  AuditEvent event = TestEvent("CreateVolumeKey");
  Volume stored;
  ASSERT_TRUE(store().CreateVolume(TestVolume("pvc-1"), event, &stored).ok());
  std::vector<AuditEntry> audit = AllAudit(store());
  ASSERT_THAT(audit, SizeIs(1));
  EXPECT_EQ(audit[0].sequence, 1u);
  EXPECT_EQ(audit[0].event.actor, event.actor);
  EXPECT_EQ(audit[0].event.action, "CreateVolumeKey");
  EXPECT_EQ(audit[0].event.volume_id, "pvc-1");
  EXPECT_EQ(audit[0].event.outcome, "ok");
  EXPECT_EQ(audit[0].event.details, event.details);
  EXPECT_EQ(audit[0].time, clock().Now());
}

TEST_P(KeyStoreConformance, CreateOfAnExistingIdReturnsTheExistingRowAndWritesNothing) {
  Volume first = MustCreate(store(), TestVolume("pvc-1"));
  NewVolume different = TestVolume("pvc-1");
  different.wrapped_dek = TestWrapped("other");
  clock().Advance(absl::Seconds(5));

  Volume existing;
  absl::Status status = store().CreateVolume(different, TestEvent("CreateVolumeKey"), &existing);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
  EXPECT_EQ(existing, first);
  EXPECT_THAT(AllAudit(store()), SizeIs(1));
}

TEST_P(KeyStoreConformance, UnknownVolumeIsNotFound) {
  EXPECT_EQ(store().GetVolume("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().GetVolumeKey("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store()
                .CompareAndSetState("nope", VolumeState::kCreated, VolumeState::kFormatted,
                                    TestEvent("ReportVolumeState"))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store().DestroyVolume("nope", TestEvent("DestroyVolumeKey")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(AllAudit(store()), SizeIs(0));
}

TEST_P(KeyStoreConformance, InvalidInputIsRefusedBeforeAnythingIsWritten) {
  Volume stored;
  NewVolume no_id = TestVolume("x");
  no_id.volume_id = "";
  NewVolume bad_record = TestVolume("x");
  bad_record.record_json = "[1,2]";
  NewVolume no_key = TestVolume("x");
  no_key.wrapped_dek = WrappedKey();
  NewVolume long_id = TestVolume(std::string(kMaxVolumeIdBytes + 1, 'a'));
  NewVolume bad_label = TestVolume("x");
  bad_label.labels["k"] = std::string("\xff\xfe", 2);
  for (const NewVolume& volume : {no_id, bad_record, no_key, long_id, bad_label}) {
    EXPECT_EQ(store().CreateVolume(volume, TestEvent("CreateVolumeKey"), &stored).code(),
              absl::StatusCode::kInvalidArgument)
        << volume.volume_id;
  }
  AuditEvent no_actor = TestEvent("CreateVolumeKey");
  no_actor.actor = "";
  AuditEvent key_detail = TestEvent("CreateVolumeKey");
  key_detail.details["dek"] = "00ff";
  AuditEvent other_volume = TestEvent("CreateVolumeKey");
  other_volume.volume_id = "pvc-other";
  for (const AuditEvent& event : {no_actor, key_detail, other_volume}) {
    EXPECT_EQ(store().CreateVolume(TestVolume("pvc-1"), event, &stored).code(),
              absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(store().GetVolume("pvc-1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(AllAudit(store()), SizeIs(0));
  EXPECT_EQ(store().GetVolume("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(KeyStoreConformance, CompareAndSetStateMovesCreatedToFormattedOnce) {
  Volume created = MustCreate(store(), TestVolume("pvc-1"));
  clock().Advance(absl::Seconds(1));
  absl::StatusOr<Volume> formatted = store().CompareAndSetState(
      "pvc-1", VolumeState::kCreated, VolumeState::kFormatted, TestEvent("ReportVolumeState"));
  ASSERT_TRUE(formatted.ok()) << formatted.status();
  EXPECT_EQ(formatted->state, VolumeState::kFormatted);
  EXPECT_GT(formatted->revision, created.revision);
  EXPECT_EQ(formatted->updated_at, clock().Now());
  EXPECT_EQ(formatted->created_at, created.created_at);
  EXPECT_EQ(*store().GetVolume("pvc-1"), *formatted);

  absl::StatusOr<Volume> again = store().CompareAndSetState(
      "pvc-1", VolumeState::kCreated, VolumeState::kFormatted, TestEvent("ReportVolumeState"));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition) << again.status();
  EXPECT_EQ(store()
                .CompareAndSetState("pvc-1", VolumeState::kFormatted, VolumeState::kCreated,
                                    TestEvent("ReportVolumeState"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<AuditEntry> audit = AllAudit(store());
  ASSERT_THAT(audit, SizeIs(2));
  EXPECT_EQ(audit[1].event.action, "ReportVolumeState");
}

TEST_P(KeyStoreConformance, DestroyShredsTheKeyLeavesATombstoneAndIsIdempotent) {
  Volume created = MustCreate(store(), TestVolume("pvc-1"));
  clock().Advance(absl::Seconds(1));
  absl::StatusOr<Volume> destroyed = store().DestroyVolume("pvc-1", TestEvent("DestroyVolumeKey"));
  ASSERT_TRUE(destroyed.ok()) << destroyed.status();
  EXPECT_EQ(destroyed->state, VolumeState::kDestroyed);
  EXPECT_TRUE(destroyed->wrapped_dek.empty());
  EXPECT_GT(destroyed->revision, created.revision);

  EXPECT_EQ(store().GetVolumeKey("pvc-1").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<Volume> tombstone = store().GetVolume("pvc-1");
  ASSERT_TRUE(tombstone.ok());
  EXPECT_EQ(*tombstone, *destroyed);
  EXPECT_EQ(tombstone->record_json, created.record_json);

  absl::StatusOr<Volume> again = store().DestroyVolume("pvc-1", TestEvent("DestroyVolumeKey"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *destroyed);

  // A destroyed id is never reused: its tombstone answers a new create.
  Volume existing;
  EXPECT_EQ(
      store().CreateVolume(TestVolume("pvc-1"), TestEvent("CreateVolumeKey"), &existing).code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(existing.state, VolumeState::kDestroyed);
  EXPECT_TRUE(existing.wrapped_dek.empty());

  std::vector<AuditEntry> audit = AllAudit(store());
  ASSERT_THAT(audit, SizeIs(3));
  EXPECT_EQ(audit[1].event.action, "DestroyVolumeKey");
  EXPECT_EQ(audit[1].event.volume_id, "pvc-1");
  EXPECT_EQ(audit[2].event.action, "DestroyVolumeKey");
  EXPECT_EQ(store()
                .CompareAndSetState("pvc-1", VolumeState::kCreated, VolumeState::kFormatted,
                                    TestEvent("ReportVolumeState"))
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(KeyStoreConformance, CloneSharesTheKeyAndTheSourceState) {
  Volume source = MustCreate(store(), TestVolume("pvc-src"));
  ASSERT_TRUE(store()
                  .CompareAndSetState("pvc-src", VolumeState::kCreated, VolumeState::kFormatted,
                                      TestEvent("ReportVolumeState"))
                  .ok());
  CloneRequest request{"pvc-src", "pvc-clone", "", {{"snapshot", "snap-1"}}};
  Volume clone;
  ASSERT_TRUE(store().CloneVolume(request, TestEvent("CloneVolumeKey"), &clone).ok());
  EXPECT_EQ(clone.volume_id, "pvc-clone");
  EXPECT_EQ(clone.key_id, "pvc-src");
  EXPECT_EQ(clone.wrapped_dek, source.wrapped_dek);
  EXPECT_EQ(clone.key_version, source.key_version);
  EXPECT_EQ(clone.kek_version, source.kek_version);
  EXPECT_EQ(clone.state, VolumeState::kFormatted);
  EXPECT_EQ(clone.record_json, source.record_json);
  EXPECT_EQ(clone.labels, request.labels);
  EXPECT_EQ(clone.source_volume_id, "pvc-src");
  EXPECT_EQ(clone.revision, 1);
  EXPECT_EQ(*store().GetVolume("pvc-clone"), clone);

  Volume existing;
  EXPECT_EQ(store().CloneVolume(request, TestEvent("CloneVolumeKey"), &existing).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(existing, clone);

  // Destroying the source leaves the clone's copy of the key.
  ASSERT_TRUE(store().DestroyVolume("pvc-src", TestEvent("DestroyVolumeKey")).ok());
  EXPECT_EQ(store().GetVolumeKey("pvc-clone")->wrapped_dek, source.wrapped_dek);
  EXPECT_EQ(store()
                .CloneVolume({"pvc-src", "pvc-2", "", {}}, TestEvent("CloneVolumeKey"), &existing)
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store()
                .CloneVolume({"pvc-none", "pvc-3", "", {}}, TestEvent("CloneVolumeKey"), &existing)
                .code(),
            absl::StatusCode::kNotFound);
  CloneRequest with_record{"pvc-clone", "pvc-4", R"({"version":1,"volume_id":"pvc-4"})", {}};
  Volume second;
  ASSERT_TRUE(store().CloneVolume(with_record, TestEvent("CloneVolumeKey"), &second).ok());
  EXPECT_EQ(second.record_json, with_record.record_json);
  EXPECT_EQ(second.key_id, "pvc-src");
  EXPECT_EQ(store().GetVolume("pvc-2").status().code(), absl::StatusCode::kNotFound);
}

TEST_P(KeyStoreConformance, ListVolumesPagesInStableIdOrder) {
  std::set<std::string> ids;
  for (int i = 0; i < 25; ++i) {
    std::string id = "pvc-" + std::to_string(i * 7 % 25);
    MustCreate(store(), TestVolume(id));
    ids.insert(id);
  }
  ASSERT_TRUE(store().DestroyVolume("pvc-3", TestEvent("DestroyVolumeKey")).ok());
  std::vector<std::string> listed;
  ListVolumesRequest request{10, ""};
  int pages = 0;
  do {
    absl::StatusOr<VolumePage> page = store().ListVolumes(request);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->volumes.size(), 10u);
    for (const Volume& volume : page->volumes) listed.push_back(volume.volume_id);
    request.page_token = page->next_page_token;
    ++pages;
  } while (!request.page_token.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(listed, std::vector<std::string>(ids.begin(), ids.end()));

  absl::StatusOr<VolumePage> all = store().ListVolumes({0, ""});
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(all->volumes, SizeIs(25));
  EXPECT_TRUE(all->next_page_token.empty());
  absl::StatusOr<VolumePage> capped = store().ListVolumes({kMaxPageSize * 10, ""});
  ASSERT_TRUE(capped.ok());
  EXPECT_THAT(capped->volumes, SizeIs(25));

  EXPECT_EQ(store().ListVolumes({-1, ""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().ListVolumes({10, "garbage"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(KeyStoreConformance, ListVolumesOnAnEmptyStoreIsEmpty) {
  absl::StatusOr<VolumePage> page = store().ListVolumes({});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->volumes.empty());
  EXPECT_TRUE(page->next_page_token.empty());
}

}  // namespace
}  // namespace cloak::kms
