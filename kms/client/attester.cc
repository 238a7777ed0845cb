#include "kms/client/attester.h"

#include "absl/status/status.h"

namespace cloak::kms::client {
namespace {
constexpr std::size_t kMaxIdentity = 128;  // NoneVerifier's limit
}  // namespace

absl::StatusOr<std::string> NoneAttester::Collect(const AttestationChallenge& challenge) {
  if (identity_.empty() || identity_.size() > kMaxIdentity) {
    return absl::InvalidArgumentError(
        "none attester: the identity must be 1..128 bytes, e.g. node/worker-1");
  }
  const std::vector<std::uint8_t> evidence =
      NoneVerifier::MakeEvidence(challenge.binding, identity_);
  return std::string(evidence.begin(), evidence.end());
}

}  // namespace cloak::kms::client
