// LocalBackend on a real directory: sparse files, the manifest's crash-safe life cycle
// and its strictness, capacity choice, expansion and ordering.

#include "controller/local_backend.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/volume_id.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/csi/test_support.h"

namespace cloak::controller {
namespace {

using ::cloak::testing::TempDir;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class LocalBackendTest : public ::testing::Test {
 protected:
  std::unique_ptr<LocalBackend> Open(std::int64_t reserve = 0) {
    auto opened = LocalBackend::Open(
        {.dir = dir_.path() + "/local", .node_id = "node-a", .reserve_bytes = reserve});
    EXPECT_TRUE(opened.ok()) << opened.status();
    return opened.ok() ? *std::move(opened) : nullptr;
  }
  std::string Manifest() const { return dir_.path() + "/local/" + kManifestFileName; }

  static VolumeSpec Spec(const std::string& name, std::int64_t bytes,
                         const std::string& integrity = "none") {
    return {.name = name,
            .capacity_bytes = bytes,
            .min_bytes = bytes,
            .max_bytes = 0,
            .integrity = integrity,
            .labels = {{"cloak.csi.dev/volume-name", name}}};
  }

  TempDir dir_;
};

TEST_F(LocalBackendTest, VolumeIdsAreRandomAndShaped) {
  const std::string a = NewVolumeId();
  EXPECT_TRUE(IsGeneratedVolumeId(a)) << a;
  EXPECT_NE(a, NewVolumeId());
  EXPECT_LE(a.size(), 47u);  // the key service's id rule
  for (const char* bad :
       {"vol-", "pvc-0123456789abcdef0123456789abcdef", "vol-0123456789ABCDEF0123456789abcdef",
        "vol-0123456789abcdef0123456789abcde"}) {
    EXPECT_FALSE(IsGeneratedVolumeId(bad)) << bad;
  }
}

TEST_F(LocalBackendTest, BackingFilesCarryTheHeaderAndIntegrityMetadata) {
  EXPECT_EQ(BackingBytes(64 * kMiB, "none"), 80 * kMiB);
  const std::int64_t gib = BackingBytes(kGiB, "hmac-sha256");
  // 1 GiB of tags at 32 bytes per 4 KiB is 8 MiB; the journal at most 1/128.
  EXPECT_GE(gib, kGiB + 16 * kMiB + 8 * kMiB + 8 * kMiB);
  EXPECT_LE(gib, kGiB + 16 * kMiB + 40 * kMiB);
  EXPECT_EQ(BackingBytes(kGiB, "aead"), gib);
  EXPECT_EQ(BackingBytes(kGiB, "none") % kMiB, 0);
}

TEST_F(LocalBackendTest, ChoosesWholeMebibytesInsideTheRange) {
  auto backend = Open();
  EXPECT_EQ(*backend->ChooseCapacity(0, 0, 0), kDefaultCapacityBytes);
  EXPECT_EQ(*backend->ChooseCapacity(1, 0, 0), kMiB);
  EXPECT_EQ(*backend->ChooseCapacity(kMiB + 1, 0, 0), 2 * kMiB);
  EXPECT_EQ(*backend->ChooseCapacity(0, 100 * kMiB, 0), 100 * kMiB);
  EXPECT_EQ(*backend->ChooseCapacity(0, 0, 300'000'000), kDefaultCapacityBytes);
  EXPECT_EQ(*backend->ChooseCapacity(1, 0, 300'000'000), 287 * kMiB);
  EXPECT_EQ(*backend->ChooseCapacity(10 * kMiB, 400 * kMiB, 300'000'000), 287 * kMiB);
  const absl::Status status = backend->ChooseCapacity(kMiB + 1, kMiB + 100, 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(status.message(), HasSubstr("capacity_range"));
  EXPECT_EQ(backend->ChooseCapacity(0, 100 * kMiB, 300'000'000).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(backend->ChooseCapacity(kMaxCapacityBytes + 1, 0, 0).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(LocalBackendTest, CreateIsPendingUntilReadyAndSurvivesAReopen) {
  std::string id;
  {
    auto backend = Open();
    absl::StatusOr<BackendVolume> volume = backend->Create(Spec("pvc-1", 64 * kMiB));
    ASSERT_TRUE(volume.ok()) << volume.status();
    id = volume->volume_id;
    EXPECT_TRUE(IsGeneratedVolumeId(id));
    EXPECT_FALSE(volume->ready);
    EXPECT_EQ(volume->sequence, 1u);
    struct stat info {};
    ASSERT_EQ(::stat(backend->BackingFile(id).c_str(), &info), 0);
    EXPECT_EQ(info.st_size, 80 * kMiB);
    EXPECT_LT(info.st_blocks * 512, kMiB) << "the backing file must be sparse";
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    EXPECT_TRUE(backend->List(0, 0).empty()) << "a pending volume is not listed";
    ASSERT_EQ(backend->ListPending().size(), 1u) << "...but ListPending has it";
    EXPECT_EQ(backend->ListPending()[0].volume_id, id);
    EXPECT_THAT(ReadFile(Manifest()), HasSubstr("\"pending\""));
    ASSERT_TRUE(backend->MarkReady(id).ok());
    EXPECT_TRUE(backend->ListPending().empty());
    EXPECT_EQ(backend->MarkReady("vol-00000000000000000000000000000000").code(),
              absl::StatusCode::kNotFound);
  }
  auto reopened = Open();
  absl::StatusOr<BackendVolume> found = reopened->Get(id);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_TRUE(found->ready);
  EXPECT_EQ(found->name, "pvc-1");
  EXPECT_EQ(found->capacity_bytes, 64 * kMiB);
  EXPECT_EQ(found->labels.at("cloak.csi.dev/volume-name"), "pvc-1");
  ASSERT_EQ(reopened->List(0, 0).size(), 1u);
  EXPECT_EQ(reopened->LastSequence(), 1u);
}

TEST_F(LocalBackendTest, ANameIsOneVolume) {
  auto backend = Open();
  const BackendVolume first = *backend->Create(Spec("pvc-1", 64 * kMiB));
  // The same request, and a wider one the volume satisfies, find it again.
  EXPECT_EQ(backend->Create(Spec("pvc-1", 64 * kMiB))->volume_id, first.volume_id);
  VolumeSpec wider = Spec("pvc-1", 32 * kMiB);
  wider.max_bytes = 128 * kMiB;
  EXPECT_EQ(backend->Create(wider)->volume_id, first.volume_id);
  // Bigger, another integrity mode, other labels: ALREADY_EXISTS, nothing changed.
  VolumeSpec other_labels = Spec("pvc-1", 64 * kMiB);
  other_labels.labels["csi.storage.k8s.io/pvc/name"] = "other";
  for (const VolumeSpec& spec :
       {Spec("pvc-1", 128 * kMiB), Spec("pvc-1", 64 * kMiB, "aead"), other_labels}) {
    const absl::Status status = backend->Create(spec).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
    EXPECT_THAT(status.message(), HasSubstr(first.volume_id));
  }
  EXPECT_EQ(backend->LastSequence(), 1u);
}

TEST_F(LocalBackendTest, APendingVolumeIsFinishedByTheRetry) {
  auto backend = Open();
  const BackendVolume first = *backend->Create(Spec("pvc-1", 64 * kMiB));
  // The crash took the backing file with it (it is made after the record).
  ASSERT_EQ(::unlink(backend->BackingFile(first.volume_id).c_str()), 0);
  backend.reset();
  auto reopened = Open();
  const BackendVolume again = *reopened->Create(Spec("pvc-1", 64 * kMiB));
  EXPECT_EQ(again.volume_id, first.volume_id);
  EXPECT_FALSE(again.ready);
  struct stat info {};
  ASSERT_EQ(::stat(reopened->BackingFile(first.volume_id).c_str(), &info), 0);
  EXPECT_EQ(info.st_size, 80 * kMiB);
}

TEST_F(LocalBackendTest, DeleteRemovesFileThenRecordAndIsIdempotent) {
  auto backend = Open();
  const BackendVolume volume = *backend->Create(Spec("pvc-1", 64 * kMiB));
  ASSERT_TRUE(backend->Delete(volume.volume_id).ok());
  EXPECT_FALSE(std::filesystem::exists(backend->BackingFile(volume.volume_id)));
  EXPECT_EQ(backend->Get(volume.volume_id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(backend->Delete(volume.volume_id).ok());
  EXPECT_TRUE(backend->Delete("vol-ffffffffffffffffffffffffffffffff").ok());
  // The name is free again, and gets a new id and sequence.
  const BackendVolume again = *backend->Create(Spec("pvc-1", 64 * kMiB));
  EXPECT_NE(again.volume_id, volume.volume_id);
  EXPECT_EQ(again.sequence, 2u);
}

TEST_F(LocalBackendTest, ListPagesInCreationOrder) {
  auto backend = Open();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    const BackendVolume volume = *backend->Create(Spec("pvc-" + std::to_string(i), kMiB));
    ASSERT_TRUE(backend->MarkReady(volume.volume_id).ok());
    ids.push_back(volume.volume_id);
  }
  const auto first = backend->List(0, 2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].volume_id, ids[0]);
  EXPECT_EQ(first[1].volume_id, ids[1]);
  const auto rest = backend->List(first.back().sequence, 0);
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(rest[0].volume_id, ids[2]);
  EXPECT_EQ(rest[2].volume_id, ids[4]);
}

TEST_F(LocalBackendTest, ExpandGrowsTheFileAndNeverShrinks) {
  auto backend = Open();
  const BackendVolume volume = *backend->Create(Spec("pvc-1", 64 * kMiB));
  EXPECT_EQ(*backend->Expand(volume.volume_id, 96 * kMiB), 96 * kMiB);
  struct stat info {};
  ASSERT_EQ(::stat(backend->BackingFile(volume.volume_id).c_str(), &info), 0);
  EXPECT_EQ(info.st_size, 112 * kMiB);
  EXPECT_EQ(*backend->Expand(volume.volume_id, 32 * kMiB), 96 * kMiB);
  EXPECT_EQ(backend->Get(volume.volume_id)->capacity_bytes, 96 * kMiB);
  EXPECT_EQ(backend->Expand("vol-ffffffffffffffffffffffffffffffff", kGiB).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(LocalBackendTest, RefusesWhatTheFreeSpaceCannotHold) {
  auto backend = Open();
  const std::int64_t free = *backend->AvailableCapacity();
  const absl::Status status = backend->Create(Spec("huge", free + kGiB)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("free"));
  EXPECT_EQ(backend->LastSequence(), 0u) << "nothing recorded for a refused volume";
  auto reserved = std::unique_ptr<LocalBackend>();
  backend.reset();
  reserved = Open(free + kGiB);
  EXPECT_EQ(*reserved->AvailableCapacity(), 0);
  EXPECT_EQ(reserved->Create(Spec("small", kMiB)).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(LocalBackendTest, OneProcessPerDirectory) {
  auto first = Open();
  auto second = LocalBackend::Open({.dir = dir_.path() + "/local", .node_id = "node-a"});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("another controller process"));
  EXPECT_EQ(LocalBackend::Open({.dir = "relative", .node_id = "n"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LocalBackendTest, ADamagedManifestIsRefusedAndKept) {
  {
    auto backend = Open();
    ASSERT_TRUE(backend->Create(Spec("pvc-1", kMiB)).ok());
  }
  const std::string good = ReadFile(Manifest());
  struct Case {
    std::string from, to, mentions;
  };
  const Case cases[] = {
      {"cloak-local-manifest/1", "cloak-local-manifest/9", "format"},
      {"\"pending\"", "\"half\"", "volumes[0].state"},
      {"\"vol-", "\"pvc-", "volumes[0].volume_id"},
      {"\"last_sequence\": 1", "\"last_sequence\": 0", "volumes[0].sequence"},
      {"\"integrity\": \"none\"", "\"integrity\": \"rot13\"", "volumes[0].integrity"},
      {"{", "[", "not a JSON object"},
  };
  for (const Case& c : cases) {
    std::string text = good;
    const std::size_t at = text.find(c.from);
    ASSERT_NE(at, std::string::npos) << c.from;
    text.replace(at, c.from.size(), c.to);
    std::ofstream(Manifest(), std::ios::trunc) << text;
    auto opened = LocalBackend::Open({.dir = dir_.path() + "/local", .node_id = "node-a"});
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition) << c.mentions;
    EXPECT_THAT(opened.status().message(), HasSubstr(c.mentions));
    EXPECT_EQ(ReadFile(Manifest()), text) << "a refused manifest is never rewritten";
  }
}

TEST_F(LocalBackendTest, TopologyIsTheNode) {
  auto backend = Open();
  EXPECT_EQ(backend->Topology(),
            (std::map<std::string, std::string>{{"topology.cloak.csi.dev/node", "node-a"}}));
}

}  // namespace
}  // namespace cloak::controller
