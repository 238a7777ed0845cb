#pragma once

// `cloakctl volumes list` and `cloakctl volumes show`: what the key service knows about
// volumes. VolumeInfo carries no key bytes, wrapped or not, and neither does the output.

#include <string>

#include "cli/command_io.h"
#include "cli/kms_client.h"
#include "nlohmann/json.hpp"

namespace cloak::cli {

struct VolumesListArgs {
  int limit = 100;      // at most this many volumes (1..); ignored with `all`
  bool all = false;     // every volume, however many pages that takes
  int page_size = 100;  // ListVolumes page size (the service caps it at 1000)
};

// Pages through ListVolumes until `limit` volumes (or all of them) are read; prints a
// table, or {"volumes": [...], "truncated": bool}. A note on io.err when more volumes
// exist than were shown. kExitOk, or kExitFailed naming the failed call.
int RunVolumesList(AdminClient& client, const VolumesListArgs& args, const CommandIo& io);

// GetVolume: every field, the volume record pretty-printed. kExitFailed for an unknown
// volume (NOT_FOUND) or a failed call.
int RunVolumesShow(AdminClient& client, const std::string& volume_id, const CommandIo& io);

// The JSON form of one volume (record_json parsed when it is JSON). Thread-safe.
nlohmann::json VolumeJson(const v1::VolumeInfo& volume);

}  // namespace cloak::cli
