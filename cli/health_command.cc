#include "cli/health_command.h"

#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"

namespace cloak::cli {
namespace {

std::vector<std::string> EvidenceTypes(const v1::HealthResponse& health) {
  return {health.attestation_types().begin(), health.attestation_types().end()};
}

}  // namespace

int RunHealth(AdminClient& client, const CommandIo& io) {
  absl::StatusOr<v1::HealthResponse> health = client.Health();
  if (!health.ok()) {
    absl::Status status = health.status();
    // The service answers UNAVAILABLE itself when its store cannot be read: it is
    // reachable, so say that rather than "cannot reach".
    if (status.code() == absl::StatusCode::kUnavailable &&
        absl::StrContains(status.message(), "key store:")) {
      status = absl::UnavailableError(absl::StrCat(
          "the key service at ", client.target(), " answers but is not serving: ", status.message(),
          "; check its store (see its log)"));
    }
    if (io.format == OutputFormat::kJson) {
      WriteJson(
          io.out,
          {{"kms", client.target()}, {"serving", false}, {"error", std::string(status.message())}});
    }
    WriteError(io.err, "health", status);
    return kExitFailed;
  }
  if (io.format == OutputFormat::kJson) {
    WriteJson(io.out, {{"kms", client.target()},
                       {"serving", health->serving()},
                       {"current_kek_version", health->current_kek_version()},
                       {"store", health->store()},
                       {"kek_provider", health->kek_provider()},
                       {"attestation_types", EvidenceTypes(*health)},
                       {"insecure_allow_unattested", health->insecure_allow_unattested()},
                       {"rotation", std::string(RotationStateText(health->rotation_state()))},
                       {"message", health->message()}});
  } else {
    const std::vector<std::string> types = EvidenceTypes(*health);
    io.out << "key service:         " << client.target() << "\n"
           << "serving:             " << (health->serving() ? "yes" : "no") << "\n"
           << "current KEK version: " << health->current_kek_version() << "\n"
           << "store:               " << health->store() << "\n"
           << "KEK provider:        " << health->kek_provider() << "\n"
           << "evidence accepted:   " << (types.empty() ? "(none)" : absl::StrJoin(types, ", "))
           << "\n"
           << "KEK rotation:        " << std::string(RotationStateText(health->rotation_state()))
           << "\n"
           << "message:             " << health->message() << "\n";
    if (health->insecure_allow_unattested()) {
      io.out << "WARNING:             insecure mode: unattested (none) evidence is accepted\n";
    }
  }
  if (!health->serving()) {
    io.err << "cloakctl health: the key service at " << client.target()
           << " is not serving: " << health->message() << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace cloak::cli
