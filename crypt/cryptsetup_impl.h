#pragma once

#include <memory>

#include "crypt/cryptsetup.h"

namespace cloak::crypt {

// The libcryptsetup implementation of Cryptsetup.
std::unique_ptr<Cryptsetup> NewLibCryptsetup();

}  // namespace cloak::crypt
