#include "attest/verifier/attestation_verifier.h"

#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "attest/policy/evaluate.h"
#include "attest/snp/snp_report.h"
#include "attest/tpm/tpm_evidence_codec.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest {
namespace {

template <typename Bytes>
std::string Hex(const Bytes& bytes) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string TcbText(const SnpTcb& tcb, SnpProduct product) {
  std::string text = fmt::format("bootloader={} tee={} snp={} microcode={}", tcb.bootloader,
                                 tcb.tee, tcb.snp, tcb.microcode);
  if (product == SnpProduct::kTurin) text += fmt::format(" fmc={}", tcb.fmc);
  return text;
}

policy::EvaluationOptions KeyServiceEvaluation() {
  return policy::EvaluationOptions{.require_allow_list = true, .allow_insecure_none = false};
}

// The policy's verdict on authentic claims: the admitting rule's identity, or the refusal
// with an identity that still says which guest it was ("unadmitted/<tee>@<16 hex>").
void AddDecision(const absl::StatusOr<policy::PolicyDecision>& decision, const LoadedPolicy& loaded,
                 const std::string& guest, kms::Claims& claims) {
  claims.audit_details["policy_version"] = absl::StrCat(loaded.version);
  if (!decision.ok()) {
    claims.identity = "unadmitted/" + guest;
    claims.admission = decision.status();
    return;
  }
  claims.identity = decision->identity;
  claims.audit_details["rule"] = decision->rule;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AttestationVerifier>> AttestationVerifier::Create(
    AttestationVerifierOptions options) {
  if (options.policy == nullptr || options.clock == nullptr) {
    return absl::InvalidArgumentError("AttestationVerifier needs a policy source and a clock");
  }
  // Parse the EK CAs once up front, so that a bad file fails at start, not at Attest.
  RETURN_IF_ERROR(tpm::TpmQuoteVerifier::Create(
                      tpm::TpmTrustConfig{.pinned_ak_fingerprints = {},
                                          .ek_ca_certificates_pem = options.tpm_ek_ca_pem,
                                          .ek_bound_aks = {}})
                      .status());
  return std::unique_ptr<AttestationVerifier>(new AttestationVerifier(std::move(options)));
}

std::vector<std::string> AttestationVerifier::AcceptedTypes() const {
  std::vector<std::string> types = {"tpm"};
  if (options_.snp != nullptr) types.emplace_back("sev-snp");
  if (options_.insecure_allow_unattested) types.emplace_back("none");
  return types;
}

absl::StatusOr<kms::Claims> AttestationVerifier::Verify(
    kms::EvidenceType type, std::span<const std::uint8_t> evidence,
    const kms::AttestationChallenge& challenge) {
  if (type == kms::EvidenceType::kNone) {
    ASSIGN_OR_RETURN(kms::Claims claims, none_.Verify(type, evidence, challenge));
    claims.audit_details["insecure"] = "unattested";
    return claims;
  }
  if (type == kms::EvidenceType::kTdx) {
    return absl::PermissionDeniedError(
        "evidence_type: TDX evidence is not verified by this key service; use sev-snp or tpm");
  }
  absl::StatusOr<std::shared_ptr<const LoadedPolicy>> loaded = options_.policy->Current();
  if (loaded.status().code() == absl::StatusCode::kNotFound) {
    return absl::PermissionDeniedError(loaded.status().message());
  }
  if (!loaded.ok()) return loaded.status();
  if (type == kms::EvidenceType::kSevSnp) return VerifySnp(evidence, challenge, **loaded);
  return VerifyTpm(evidence, challenge, **loaded);
}

absl::StatusOr<kms::Claims> AttestationVerifier::VerifySnp(
    std::span<const std::uint8_t> evidence, const kms::AttestationChallenge& challenge,
    const LoadedPolicy& loaded) {
  if (options_.snp == nullptr) {
    return absl::PermissionDeniedError(
        "evidence_type: SEV-SNP evidence is not enabled on this key service (attestation."
        "sev-snp in its configuration)");
  }
  ASSIGN_OR_RETURN(
      SnpClaims snp,
      options_.snp->VerifyEvidence(
          std::string_view(reinterpret_cast<const char*>(evidence.data()), evidence.size()),
          challenge.binding, options_.clock->Now()));
  absl::StatusOr<policy::PolicyDecision> decision =
      policy::EvaluateSnp(loaded.policy, snp, KeyServiceEvaluation());
  kms::Claims claims;
  claims.tee_type = kms::EvidenceType::kSevSnp;
  claims.measurement.assign(snp.measurement.begin(), snp.measurement.end());
  claims.tcb = TcbText(snp.reported_tcb, snp.product);
  claims.chip_id = Hex(snp.chip_id);
  claims.audit_details = {{"product", std::string(snp::ProductName(snp.product))},
                          {"measurement", Hex(snp.measurement)},
                          {"tcb", claims.tcb},
                          {"vmpl", absl::StrCat(snp.vmpl)},
                          {"chip_id", claims.chip_id.substr(0, 16)}};
  AddDecision(decision, loaded, "sev-snp@" + claims.chip_id.substr(0, 16), claims);
  return claims;
}

absl::StatusOr<std::shared_ptr<const tpm::TpmQuoteVerifier>> AttestationVerifier::TpmVerifierFor(
    const LoadedPolicy& loaded) {
  const bool ek_ca = loaded.policy.tpm && loaded.policy.tpm->allow_ek_ca;
  std::shared_ptr<const LoadedAkBindings> bindings;
  if (ek_ca && options_.ak_bindings != nullptr) {
    ASSIGN_OR_RETURN(bindings, options_.ak_bindings->Current());
  }
  const std::int64_t bindings_version = bindings ? bindings->version : 0;
  std::lock_guard lock(tpm_mutex_);
  if (tpm_verifier_ != nullptr && tpm_policy_version_ == loaded.version &&
      tpm_bindings_version_ == bindings_version) {
    return tpm_verifier_;
  }
  tpm::TpmTrustConfig trust;
  if (loaded.policy.tpm) {
    for (const policy::Sha256& fingerprint : loaded.policy.tpm->trusted_aks) {
      trust.pinned_ak_fingerprints.insert(Hex(fingerprint));
    }
    if (ek_ca) trust.ek_ca_certificates_pem = options_.tpm_ek_ca_pem;
  }
  if (bindings) {
    for (const auto& [ak, binding] : bindings->bindings) {
      trust.ek_bound_aks.emplace(ak, binding.ek_fingerprint);
    }
  }
  ASSIGN_OR_RETURN(std::unique_ptr<tpm::TpmQuoteVerifier> verifier,
                   tpm::TpmQuoteVerifier::Create(std::move(trust)));
  tpm_verifier_ = std::move(verifier);
  tpm_policy_version_ = loaded.version;
  tpm_bindings_version_ = bindings_version;
  return tpm_verifier_;
}

absl::StatusOr<kms::Claims> AttestationVerifier::VerifyTpm(
    std::span<const std::uint8_t> evidence, const kms::AttestationChallenge& challenge,
    const LoadedPolicy& loaded) {
  if (!loaded.policy.tpm) {
    return absl::PermissionDeniedError(
        fmt::format("tpm: attestation policy version {} has no tpm section, so TPM guests are "
                    "refused",
                    loaded.version));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const tpm::TpmQuoteVerifier> verifier, TpmVerifierFor(loaded));
  ASSIGN_OR_RETURN(TpmClaims quote,
                   tpm::VerifyTpmEvidence(*verifier, evidence, challenge.tpm_extra_data));
  absl::StatusOr<policy::PolicyDecision> decision =
      policy::EvaluateTpm(loaded.policy, quote, KeyServiceEvaluation());
  kms::Claims claims;
  claims.tee_type = kms::EvidenceType::kTpm;
  claims.measurement = quote.pcr_digest;
  claims.ak_fingerprint = quote.ak_fingerprint;
  claims.audit_details = {{"ak_fingerprint", quote.ak_fingerprint},
                          {"ak_trust", quote.ak_trust},
                          {"pcr_digest", Hex(quote.pcr_digest)}};
  AddDecision(decision, loaded, "tpm@" + quote.ak_fingerprint.substr(0, 16), claims);
  return claims;
}

}  // namespace cloak::attest
