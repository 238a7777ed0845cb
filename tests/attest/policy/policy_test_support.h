#pragma once

// Digests, claims and documents shared by the policy tests.

#include <string>

#include "attest/claims.h"
#include "attest/policy/parse.h"

namespace cloak::attest::policy::testing {

// `hex_byte` repeated `bytes` times ("aa" x 48 is a 96-digit measurement).
inline std::string Rep(const std::string& hex_byte, std::size_t bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) out += hex_byte;
  return out;
}

inline const std::string kM1 = Rep("a1", 48), kM2 = Rep("a2", 48), kM3 = Rep("a3", 48);
inline const std::string kChip1 = Rep("c1", 64), kChip2 = Rep("c2", 64);
inline const std::string kHost1 = Rep("d1", 32), kHost2 = Rep("d2", 32);
inline const std::string kPcr0 = Rep("00", 32), kPcr7a = Rep("7a", 32), kPcr7b = Rep("7b", 32);
inline const std::string kAk1 = Rep("e1", 32), kAk2 = Rep("e2", 32);

// Replaces {M1}, {CHIP1}, {PCR7A}, ... in `text` by the constants above.
std::string Fill(std::string text);

// A valid document: both TEE sections, a controller rule for measurement M2 and a node
// rule for prod volumes.
std::string BaseDocument();

// Parses `document`, failing the test when it is invalid.
AttestationPolicy MustParse(const std::string& document);

// Claims that pass BaseDocument()'s sections: measurement M1 on chip CHIP1, Milan, TCB at
// the minimum; a TPM quote by AK1 with PCR 0 = PCR0 and PCR 7 = PCR7A.
SnpClaims GoodSnpClaims();
TpmClaims GoodTpmClaims();

// `hex` as bytes (test input only).
std::vector<std::uint8_t> Bytes(const std::string& hex);
template <std::size_t N>
std::array<std::uint8_t, N> Array(const std::string& hex) {
  std::array<std::uint8_t, N> out{};
  const std::vector<std::uint8_t> bytes = Bytes(hex);
  for (std::size_t i = 0; i < N && i < bytes.size(); ++i) out[i] = bytes[i];
  return out;
}

}  // namespace cloak::attest::policy::testing
