#include "tests/attest/policy/policy_test_support.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace cloak::attest::policy::testing {

std::string Fill(std::string text) {
  const std::vector<std::pair<std::string, std::string>> names = {
      {"{M1}", kM1},       {"{M2}", kM2},       {"{M3}", kM3},       {"{CHIP1}", kChip1},
      {"{CHIP2}", kChip2}, {"{HOST1}", kHost1}, {"{HOST2}", kHost2}, {"{PCR0}", kPcr0},
      {"{PCR7A}", kPcr7a}, {"{PCR7B}", kPcr7b}, {"{AK1}", kAk1},     {"{AK2}", kAk2}};
  for (const auto& [name, value] : names) {
    for (std::size_t at = text.find(name); at != std::string::npos; at = text.find(name)) {
      text.replace(at, name.size(), value);
    }
  }
  return text;
}

std::string BaseDocument() {
  return Fill(R"(version: 1
sev-snp:
  measurements: [{M1}, {M2}]
  min_tcb: {bootloader: 2, tee: 0, snp: 5, microcode: 68}
tpm:
  pcrs:
    0: [{PCR0}]
    7: [{PCR7A}, {PCR7B}]
  trusted_aks: [{AK1}]
rules:
  - name: provisioner
    role: controller
    match: {tee: [sev-snp], measurements: [{M2}]}
  - name: workers
    role: node
    volumes:
      labels: {"csi.storage.k8s.io/pvc/namespace": prod}
)");
}

AttestationPolicy MustParse(const std::string& document) {
  absl::StatusOr<AttestationPolicy> policy = ParsePolicy(document);
  EXPECT_TRUE(policy.ok()) << policy.status() << "\n" << document;
  return policy.ok() ? *std::move(policy) : AttestationPolicy{};
}

std::vector<std::uint8_t> Bytes(const std::string& hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

SnpClaims GoodSnpClaims() {
  SnpClaims claims;
  claims.product = SnpProduct::kMilan;
  claims.version = 3;
  claims.guest_policy = 1u << 17 | 1u << 16;
  claims.vmpl = 0;
  claims.reported_tcb =
      SnpTcb{.fmc = 0, .bootloader = 2, .tee = 0, .snp = 5, .microcode = 68, .raw = 0};
  claims.measurement = Array<48>(kM1);
  claims.chip_id = Array<64>(kChip1);
  claims.host_data = Array<32>(kHost1);
  return claims;
}

TpmClaims GoodTpmClaims() {
  TpmClaims claims;
  claims.pcrs[0] = Bytes(kPcr0);
  claims.pcrs[7] = Bytes(kPcr7a);
  claims.pcrs[14] = Bytes(Rep("14", 32));
  claims.ak_fingerprint = kAk1;
  claims.ak_trust = "pinned";
  return claims;
}

}  // namespace cloak::attest::policy::testing
