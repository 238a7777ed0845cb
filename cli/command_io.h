#pragma once

// What every key-service command writes to: the output format and the two streams.

#include <iosfwd>

#include "cli/output.h"

namespace cloak::cli {

struct CommandIo {
  OutputFormat format = OutputFormat::kText;
  std::ostream& out;  // results: text, or exactly one JSON document
  std::ostream& err;  // errors, hints and (with -o json) progress
};

}  // namespace cloak::cli
