#pragma once

// Child processes for the cloakctl tests: run a program with extra environment and
// capture its output, through pipes or on a pseudo-terminal.

#include <string>
#include <vector>

namespace cloak::cli::testing {

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up in PATH) with `env` ("NAME=value") added to this process's
// environment; captures both streams. Kills it after 120 s.
Result RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});

// Runs argv[0] (a path) with stdin, stdout and stderr on a new pseudo-terminal, so that
// isatty() is true; `out` gets everything it wrote there.
Result RunInPty(const std::vector<std::string>& argv, const std::vector<std::string>& env);

}  // namespace cloak::cli::testing
