#include "kms/client/attesters/snp_attester.h"

#include "common/status.h"

namespace cloak::kms::client {

absl::StatusOr<std::unique_ptr<SnpAttester>> SnpAttester::Detect(
    const attest::snp::SnpPaths& paths) {
  ASSIGN_OR_RETURN(std::unique_ptr<attest::snp::SnpCollector> collector,
                   attest::snp::CreateSnpCollector(paths));
  return std::make_unique<SnpAttester>(std::move(collector));
}

absl::StatusOr<std::string> SnpAttester::Collect(const AttestationChallenge& challenge) {
  return collector_->Collect(std::span<const std::uint8_t, kBindingSize>(challenge.binding));
}

}  // namespace cloak::kms::client
