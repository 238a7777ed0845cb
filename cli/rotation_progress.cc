#include "cli/rotation_progress.h"

#include <algorithm>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "cli/output.h"

namespace cloak::cli {
namespace {

int Percent(const kms::v1::RotationStatus& status) {
  if (status.state() == kms::v1::RotationStatus::STATE_COMPLETED) return 100;
  if (status.total() <= 0) return 0;
  const std::int64_t done = std::clamp<std::int64_t>(status.done(), 0, status.total());
  return static_cast<int>(done * 100 / status.total());
}

}  // namespace

std::string ProgressBarLine(const kms::v1::RotationStatus& status, int width) {
  const int filled = Percent(status) * width / 100;
  std::string percent = std::to_string(Percent(status));
  percent.insert(0, 3 - std::min<std::size_t>(3, percent.size()), ' ');
  return absl::StrCat("[", std::string(static_cast<std::size_t>(filled), '#'),
                      std::string(static_cast<std::size_t>(width - filled), '-'), "] ", percent,
                      "%  ", status.done(), "/", status.total(),
                      " volumes rewrapped to KEK version ", status.target_kek_version());
}

std::string ProgressTextLine(const kms::v1::RotationStatus& status) {
  return absl::StrCat("KEK rotation to version ", status.target_kek_version(), ": ",
                      RotationStateText(status.state()), ", ", status.done(), "/", status.total(),
                      " volumes rewrapped (", Percent(status), "%)");
}

void ProgressDisplay::Draw(const std::string& line) {
  // Pad over whatever a longer previous line left on screen.
  const std::size_t pad = drawn_width_ > line.size() ? drawn_width_ - line.size() : 0;
  out_ << "\r" << line << std::string(pad, ' ');
  if (pad > 0) out_ << std::string(pad, '\b');
  out_.flush();
  drawn_width_ = line.size();
}

void ProgressDisplay::Update(const kms::v1::RotationStatus& status, absl::Time now) {
  if (terminal_) {
    Draw(ProgressBarLine(status, 30));
    return;
  }
  const bool due =
      !printed_ || status.state() != last_state_ || now - last_print_ >= plain_interval_;
  const std::string line = ProgressTextLine(status);
  if (!due || line == last_line_) return;
  out_ << line << "\n";
  out_.flush();
  printed_ = true;
  last_print_ = now;
  last_line_ = line;
  last_state_ = status.state();
}

void ProgressDisplay::Finish(const kms::v1::RotationStatus& status) {
  if (terminal_) {
    Draw(ProgressBarLine(status, 30));
    out_ << "\n";
    out_.flush();
    drawn_width_ = 0;
    return;
  }
  const std::string line = ProgressTextLine(status);
  if (line != last_line_) out_ << line << "\n";
  out_.flush();
  last_line_ = line;
}

}  // namespace cloak::cli
