#pragma once

// SnpVcekCache: VCEK certificates the key service holds locally, for evidence whose
// certificate table is empty (hosts that do not provision extended-report certificates).
// Loaded once at startup from a directory; lookups are in memory. Nothing is ever fetched
// from the network.
//
// Directory layout: one certificate per file (DER or PEM; *.der, *.pem, *.crt), as AMD's
// KDS serves it for /vcek/v1/{product}/{hwid}?blSPL=..&teeSPL=..&snpSPL=..&ucodeSPL=..
// (fmcSPL on Turin). Files are matched by their own hwID and SPL extensions, not by name;
// the recommended name is `<product>-<hwid hex>-<reported_tcb as 16 hex digits>.der`.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attest/snp/amd_cert.h"
#include "attest/snp/snp_report.h"

namespace cloak::attest::snp {

class SnpVcekCache {
 public:
  // Loads every certificate file in `dir` (not recursive). INVALID_ARGUMENT naming the
  // file when one is not a VCEK with AMD's extensions; NOT_FOUND when `dir` is missing.
  static absl::StatusOr<SnpVcekCache> LoadDirectory(const std::string& dir);

  // Adds one VCEK (DER or PEM). INVALID_ARGUMENT when it lacks AMD's extensions or names
  // no known product. Not thread-safe; fill the cache before sharing it.
  absl::Status Add(std::string certificate);

  // The VCEK whose hwID is `chip_id` (its first 8 bytes on Turin) and whose SPLs equal
  // `reported_tcb`, or nullptr. `product` narrows the search when known. Thread-safe.
  const std::string* Find(std::span<const std::uint8_t, 64> chip_id, std::uint64_t reported_tcb,
                          std::optional<SnpProduct> product) const;

  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string certificate;
    SnpProduct product;
    VcekExtensions extensions;
  };
  std::vector<Entry> entries_;
};

// True when the VCEK hwID `hwid` names `chip_id` for `product`: equal on Milan and Genoa;
// on Turin the 8-byte hwID equals the first 8 bytes and the rest of chip_id is zero.
bool HwidMatchesChipId(std::span<const std::uint8_t> hwid,
                       std::span<const std::uint8_t, 64> chip_id, SnpProduct product);

}  // namespace cloak::attest::snp
