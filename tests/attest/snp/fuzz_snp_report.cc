// Fuzz target: the SEV-SNP report parser and the certificate-table parser. The first byte
// picks the parser; the rest is its input. Parsing must never crash and must refuse with
// UNAUTHENTICATED or accept.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "attest/snp/cert_table.h"
#include "attest/snp/snp_report.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> input(data + 1, size - 1);
  if ((data[0] & 1) == 0) {
    auto report = cloak::attest::snp::ParseSnpReport(input);
    if (report.ok()) {
      (void)report->CpuidProduct();
      for (auto p : {cloak::attest::SnpProduct::kMilan, cloak::attest::SnpProduct::kTurin}) {
        const auto tcb = cloak::attest::snp::DecodeTcb(report->reported_tcb, p);
        if (tcb.raw != report->reported_tcb) std::abort();
      }
    } else if (!absl::IsUnauthenticated(report.status())) {
      std::abort();
    }
  } else {
    auto table = cloak::attest::snp::ParseCertTable(input);
    if (!table.ok() && !absl::IsUnauthenticated(table.status())) std::abort();
  }
  return 0;
}
