#include "cli/kek_command.h"

#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"
#include "cli/rotation_progress.h"

namespace cloak::cli {
namespace {

bool Finished(const v1::RotationStatus& status) {
  return status.state() == v1::RotationStatus::STATE_COMPLETED ||
         status.state() == v1::RotationStatus::STATE_FAILED;
}

std::string Retired(const v1::RotationStatus& status) {
  if (status.retired_kek_versions().empty()) return "none";
  return absl::StrJoin(status.retired_kek_versions(), ", ");
}

// The closing line for a finished (or started) rotation.
void WriteSummary(const v1::RotationStatus& status, const CommandIo& io) {
  if (io.format == OutputFormat::kJson) {
    WriteJson(io.out, RotationJson(status));
    return;
  }
  switch (status.state()) {
    case v1::RotationStatus::STATE_COMPLETED:
      io.out << "KEK rotation to version " << status.target_kek_version()
             << " completed: " << status.done() << "/" << status.total()
             << " volumes rewrapped; retired KEK versions: " << Retired(status) << "\n";
      break;
    case v1::RotationStatus::STATE_RUNNING:
      io.out << "KEK rotation to version " << status.target_kek_version()
             << " started: " << status.done() << "/" << status.total()
             << " volumes rewrapped so far; follow it with `cloakctl kek status`\n";
      break;
    default:
      io.out << ProgressTextLine(status) << "\n";
      break;
  }
}

absl::Status RotationFailed(const v1::RotationStatus& status) {
  return absl::AbortedError(
      absl::StrCat("KEK rotation to version ", status.target_kek_version(), " failed after ",
                   status.done(), "/", status.total(),
                   " volumes; check the key service's log, then run `cloakctl kek rotate` again"));
}

}  // namespace

WaitClock SystemWaitClock() {
  return WaitClock{.now = [] { return absl::Now(); },
                   .sleep = [](absl::Duration d) { absl::SleepFor(d); }};
}

nlohmann::json RotationJson(const v1::RotationStatus& status) {
  nlohmann::json retired = nlohmann::json::array();
  for (std::uint32_t version : status.retired_kek_versions()) retired.push_back(version);
  return {{"state", RotationStateText(status.state())},
          {"target_kek_version", status.target_kek_version()},
          {"done", status.done()},
          {"total", status.total()},
          {"started_at", FormatUnixMillis(status.started_at_unix_ms())},
          {"updated_at", FormatUnixMillis(status.updated_at_unix_ms())},
          {"retired_kek_versions", retired}};
}

int RunKekRotate(AdminClient& client, const KekRotateArgs& args, const WaitClock& clock,
                 const CommandIo& io) {
  absl::StatusOr<v1::RotationStatus> status = client.RotateKek();
  if (!status.ok()) {
    WriteError(io.err, "kek rotate", status.status());
    return kExitFailed;
  }
  if (args.wait && !Finished(*status)) {
    std::ostream& progress_out = io.format == OutputFormat::kJson ? io.err : io.out;
    ProgressDisplay progress(progress_out, args.progress_on_terminal, args.plain_interval);
    const std::uint32_t target = status->target_kek_version();
    std::int64_t last_done = status->done();
    std::int64_t last_updated = status->updated_at_unix_ms();
    absl::Time last_change = clock.now();
    progress.Update(*status, clock.now());
    while (!Finished(*status)) {
      clock.sleep(args.poll_interval);
      absl::StatusOr<v1::RotationStatus> next = client.GetRotationStatus();
      if (!next.ok()) {
        progress.Finish(*status);
        WriteError(io.err, "kek rotate",
                   absl::Status(next.status().code(),
                                absl::StrCat(next.status().message(),
                                             "; the rotation goes on in the key service: "
                                             "follow it with `cloakctl kek status`")));
        return kExitFailed;
      }
      if (next->target_kek_version() != target) {
        // Another rotation replaced ours; report it rather than follow a different one.
        progress.Finish(*status);
        io.err << "cloakctl kek rotate: the key service now reports a rotation to KEK version "
               << next->target_kek_version() << " instead of " << target
               << "; see `cloakctl kek status`\n";
        return kExitFailed;
      }
      status = std::move(next);
      const absl::Time now = clock.now();
      if (status->done() != last_done || status->updated_at_unix_ms() != last_updated) {
        last_done = status->done();
        last_updated = status->updated_at_unix_ms();
        last_change = now;
      } else if (now - last_change >= args.stall_timeout) {
        progress.Finish(*status);
        io.err << "cloakctl kek rotate: KEK rotation to version " << target
               << " made no progress for " << absl::FormatDuration(args.stall_timeout)
               << " (stuck at " << status->done() << "/" << status->total()
               << "); check the key service's log; `cloakctl kek rotate` resumes it\n";
        return kExitFailed;
      }
      if (!Finished(*status)) progress.Update(*status, now);
    }
    progress.Finish(*status);
  }
  WriteSummary(*status, io);
  if (status->state() == v1::RotationStatus::STATE_FAILED) {
    WriteError(io.err, "kek rotate", RotationFailed(*status));
    return kExitFailed;
  }
  return kExitOk;
}

int RunKekStatus(AdminClient& client, const CommandIo& io) {
  absl::StatusOr<v1::RotationStatus> status = client.GetRotationStatus();
  if (!status.ok()) {
    WriteError(io.err, "kek status", status.status());
    return kExitFailed;
  }
  if (io.format == OutputFormat::kJson) {
    WriteJson(io.out, RotationJson(*status));
    return kExitOk;
  }
  if (status->state() == v1::RotationStatus::STATE_UNSPECIFIED) {
    io.out << "no KEK rotation has run; current KEK version: " << status->target_kek_version()
           << "\n";
    return kExitOk;
  }
  io.out << "state:                " << RotationStateText(status->state()) << "\n"
         << "target KEK version:   " << status->target_kek_version() << "\n"
         << "progress:             " << status->done() << "/" << status->total()
         << " volumes rewrapped\n"
         << "started:              " << FormatUnixMillis(status->started_at_unix_ms()) << "\n"
         << "updated:              " << FormatUnixMillis(status->updated_at_unix_ms()) << "\n"
         << "retired KEK versions: " << Retired(*status) << "\n";
  return kExitOk;
}

}  // namespace cloak::cli
