#include "cli/health_command.h"

#include <ostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"

namespace cloak::cli {

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
                       {"message", health->message()}});
  } else {
    io.out << "key service:         " << client.target() << "\n"
           << "serving:             " << (health->serving() ? "yes" : "no") << "\n"
           << "current KEK version: " << health->current_kek_version() << "\n"
           << "message:             " << health->message() << "\n";
  }
  if (!health->serving()) {
    io.err << "cloakctl health: the key service at " << client.target()
           << " is not serving: " << health->message() << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace cloak::cli
