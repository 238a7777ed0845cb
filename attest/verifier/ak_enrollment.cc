#include "attest/verifier/ak_enrollment.h"

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "attest/tpm/credential.h"
#include "attest/tpm/ek_certificate.h"
#include "attest/tpm/tpm_crypto.h"
#include "attest/tpm/tpm_verifier.h"
#include "common/status.h"
#include "fmt/format.h"
#include "kms/crypto/random.h"

namespace cloak::attest {
namespace {

// Attempts at the bindings' compare-and-set before giving up with ABORTED: another
// replica enrolling at the same instant costs one retry.
constexpr int kBindAttempts = 5;

std::string IdKey(std::span<const std::uint8_t> id) {
  return std::string(reinterpret_cast<const char*>(id.data()), id.size());
}

}  // namespace

absl::StatusOr<std::unique_ptr<TpmAkEnrollment>> TpmAkEnrollment::Create(
    TpmAkEnrollmentOptions options) {
  if (options.store == nullptr || options.clock == nullptr || options.policy == nullptr) {
    return absl::InvalidArgumentError("TpmAkEnrollment needs a store, a clock and a policy source");
  }
  if (options.ek_ca_pem.empty()) {
    return absl::InvalidArgumentError(
        "TPM AK enrollment needs at least one EK CA certificate (attestation.tpm.ek_ca_files)");
  }
  ASSIGN_OR_RETURN(X509_STORE * ca_store, tpm::MakeEkCaStore(options.ek_ca_pem));
  return std::unique_ptr<TpmAkEnrollment>(new TpmAkEnrollment(std::move(options), ca_store));
}

TpmAkEnrollment::~TpmAkEnrollment() { X509_STORE_free(ca_store_); }

std::size_t TpmAkEnrollment::pending() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

void TpmAkEnrollment::PurgeExpiredLocked(absl::Time now) {
  while (!expiry_queue_.empty() && expiry_queue_.front().first <= now) {
    pending_.erase(expiry_queue_.front().second);
    expiry_queue_.pop_front();
  }
}

absl::StatusOr<kms::AkEnrollmentOffer> TpmAkEnrollment::Begin(
    const kms::AkEnrollmentRequest& request) {
  ASSIGN_OR_RETURN(std::shared_ptr<const LoadedPolicy> policy, options_.policy->Current());
  if (!policy->policy.tpm || !policy->policy.tpm->allow_ek_ca) {
    return absl::FailedPreconditionError(fmt::format(
        "attestation policy version {} does not trust EK-certified attestation keys: set "
        "tpm.allow_ek_ca: true, or pin this AK in tpm.trusted_aks instead of enrolling it",
        policy->version));
  }
  absl::StatusOr<tpm::AttestationKeyInfo> ak = tpm::ValidateAttestationKey(request.ak_public);
  if (!ak.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("ak_public: {}", std::string(ak.status().message())));
  }
  absl::StatusOr<std::string> subject =
      tpm::VerifyEkCertificate(ca_store_, request.ek_certificate, request.ek_public);
  if (!subject.ok()) {
    return absl::PermissionDeniedError(
        fmt::format("ek_certificate: {}; the TPM's EK certificate must chain to a CA in "
                    "attestation.tpm.ek_ca_files",
                    std::string(subject.status().message())));
  }
  absl::StatusOr<tpm::MadeCredential> credential = tpm::MakeCredential(request.ek_public, ak->name);
  if (!credential.ok()) {
    if (credential.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::InvalidArgumentError(
          fmt::format("ek_public: {}", std::string(credential.status().message())));
    }
    return credential.status();
  }

  kms::AkEnrollmentOffer offer;
  RETURN_IF_ERROR(kms::FillPublicRandom(offer.id));
  offer.credential_blob = std::move(credential->credential_blob);
  offer.encrypted_secret = std::move(credential->encrypted_secret);
  offer.ak_fingerprint = ak->fingerprint;
  const absl::Time now = options_.clock->Now();
  offer.expires_at = now + options_.ttl;

  std::lock_guard lock(mutex_);
  PurgeExpiredLocked(now);
  if (pending_.size() >= options_.max_pending) {
    return absl::ResourceExhaustedError(fmt::format(
        "{} AK enrollments are pending on this key service; retry in a minute", pending_.size()));
  }
  const std::string key = IdKey(offer.id);
  pending_.emplace(key, Pending{.expected_secret = std::move(credential->expected_secret),
                                .ak_fingerprint = ak->fingerprint,
                                .ek_fingerprint = tpm::PublicFingerprint(request.ek_public),
                                .ek_subject = *std::move(subject),
                                .expires_at = offer.expires_at});
  expiry_queue_.emplace_back(offer.expires_at, key);
  return offer;
}

