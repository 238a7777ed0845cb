#pragma once

// Checks on AMD's SEV-SNP certificates (VCEK, ASK, ARK): RSA-PSS/SHA-384 signatures with
// their algorithm parameters checked explicitly, validity windows, and the VCEK's AMD
// extensions (AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS Interface
// Specification").

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attest/claims.h"
#include "attest/snp/openssl_util.h"

namespace cloak::attest::snp {

// UNAUTHENTICATED unless `cert` is signed by `issuer` with RSASSA-PSS, SHA-384, MGF1 with
// SHA-384, a 48-byte salt and trailer field 1, stated identically inside and outside the
// TBS, and `cert`'s issuer name equals `issuer`'s subject. `what` names the certificate.
absl::Status CheckRsaPssSignedBy(X509* cert, X509* issuer, std::string_view what);

// The interval in which every one of `certs` is valid.
struct ValidityWindow {
  absl::Time not_before = absl::InfinitePast();
  absl::Time not_after = absl::InfiniteFuture();
};

// Narrows `window` to `cert`'s notBefore..notAfter. UNAUTHENTICATED for unreadable times.
absl::Status NarrowValidity(X509* cert, std::string_view what, ValidityWindow& window);

// The VCEK's AMD extensions.
struct VcekExtensions {
  std::string product_name;     // productName (1.3.6.1.4.1.3704.1.2), e.g. "Milan-B0"; may be empty
  std::uint8_t bootloader = 0;  // blSPL    1.3.6.1.4.1.3704.1.3.1
  std::uint8_t tee = 0;         // teeSPL   1.3.6.1.4.1.3704.1.3.2
  std::uint8_t snp = 0;         // snpSPL   1.3.6.1.4.1.3704.1.3.3
  std::uint8_t microcode = 0;   // ucodeSPL 1.3.6.1.4.1.3704.1.3.8
  std::optional<std::uint8_t> fmc;  // fmcSPL 1.3.6.1.4.1.3704.1.3.9 (Turin)
  std::vector<std::uint8_t> hwid;   // hwID 1.3.6.1.4.1.3704.1.4: 64 bytes, 8 on Turin
};

// Reads the extensions. UNAUTHENTICATED naming the extension when a required one (the SPLs
// and hwID) is missing or not a DER INTEGER 0..255 / raw bytes as the KDS writes them.
absl::StatusOr<VcekExtensions> ParseVcekExtensions(X509* vcek);

// The VCEK's public key, checked to be an EC key on P-384. UNAUTHENTICATED otherwise.
absl::StatusOr<EvpPkeyPtr> VcekPublicKey(X509* vcek);

// UNAUTHENTICATED unless `cert` says it is a CA (basicConstraints cA).
absl::Status CheckIsCa(X509* cert, std::string_view what);

}  // namespace cloak::attest::snp
