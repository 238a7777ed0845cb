#pragma once

// A generated AMD-shaped certificate chain and report signer for tests: an RSA-4096 ARK and
// ASK (RSA-PSS, SHA-384, salt 48) per product, P-384 VCEKs with AMD's TCB and hwID
// extensions, and ATTESTATION_REPORTs signed the way the firmware signs them.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "attest/claims.h"
#include "attest/snp/openssl_util.h"
#include "attest/snp/trust_anchors.h"

namespace cloak::attest::snp::snp_test {

using ChipId = std::array<std::uint8_t, 64>;

// Fields of a synthetic report; defaults give a valid, non-debug, VMPL 0 report.
struct ReportSpec {
  std::uint32_t version = 3;
  SnpProduct product = SnpProduct::kMilan;
  bool debug = false;
  std::uint32_t vmpl = 0;
  SnpTcb reported_tcb{.fmc = 1, .bootloader = 3, .tee = 0, .snp = 8, .microcode = 115};
  ChipId chip_id{};
  std::array<std::uint8_t, 64> report_data{};
  std::array<std::uint8_t, 48> measurement{};
  std::array<std::uint8_t, 32> host_data{};
};

// A chip id as the product uses it (Turin: 8 bytes, then zeros).
ChipId TestChipId(SnpProduct product, std::uint8_t seed);

// The unsigned report bytes for `spec`.
std::vector<std::uint8_t> BuildReport(const ReportSpec& spec);

// Signs bytes [0, 0x2A0) with `key` (P-384) and stores r and s little-endian at 0x2A0.
void SignReport(std::vector<std::uint8_t>& report, EVP_PKEY* key);

// What a VCEK certificate says.
struct VcekSpec {
  SnpProduct product = SnpProduct::kMilan;
  SnpTcb tcb{.fmc = 1, .bootloader = 3, .tee = 0, .snp = 8, .microcode = 115};
  std::vector<std::uint8_t> hwid;  // empty: TestChipId(product, 1) cut to the product's size
  absl::Time not_before = absl::FromUnixSeconds(1600000000);  // 2020-09-13
  absl::Time not_after = absl::FromUnixSeconds(2000000000);   // 2033-05-18
  bool with_product_name = true;
  bool pkcs1_signature = false;  // sign with PKCS#1 v1.5 instead of PSS
  int pss_salt = 48;
};

class SyntheticChain {
 public:
  // The process-wide chain (RSA-4096 key generation runs once).
  static const SyntheticChain& Get();

  // Anchors pinning this chain's ARK for every product.
  SnpTrustAnchors Anchors() const;
  // The DER of a VCEK for `spec`, signed by the product's ASK, over VcekKey().
  std::string MakeVcek(const VcekSpec& spec) const;
  // The ASK and ARK of `product` (DER).
  std::string AskDer(SnpProduct product) const;
  std::string ArkDer(SnpProduct product) const;
  // A self-signed ARK-shaped certificate on a key that is not pinned.
  std::string RogueArkDer(SnpProduct product) const;
  // The P-384 key every synthetic VCEK certifies.
  EVP_PKEY* VcekKey() const { return vcek_key_.get(); }

 private:
  SyntheticChain();
  EvpPkeyPtr ark_key_;
  EvpPkeyPtr ask_key_;
  EvpPkeyPtr vcek_key_;
};

// A report for `spec`, signed by the synthetic VCEK key.
std::vector<std::uint8_t> SignedReport(const ReportSpec& spec);

// The certificate table a host would attach: VCEK, ASK and ARK of `product`.
std::vector<std::uint8_t> TableFor(const std::string& vcek_der, SnpProduct product);

}  // namespace cloak::attest::snp::snp_test
