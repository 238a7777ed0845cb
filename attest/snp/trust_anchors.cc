#include "attest/snp/trust_anchors.h"

#include "absl/status/status.h"
#include "attest/snp/amd_cert.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::snp {
namespace {

// SHA-256 over the DER SubjectPublicKeyInfo of AMD's ARK certificates:
//   ARK-Milan and ARK-Genoa as served by AMD's KDS (https://kdsintf.amd.com/vcek/v1/
//   {Milan,Genoa}/cert_chain; the copies in testdata/attestation/snp);
//   ARK-Turin as served by https://kdsintf.amd.com/vcek/v1/Turin/cert_chain (certificate
//   SHA-256 1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a, self-signed,
//   validity 2023-05-15 .. 2048-05-15).
constexpr Sha256Digest kArkMilanSpki = {
    0x9f, 0x05, 0x6b, 0xee, 0x44, 0x37, 0x7e, 0x29, 0x30, 0x8c, 0xb5, 0xff, 0xa8, 0x95, 0xbd, 0xfb,
    0x62, 0xd1, 0x88, 0x81, 0xfa, 0x6b, 0xed, 0x8d, 0x6f, 0x07, 0x5b, 0x02, 0x04, 0x08, 0x9c, 0xb9};
constexpr Sha256Digest kArkGenoaSpki = {
    0x42, 0x9a, 0x69, 0xc9, 0x42, 0x2a, 0xa2, 0x58, 0xee, 0x4d, 0x8d, 0xb5, 0xfc, 0xda, 0x9c, 0x64,
    0x70, 0xef, 0x15, 0xf8, 0xcd, 0x5a, 0x9c, 0xeb, 0xd6, 0xcb, 0xc7, 0xd9, 0x0b, 0x86, 0x38, 0x31};
constexpr Sha256Digest kArkTurinSpki = {
    0x4f, 0x12, 0x54, 0x10, 0x56, 0x3a, 0x2a, 0xb9, 0xa5, 0x03, 0x56, 0xf9, 0x24, 0x3f, 0x6f, 0xe0,
    0xb6, 0xf7, 0x3d, 0xe9, 0x86, 0x03, 0xf5, 0x3f, 0x90, 0x33, 0x9c, 0x70, 0xe9, 0xd7, 0xad, 0x08};

std::shared_ptr<X509> Share(X509Ptr p) { return std::shared_ptr<X509>(p.release(), X509_free); }

}  // namespace

SnpTrustAnchors SnpTrustAnchors::Default() {
  SnpTrustAnchors a;
  a.pins_[SnpProduct::kMilan] = {kArkMilanSpki};
  a.pins_[SnpProduct::kGenoa] = {kArkGenoaSpki};
  a.pins_[SnpProduct::kTurin] = {kArkTurinSpki};
  return a;
}

SnpTrustAnchors SnpTrustAnchors::ForTesting(std::map<SnpProduct, std::vector<Sha256Digest>> pins) {
  SnpTrustAnchors a;
  a.pins_ = std::move(pins);
  return a;
}

absl::Status SnpTrustAnchors::AddRootsPem(std::string_view pem) {
  ASSIGN_OR_RETURN(auto certs, ParsePemBundle(pem, "SEV-SNP roots file"));
  if (certs.size() != 2) {
    return absl::InvalidArgumentError(
        fmt::format("SEV-SNP roots file holds {} certificates; it must hold the ASK then the ARK "
                    "of one product",
                    certs.size()));
  }
  ASSIGN_OR_RETURN(Sha256Digest spki, SpkiSha256(certs[1].get()));
  std::vector<SnpProduct> products;
  for (const auto& [product, digests] : pins_) {
    if (IsPinned(product, spki)) products.push_back(product);
  }
  if (products.empty()) {
    return absl::UnauthenticatedError(
        "SEV-SNP roots file rejected: its second certificate is not a pinned AMD ARK (Milan, "
        "Genoa or Turin); use AMD's cert_chain for the product, ASK first");
  }
  RETURN_IF_ERROR(CheckIsCa(certs[1].get(), "ARK (roots file)"));
  RETURN_IF_ERROR(CheckIsCa(certs[0].get(), "ASK (roots file)"));
  RETURN_IF_ERROR(CheckRsaPssSignedBy(certs[1].get(), certs[1].get(), "ARK (roots file)"));
  RETURN_IF_ERROR(CheckRsaPssSignedBy(certs[0].get(), certs[1].get(), "ASK (roots file)"));
  const Roots roots{Share(std::move(certs[0])), Share(std::move(certs[1]))};
  // AMD's pins differ per product, so this is one product; test pins may repeat a key.
  for (SnpProduct product : products) roots_[product] = roots;
  return absl::OkStatus();
}

bool SnpTrustAnchors::IsPinned(SnpProduct product, const Sha256Digest& spki_sha256) const {
  const auto it = pins_.find(product);
  if (it == pins_.end()) return false;
  for (const Sha256Digest& pin : it->second) {
    if (pin == spki_sha256) return true;
  }
  return false;
}

bool SnpTrustAnchors::HasPins(SnpProduct product) const {
  const auto it = pins_.find(product);
  return it != pins_.end() && !it->second.empty();
}

X509* SnpTrustAnchors::Ask(SnpProduct product) const {
  const auto it = roots_.find(product);
  return it == roots_.end() ? nullptr : it->second.ask.get();
}

X509* SnpTrustAnchors::Ark(SnpProduct product) const {
  const auto it = roots_.find(product);
  return it == roots_.end() ? nullptr : it->second.ark.get();
}

}  // namespace cloak::attest::snp
