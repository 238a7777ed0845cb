#include "cli/volumes_command.h"

#include <algorithm>
#include <map>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"

namespace cloak::cli {
namespace {

constexpr int kMaxServicePageSize = 1000;

std::string Labels(const v1::VolumeInfo& volume) {
  const std::map<std::string, std::string> sorted(volume.labels().begin(), volume.labels().end());
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

}  // namespace

nlohmann::json VolumeJson(const v1::VolumeInfo& volume) {
  nlohmann::json record = nlohmann::json::parse(volume.record_json(), nullptr, false);
  if (record.is_discarded()) record = volume.record_json();
  const std::map<std::string, std::string> labels(volume.labels().begin(), volume.labels().end());
  return {{"volume_id", volume.volume_id()},
          {"state", VolumeStateText(volume.state())},
          {"key_version", volume.key_version()},
          {"kek_version", volume.kek_version()},
          {"key_id", volume.key_id()},
          {"source_volume_id", volume.source_volume_id()},
          {"labels", labels},
          {"record", record},
          {"created_at", FormatUnixMillis(volume.created_at_unix_ms())},
          {"updated_at", FormatUnixMillis(volume.updated_at_unix_ms())},
          {"revision", volume.revision()}};
}

int RunVolumesList(AdminClient& client, const VolumesListArgs& args, const CommandIo& io) {
  std::vector<v1::VolumeInfo> volumes;
  std::string token;
  bool more = false;
  const int page_size = std::clamp(args.page_size, 1, kMaxServicePageSize);
  while (true) {
    int want = page_size;
    if (!args.all) {
      const int remaining = args.limit - static_cast<int>(volumes.size());
      if (remaining <= 0) break;
      want = std::min(want, remaining);
    }
    absl::StatusOr<v1::ListVolumesResponse> page = client.ListVolumes(want, token);
    if (!page.ok()) {
      WriteError(io.err, "volumes list", page.status());
      return kExitFailed;
    }
    for (v1::VolumeInfo& volume : *page->mutable_volumes()) {
      volumes.push_back(std::move(volume));
    }
    token = page->next_page_token();
    more = !token.empty();
    if (!more) break;
  }
  if (io.format == OutputFormat::kJson) {
    nlohmann::json list = nlohmann::json::array();
    for (const v1::VolumeInfo& volume : volumes) list.push_back(VolumeJson(volume));
    WriteJson(io.out, {{"volumes", list}, {"truncated", more}});
  } else {
    std::vector<std::vector<std::string>> rows;
    rows.reserve(volumes.size());
    for (const v1::VolumeInfo& volume : volumes) {
      rows.push_back({volume.volume_id(), std::string(VolumeStateText(volume.state())),
                      std::to_string(volume.key_version()), std::to_string(volume.kek_version()),
                      volume.source_volume_id().empty() ? "-" : volume.source_volume_id(),
                      FormatUnixMillis(volume.created_at_unix_ms()), Labels(volume)});
    }
    WriteTable(io.out, {"VOLUME", "STATE", "KEY", "KEK", "SOURCE", "CREATED", "LABELS"}, rows);
  }
  if (more) {
    io.err << "cloakctl volumes list: showing the first " << volumes.size()
           << " volumes; more exist: pass --all, or a larger --limit\n";
  }
  return kExitOk;
}

int RunVolumesShow(AdminClient& client, const std::string& volume_id, const CommandIo& io) {
  absl::StatusOr<v1::VolumeInfo> volume = client.GetVolume(volume_id);
  if (!volume.ok()) {
    absl::Status status = volume.status();
    if (status.code() == absl::StatusCode::kNotFound) {
      status = absl::NotFoundError(
          absl::StrCat("volume ", volume_id, " is not known to the key service at ",
                       client.target(), "; `cloakctl volumes list --all` shows the ones it has"));
    }
    WriteError(io.err, "volumes show", status);
    return kExitFailed;
  }
  if (io.format == OutputFormat::kJson) {
    WriteJson(io.out, VolumeJson(*volume));
    return kExitOk;
  }
  io.out << "volume:        " << volume->volume_id() << "\n"
         << "state:         " << VolumeStateText(volume->state()) << "\n"
         << "key version:   " << volume->key_version() << "\n"
         << "KEK version:   " << volume->kek_version() << "\n"
         << "key id:        " << volume->key_id() << "\n"
         << "source volume: "
         << (volume->source_volume_id().empty() ? "-" : volume->source_volume_id()) << "\n"
         << "labels:        " << (volume->labels().empty() ? "-" : Labels(*volume)) << "\n"
         << "created:       " << FormatUnixMillis(volume->created_at_unix_ms()) << "\n"
         << "updated:       " << FormatUnixMillis(volume->updated_at_unix_ms()) << "\n"
         << "revision:      " << volume->revision() << "\n";
  const nlohmann::json record = nlohmann::json::parse(volume->record_json(), nullptr, false);
  io.out << "record:\n";
  if (record.is_discarded()) {
    io.out << volume->record_json() << "\n";
  } else {
    WriteJson(io.out, record);
  }
  return kExitOk;
}

}  // namespace cloak::cli
