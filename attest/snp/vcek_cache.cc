#include "attest/snp/vcek_cache.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/status/status.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::snp {

bool HwidMatchesChipId(std::span<const std::uint8_t> hwid,
                       std::span<const std::uint8_t, 64> chip_id, SnpProduct product) {
  if (product == SnpProduct::kTurin) {
    return hwid.size() == 8 && std::equal(hwid.begin(), hwid.end(), chip_id.begin()) &&
           std::all_of(chip_id.begin() + 8, chip_id.end(), [](std::uint8_t b) { return b == 0; });
  }
  return hwid.size() == chip_id.size() && std::equal(hwid.begin(), hwid.end(), chip_id.begin());
}

absl::StatusOr<SnpVcekCache> SnpVcekCache::LoadDirectory(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(
        fmt::format("VCEK cache directory {} does not exist or is not a directory", dir));
  }
  SnpVcekCache cache;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".der" || ext == ".pem" || ext == ".crt")) {
      files.push_back(entry.path());
    }
  }
  if (ec) return absl::InternalError(fmt::format("cannot list VCEK cache directory {}", dir));
  std::sort(files.begin(), files.end());
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      return absl::InternalError(fmt::format("cannot read VCEK cache file {}", path.string()));
    }
    if (absl::Status s = cache.Add(std::move(bytes)); !s.ok()) {
      return absl::InvalidArgumentError(fmt::format(
          "VCEK cache file {}: {}; remove it or replace it with the VCEK from AMD's KDS",
          path.string(), std::string(s.message())));
    }
  }
  return cache;
}

absl::Status SnpVcekCache::Add(std::string certificate) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificate(certificate, "VCEK"));
  auto extensions = ParseVcekExtensions(cert.get());
  if (!extensions.ok())
    return absl::InvalidArgumentError(std::string(extensions.status().message()));
  const std::optional<SnpProduct> product = ProductFromName(extensions->product_name);
  if (!product.has_value()) {
    return absl::InvalidArgumentError(
        "the VCEK's productName extension names no known product (Milan, Genoa, Turin)");
  }
  entries_.push_back(Entry{std::move(certificate), *product, *std::move(extensions)});
  return absl::OkStatus();
}

const std::string* SnpVcekCache::Find(std::span<const std::uint8_t, 64> chip_id,
                                      std::uint64_t reported_tcb,
                                      std::optional<SnpProduct> product) const {
  for (const Entry& e : entries_) {
    if (product.has_value() && *product != e.product) continue;
    if (!HwidMatchesChipId(e.extensions.hwid, chip_id, e.product)) continue;
    const SnpTcb tcb = DecodeTcb(reported_tcb, e.product);
    const VcekExtensions& x = e.extensions;
    if (tcb.bootloader != x.bootloader || tcb.tee != x.tee || tcb.snp != x.snp ||
        tcb.microcode != x.microcode) {
      continue;
    }
    if (e.product == SnpProduct::kTurin && x.fmc != tcb.fmc) continue;
    return &e.certificate;
  }
  return nullptr;
}

}  // namespace cloak::attest::snp
