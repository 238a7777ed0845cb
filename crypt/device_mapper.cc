#include "crypt/device_mapper.h"

#include "fmt/format.h"

namespace cloak::crypt {

std::string RedactCryptKey(std::string_view params) {
  // "<cipher> <key> <rest...>": copy the cipher and the rest, never the key itself.
  const std::size_t key_begin = params.find(' ');
  if (key_begin == std::string_view::npos) return std::string(params);
  const std::size_t key_end = params.find(' ', key_begin + 1);
  const std::size_t stop = key_end == std::string_view::npos ? params.size() : key_end;
  const std::string_view key = params.substr(key_begin + 1, stop - key_begin - 1);
  std::string out(params.substr(0, key_begin + 1));
  if (!key.empty() && key[0] == ':') {
    out.append(key);  // a keyring reference: size, type and description, no key bytes
  } else if (key == "-") {
    out.append("-");
  } else {
    out.append(fmt::format("<hex:{}>", key.size() / 2));
  }
  out.append(params.substr(stop));
  return out;
}

}  // namespace cloak::crypt
