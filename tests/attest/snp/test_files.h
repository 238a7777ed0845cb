#pragma once

// Test data access for the SEV-SNP tests: the shared attestation vectors (which must be
// present: a missing directory fails the test rather than skipping it) and temp dirs (the
// kms tests' TempDir).

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/kms/crypto/temp_dir.h"

namespace cloak::attest::snp::snp_test {

// ${CLOAK_SOURCE_DIR}/tests/attest/testdata/snp; empty (and a test failure) when
// CLOAK_SOURCE_DIR is unset or the directory is missing.
inline std::string SnpTestDataDir() {
  const char* source = std::getenv("CLOAK_SOURCE_DIR");
  if (source == nullptr) {
    ADD_FAILURE() << "CLOAK_SOURCE_DIR is not set; run the test through ctest";
    return "";
  }
  const std::string dir = std::string(source) + "/tests/attest/testdata/snp";
  if (!std::filesystem::is_directory(dir)) {
    ADD_FAILURE() << dir << " is missing: the SEV-SNP test vectors are required";
    return "";
  }
  return dir;
}

inline std::string ReadFileOrFail(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline std::vector<std::uint8_t> Bytes(const std::string& s) {
  return std::vector<std::uint8_t>(s.begin(), s.end());
}

inline std::vector<std::uint8_t> FromHex(const std::string& hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

using ::cloak::kms::kms_test::TempDir;

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

}  // namespace cloak::attest::snp::snp_test
