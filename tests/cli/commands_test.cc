// The key-service commands over FakeAdminClient: text and JSON output, paging, exit
// codes and error messages.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "cli/exit_codes.h"
#include "cli/health_command.h"
#include "cli/kek_command.h"
#include "cli/output.h"
#include "cli/volumes_command.h"
#include "grpcpp/support/status.h"
#include "tests/cli/fake_admin_client.h"

namespace cloak::cli {
namespace {

using ::testing::ElementsAre;
using testing::FakeAdminClient;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

struct Streams {
  std::ostringstream out;
  std::ostringstream err;
  CommandIo Io(OutputFormat format = OutputFormat::kText) {
    return CommandIo{.format = format, .out = out, .err = err};
  }
};

v1::VolumeInfo Volume(int i) {
  v1::VolumeInfo volume;
  char id[16];
  std::snprintf(id, sizeof(id), "pvc-%03d", i);
  volume.set_volume_id(id);
  volume.set_state(v1::VOLUME_STATE_FORMATTED);
  volume.set_key_version(1);
  volume.set_kek_version(2);
  volume.set_key_id(id);
  (*volume.mutable_labels())["team"] = "db";
  volume.set_record_json(R"({"version":1,"volume_id":")" + std::string(id) + R"("})");
  volume.set_created_at_unix_ms(1'700'000'000'000);
  volume.set_updated_at_unix_ms(1'700'000'001'000);
  volume.set_revision(3);
  return volume;
}

TEST(OutputTest, TableAlignsColumnsWithoutTrailingBlanks) {
  std::ostringstream out;
  WriteTable(out, {"A", "BB", "C"}, {{"long-cell", "x", ""}, {"y", "zzz", "w"}});
  EXPECT_EQ(out.str(),
            "A          BB   C\n"
            "long-cell  x\n"
            "y          zzz  w\n");
}

TEST(OutputTest, TimesAndHex) {
  EXPECT_EQ(FormatUnixMillis(1'700'000'000'000), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatUnixMillis(0), "-");
  EXPECT_EQ(FormatUnixMicros(1'700'000'000'000'001), "2023-11-14T22:13:20.000001Z");
  EXPECT_EQ(Hex(std::string("\x00\xab\xff", 3)), "00abff");
  EXPECT_FALSE(ParseOutputFormat("yaml").ok());
}

TEST(OutputTest, RpcErrorsSayWhatFailedAndWhatToDo) {
  absl::Status unavailable = DescribeRpcError(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused"), "Health", "h:1");
  EXPECT_EQ(unavailable.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(unavailable.message()),
              StartsWith("cannot reach the key service at h:1: connection refused"));
  absl::Status unauthenticated = DescribeRpcError(
      grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no client certificate"), "Health", "h:1");
  EXPECT_THAT(std::string(unauthenticated.message()), HasSubstr("--cert and --key"));
  absl::Status other =
      DescribeRpcError(grpc::Status(grpc::StatusCode::INTERNAL, "disk"), "ListVolumes", "h:1");
  EXPECT_EQ(other.message(), "ListVolumes failed at h:1: INTERNAL: disk");
}

TEST(HealthCommandTest, TextAndJson) {
  FakeAdminClient client;
  client.health.set_serving(true);
  client.health.set_current_kek_version(4);
  client.health.set_message("ok");
  Streams text;
  EXPECT_EQ(RunHealth(client, text.Io()), kExitOk);
  EXPECT_THAT(text.out.str(), HasSubstr("serving:             yes\n"));
  EXPECT_THAT(text.out.str(), HasSubstr("current KEK version: 4\n"));
  Streams json;
  EXPECT_EQ(RunHealth(client, json.Io(OutputFormat::kJson)), kExitOk);
  nlohmann::json doc = nlohmann::json::parse(json.out.str());
  EXPECT_EQ(doc["serving"], true);
  EXPECT_EQ(doc["current_kek_version"], 4);
  EXPECT_EQ(doc["kms"], "kms.test:7443");
}

TEST(HealthCommandTest, UnreachableServiceExitsOne) {
  FakeAdminClient client;
  client.error = absl::UnavailableError("cannot reach the key service at kms.test:7443: refused");
  Streams s;
  EXPECT_EQ(RunHealth(client, s.Io()), kExitFailed);
  EXPECT_EQ(s.out.str(), "");
  EXPECT_EQ(s.err.str(),
            "cloakctl health: cannot reach the key service at kms.test:7443: refused\n");
}

TEST(VolumesCommandTest, ListPagesUpToTheLimitAndSaysMoreExist) {
  FakeAdminClient client;
  for (int i = 0; i < 250; ++i) client.volumes.push_back(Volume(i));
  Streams s;
  EXPECT_EQ(RunVolumesList(client, VolumesListArgs{.limit = 150}, s.Io()), kExitOk);
  EXPECT_THAT(client.requested_page_sizes, ElementsAre(100, 50));
  const std::string out = s.out.str();
  EXPECT_THAT(out, StartsWith("VOLUME   STATE      KEY  KEK  SOURCE  CREATED               "
                              "LABELS\n"
                              "pvc-000  formatted  1    2    -       2023-11-14T22:13:20Z  "
                              "team=db\n"));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 151);
  EXPECT_THAT(s.err.str(), HasSubstr("showing the first 150 volumes; more exist"));
}

TEST(VolumesCommandTest, ListAllFollowsEveryPageToken) {
  FakeAdminClient client;
  client.max_page_size = 40;  // the service may return less than asked
  for (int i = 0; i < 250; ++i) client.volumes.push_back(Volume(i));
  Streams s;
  EXPECT_EQ(
      RunVolumesList(client, VolumesListArgs{.limit = 1, .all = true}, s.Io(OutputFormat::kJson)),
      kExitOk);
  nlohmann::json doc = nlohmann::json::parse(s.out.str());
  ASSERT_EQ(doc["volumes"].size(), 250u);
  EXPECT_EQ(doc["truncated"], false);
  EXPECT_EQ(doc["volumes"][249]["volume_id"], "pvc-249");
  EXPECT_EQ(doc["volumes"][0]["record"]["version"], 1);
  EXPECT_EQ(doc["volumes"][0]["labels"]["team"], "db");
  EXPECT_EQ(client.requested_page_sizes.size(), 7u);
  EXPECT_EQ(s.err.str(), "");
}

TEST(VolumesCommandTest, ShowPrintsEveryFieldAndTheRecord) {
  FakeAdminClient client;
  client.volumes.push_back(Volume(7));
  Streams s;
  EXPECT_EQ(RunVolumesShow(client, "pvc-007", s.Io()), kExitOk);
  EXPECT_THAT(s.out.str(), HasSubstr("volume:        pvc-007\n"));
  EXPECT_THAT(s.out.str(), HasSubstr("KEK version:   2\n"));
  EXPECT_THAT(s.out.str(), HasSubstr("\"volume_id\": \"pvc-007\""));
  Streams missing;
  EXPECT_EQ(RunVolumesShow(client, "pvc-404", missing.Io()), kExitFailed);
  EXPECT_THAT(missing.err.str(),
              HasSubstr("volume pvc-404 is not known to the key service at kms.test:7443"));
}

TEST(VolumesCommandTest, JsonHasNoKeyFields) {
  nlohmann::json doc = VolumeJson(Volume(1));
  for (const auto& [name, value] : doc.items()) {
    EXPECT_THAT(name, Not(HasSubstr("dek"))) << name;
    EXPECT_THAT(name, Not(HasSubstr("wrapped"))) << name;
  }
}

TEST(KekCommandTest, StatusBeforeAnyRotation) {
  FakeAdminClient client;
  v1::RotationStatus none;
  none.set_target_kek_version(1);
  client.rotation.push_back(none);
  Streams s;
  EXPECT_EQ(RunKekStatus(client, s.Io()), kExitOk);
  EXPECT_EQ(s.out.str(), "no KEK rotation has run; current KEK version: 1\n");
  Streams json;
  EXPECT_EQ(RunKekStatus(client, json.Io(OutputFormat::kJson)), kExitOk);
  EXPECT_EQ(nlohmann::json::parse(json.out.str())["state"], "none");
}

}  // namespace
}  // namespace cloak::cli
