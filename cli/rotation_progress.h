#pragma once

// How `cloakctl kek rotate --wait` shows a rotation's progress: on a terminal, one line
// redrawn in place with \r; elsewhere (a pipe, a log file) a plain line at most every
// few seconds, so that logs stay readable.

#include <cstdint>
#include <iosfwd>
#include <string>

#include "absl/time/time.h"
#include "kms/proto/kms.pb.h"

namespace cloak::cli {

// "[##########----------]  50%  150/300 volumes rewrapped to KEK version 2", the bar
// `width` characters between the brackets.
std::string ProgressBarLine(const kms::v1::RotationStatus& status, int width);

// "KEK rotation to version 2: running, 150/300 volumes rewrapped (50%)".
std::string ProgressTextLine(const kms::v1::RotationStatus& status);

// Not thread-safe; `out` must outlive it.
class ProgressDisplay {
 public:
  ProgressDisplay(std::ostream& out, bool terminal, absl::Duration plain_interval)
      : out_(out), terminal_(terminal), plain_interval_(plain_interval) {}

  // Shows `status`, observed at `now`. A terminal redraws the line every time; plain
  // output prints the first status, any change of state, and otherwise at most one
  // line per plain_interval.
  void Update(const kms::v1::RotationStatus& status, absl::Time now);

  // Shows the final status and ends the line.
  void Finish(const kms::v1::RotationStatus& status);

 private:
  void Draw(const std::string& line);

  std::ostream& out_;
  const bool terminal_;
  const absl::Duration plain_interval_;
  std::size_t drawn_width_ = 0;  // terminal: length of the line on screen
  bool printed_ = false;         // plain: a line was printed
  absl::Time last_print_;        // plain: when
  std::string last_line_;        // plain: what
  kms::v1::RotationStatus::State last_state_ = kms::v1::RotationStatus::STATE_UNSPECIFIED;
};

}  // namespace cloak::cli