absl::StatusOr<kms::AkEnrollmentResult> TpmAkEnrollment::Complete(
    const kms::EnrollmentId& id, std::span<const std::uint8_t> secret) {
  Pending entry;
  {
    std::lock_guard lock(mutex_);
    const auto it = pending_.find(IdKey(id));
    // Single use: the entry is gone whatever the verdict.
    if (it == pending_.end() || it->second.expires_at <= options_.clock->Now()) {
      if (it != pending_.end()) pending_.erase(it);
      return absl::NotFoundError(fmt::format(
          "enrollment_id: unknown, already answered or expired (an enrollment is valid for "
          "{} s, once, on the replica that began it); call BeginAkEnrollment again",
          absl::ToInt64Seconds(options_.ttl)));
    }
    entry = std::move(it->second);
    pending_.erase(it);
  }
  const SecretBytes& expected = entry.expected_secret;
  if (secret.size() != expected.size() ||
      CRYPTO_memcmp(secret.data(), expected.SecretData(), expected.size()) != 0) {
    return absl::PermissionDeniedError(fmt::format(
        "secret: does not match the credential made for attestation key {}: the AK and the "
        "EK are not in the same TPM",
        entry.ak_fingerprint));
  }
  ASSIGN_OR_RETURN(const bool newly_bound, Bind(entry));
  return kms::AkEnrollmentResult{.ak_fingerprint = entry.ak_fingerprint,
                                 .ek_fingerprint = entry.ek_fingerprint,
                                 .ek_subject = entry.ek_subject,
                                 .newly_bound = newly_bound};
}

absl::StatusOr<bool> TpmAkEnrollment::Bind(const Pending& pending) {
  const AkBinding binding{
      .ek_fingerprint = pending.ek_fingerprint,
      .ek_subject = pending.ek_subject,
      .enrolled_at = absl::FromUnixSeconds(absl::ToUnixSeconds(options_.clock->Now()))};
  for (int attempt = 0; attempt < kBindAttempts; ++attempt) {
    AkBindings bindings;
    std::int64_t version = 0;
    absl::StatusOr<kms::PolicyRecord> current = options_.store->GetPolicy(kAkBindingsPolicyName, 0);
    if (current.ok()) {
      absl::StatusOr<AkBindings> parsed = ParseAkBindings(current->document);
      if (!parsed.ok()) {
        return absl::DataLossError(fmt::format(
            "policy tpm-ak-bindings version {} does not parse ({}); nothing was recorded",
            current->version, std::string(parsed.status().message())));
      }
      bindings = *std::move(parsed);
      version = current->version;
    } else if (current.status().code() != absl::StatusCode::kNotFound) {
      return current.status();
    }
    const auto existing = bindings.find(pending.ak_fingerprint);
    if (existing != bindings.end() && existing->second.ek_fingerprint == pending.ek_fingerprint) {
      return false;
    }
    kms::AuditEvent event{.actor = "tpm-ak@" + pending.ak_fingerprint.substr(0, 16),
                          .action = "CompleteAkEnrollment",
                          .volume_id = "",
                          .outcome = "ok",
                          .details = {{"tee", "tpm"},
                                      {"policy", std::string(kAkBindingsPolicyName)},
                                      {"ak_fingerprint", pending.ak_fingerprint},
                                      {"ek_fingerprint", pending.ek_fingerprint},
                                      {"ek_subject", pending.ek_subject}}};
    if (existing != bindings.end()) {
      event.details["replaced_ek_fingerprint"] = existing->second.ek_fingerprint;
    } else if (bindings.size() >= kMaxAkBindings) {
      return absl::ResourceExhaustedError(
          fmt::format("policy tpm-ak-bindings holds {} bindings, the most allowed; revoke those of "
                      "retired TPMs first",
                      bindings.size()));
    }
    bindings[pending.ak_fingerprint] = binding;
    absl::StatusOr<kms::PolicyRecord> stored = options_.store->PutPolicy(
        kAkBindingsPolicyName, SerializeAkBindings(bindings), version, event);
    if (stored.ok()) {
      if (options_.bindings != nullptr) options_.bindings->Invalidate();
      return true;
    }
    if (stored.status().code() != absl::StatusCode::kAborted) return stored.status();
  }
  return absl::AbortedError(
      "policy tpm-ak-bindings kept changing while this binding was recorded; enroll again");
}

}  // namespace cloak::attest
