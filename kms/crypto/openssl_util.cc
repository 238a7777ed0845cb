#include "kms/crypto/openssl_util.h"

#include <openssl/err.h>

#include <array>

#include "fmt/format.h"

namespace cloak::kms {

absl::Status OpenSslError(std::string_view what) {
  const unsigned long code = ERR_get_error();
  std::array<char, 256> text{};
  if (code != 0) ERR_error_string_n(code, text.data(), text.size());
  ERR_clear_error();
  return absl::InternalError(
      fmt::format("{} failed: {}", what, code != 0 ? text.data() : "no OpenSSL error reported"));
}

void ClearOpenSslErrors() { ERR_clear_error(); }

}  // namespace cloak::kms
