#include "attest/snp/chain_verify.h"

#include "absl/status/status.h"
#include "attest/snp/snp_report.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::snp {
namespace {

absl::Status Refuse(std::string_view why) {
  return absl::UnauthenticatedError(fmt::format("SEV-SNP certificate chain rejected: {}", why));
}

absl::StatusOr<X509Ptr> Parse(std::string_view bytes, std::string_view what) {
  auto cert = ParseCertificate(bytes, what);
  if (!cert.ok()) return Refuse(std::string(cert.status().message()));
  return cert;
}

// The table's certificate when present, else the configured one (shared, not owned).
absl::StatusOr<X509*> PickRoot(std::string_view from_table, X509* configured, std::string_view what,
                               SnpProduct product, X509Ptr& holder) {
  if (!from_table.empty()) {
    ASSIGN_OR_RETURN(holder, Parse(from_table, what));
    return holder.get();
  }
  if (configured != nullptr) return configured;
  return Refuse(
      fmt::format("no {} for {}: the certificate table has none and no roots are configured; pass "
                  "AMD's cert_chain for the product (ASK then ARK) as the roots file",
                  what, ProductName(product)));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const VerifiedVcek>> VerifyVcekChain(
    const ChainInputs& in, const SnpTrustAnchors& anchors) {
  ASSIGN_OR_RETURN(X509Ptr vcek, Parse(in.vcek, "VCEK"));
  ASSIGN_OR_RETURN(VcekExtensions ext, ParseVcekExtensions(vcek.get()));
  const std::optional<SnpProduct> named = ProductFromName(ext.product_name);
  if (!ext.product_name.empty() && !named.has_value()) {
    return Refuse("the VCEK's productName names no known product (Milan, Genoa, Turin)");
  }
  if (in.product.has_value() && named.has_value() && *in.product != *named) {
    return Refuse(fmt::format("the report's CPUID says {} but the VCEK is for {}",
                              ProductName(*in.product), ProductName(*named)));
  }
  const std::optional<SnpProduct> product = in.product.has_value() ? in.product : named;
  if (!product.has_value()) {
    return Refuse("cannot tell the product: a version 2 report and a VCEK without productName");
  }
  if (!anchors.HasPins(*product)) {
    return Refuse(fmt::format("no ARK is pinned for {}; this verifier does not accept that product",
                              ProductName(*product)));
  }
  if (ext.hwid.size() == 8 && *product != SnpProduct::kTurin) {
    return Refuse("the VCEK has an 8-byte hwID, which only Turin uses");
  }
  if (*product == SnpProduct::kTurin && !ext.fmc.has_value()) {
    return Refuse("the Turin VCEK lacks the fmcSPL extension (1.3.6.1.4.1.3704.1.3.9)");
  }
  X509Ptr ask_holder;
  X509Ptr ark_holder;
  ASSIGN_OR_RETURN(X509 * ask,
                   PickRoot(in.ask, anchors.Ask(*product), "ASK", *product, ask_holder));
  ASSIGN_OR_RETURN(X509 * ark,
                   PickRoot(in.ark, anchors.Ark(*product), "ARK", *product, ark_holder));
  ASSIGN_OR_RETURN(Sha256Digest ark_spki, SpkiSha256(ark));
  if (!anchors.IsPinned(*product, ark_spki)) {
    return Refuse(
        fmt::format("the ARK is not the pinned AMD ARK-{} (its public key does not match the pin)",
                    ProductName(*product)));
  }
  RETURN_IF_ERROR(CheckIsCa(ark, "ARK"));
  RETURN_IF_ERROR(CheckIsCa(ask, "ASK"));
  RETURN_IF_ERROR(CheckRsaPssSignedBy(ark, ark, "ARK (self-signature)"));
  RETURN_IF_ERROR(CheckRsaPssSignedBy(ask, ark, "ASK"));
  RETURN_IF_ERROR(CheckRsaPssSignedBy(vcek.get(), ask, "VCEK"));
  ASSIGN_OR_RETURN(EvpPkeyPtr key, VcekPublicKey(vcek.get()));

  auto out = std::make_shared<VerifiedVcek>();
  out->product = *product;
  out->key = std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free);
  out->extensions = std::move(ext);
  RETURN_IF_ERROR(NarrowValidity(vcek.get(), "VCEK", out->validity));
  RETURN_IF_ERROR(NarrowValidity(ask, "ASK", out->validity));
  RETURN_IF_ERROR(NarrowValidity(ark, "ARK", out->validity));
  return out;
}

}  // namespace cloak::attest::snp
