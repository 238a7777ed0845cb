#include "attest/snp/collector.h"

#include "attest/proto/evidence.pb.h"

namespace cloak::attest::snp {

std::string EncodeSevSnpEvidence(std::string_view report, std::string_view certificate_table) {
  cloak::attest::v1::SevSnpEvidence evidence;
  evidence.set_report(std::string(report));
  evidence.set_certificate_table(std::string(certificate_table));
  return evidence.SerializeAsString();
}

}  // namespace cloak::attest::snp
