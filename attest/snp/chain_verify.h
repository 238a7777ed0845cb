#pragma once

// The VCEK <- ASK <- ARK chain check behind SnpVerifier (verifier.h).

#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "attest/snp/chain_cache.h"
#include "attest/snp/trust_anchors.h"

namespace cloak::attest::snp {

struct ChainInputs {
  std::string_view vcek;              // DER or PEM
  std::string_view ask;               // from the certificate table; empty: the anchors' ASK
  std::string_view ark;               // from the certificate table; empty: the anchors' ARK
  std::optional<SnpProduct> product;  // from the report's CPUID fields, when it has them
};

// Verifies the chain and returns the VCEK's key, extensions, product and validity window.
// The product is the report's, else the VCEK's productName; the ARK must match a pin of
// that product. UNAUTHENTICATED naming the certificate and the check that failed.
absl::StatusOr<std::shared_ptr<const VerifiedVcek>> VerifyVcekChain(const ChainInputs& in,
                                                                    const SnpTrustAnchors& anchors);

}  // namespace cloak::attest::snp
