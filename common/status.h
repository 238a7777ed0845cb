#pragma once

// absl::Status helpers shared by every Cloak module. Errors never cross a module
// boundary as exceptions; they travel as absl::Status / absl::StatusOr<T> and are
// mapped to gRPC codes once, at the handler edge (common/grpc_status.h).

#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CLOAK_STATUS_CONCAT_INNER_(a, b) a##b
#define CLOAK_STATUS_CONCAT_(a, b) CLOAK_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function when
// it is not OK.
#define RETURN_IF_ERROR(expr)                                         \
  do {                                                                \
    if (::absl::Status cloak_status_ = (expr); !cloak_status_.ok()) { \
      return cloak_status_;                                           \
    }                                                                 \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from the
// enclosing function, otherwise move-assigns the value to `lhs` (which may declare a
// variable: `ASSIGN_OR_RETURN(auto fd, OpenDevice(path));`).
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  CLOAK_ASSIGN_OR_RETURN_IMPL_(CLOAK_STATUS_CONCAT_(cloak_statusor_, __LINE__), lhs, rexpr)

#define CLOAK_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                 \
  if (!tmp.ok()) {                                    \
    return std::move(tmp).status();                   \
  }                                                   \
  lhs = std::move(tmp).value()

namespace cloak {

// Converts a positive errno value into a status whose code follows the errno's
// meaning and whose message reads "<context>: <strerror>".
absl::Status ErrnoToStatus(int error_number, std::string_view context);

// Returns `status` with `context` prepended to its message, keeping its code.
absl::Status Annotate(const absl::Status& status, std::string_view context);

}  // namespace cloak
