#pragma once

// SnpAttester: the Attester of an SEV-SNP guest: REPORT_DATA = challenge.binding (all 64
// bytes). Target cloak::kms_client_snp.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "attest/snp/collector.h"
#include "attest/snp/detect.h"
#include "kms/client/attester.h"

namespace cloak::kms::client {

class SnpAttester final : public Attester {
 public:
  explicit SnpAttester(std::unique_ptr<attest::snp::SnpCollector> collector)
      : collector_(std::move(collector)) {}

  // The collector for this guest's interface (configfs-tsm or /dev/sev-guest).
  // FAILED_PRECONDITION on a machine that is no SEV-SNP guest; UNAVAILABLE when the
  // interface cannot be opened.
  static absl::StatusOr<std::unique_ptr<SnpAttester>> Detect(
      const attest::snp::SnpPaths& paths = {});

  EvidenceType type() const override { return EvidenceType::kSevSnp; }
  // A SevSnpEvidence message (report and certificate table). The collector's codes.
  absl::StatusOr<std::string> Collect(const AttestationChallenge& challenge) override;

 private:
  const std::unique_ptr<attest::snp::SnpCollector> collector_;
};

}  // namespace cloak::kms::client
