#pragma once

// TpmAkEnrollment: the key service's AkEnroller (kms/service/ak_enroller.h). Begin checks
// that the AK is an attestation key the quote verifier would accept and that the EK
// certificate chains to a configured EK CA and certifies the EK, then makes a credential
// (TPM2_MakeCredential) for the pair. Complete compares the returned secret in constant
// time and records AK -> EK in policy "tpm-ak-bindings" (ak_bindings.h), which the
// attestation verifier consults when the policy sets tpm.allow_ek_ca.
//
// Pending enrollments live in this replica's memory (like Challenge nonces): one per
// credential, answered at most once, for `ttl`.

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attest/verifier/ak_bindings.h"
#include "attest/verifier/policy_source.h"
#include "common/secret_bytes.h"
#include "kms/service/ak_enroller.h"
#include "kms/store/clock.h"
#include "kms/store/key_store.h"

typedef struct x509_store_st X509_STORE;

namespace cloak::attest {

struct TpmAkEnrollmentOptions {
  // PEM certificates (roots and intermediates) EK certificates must chain to; at least one.
  std::vector<std::string> ek_ca_pem;
  kms::KeyStore* store = nullptr;       // must outlive the enroller
  const kms::Clock* clock = nullptr;    // must outlive the enroller
  PolicySource* policy = nullptr;       // must outlive the enroller
  AkBindingSource* bindings = nullptr;  // invalidated after each write; may be null
  absl::Duration ttl = absl::Seconds(60);
  std::size_t max_pending = 4096;
};

class TpmAkEnrollment final : public kms::AkEnroller {
 public:
  // INVALID_ARGUMENT when a pointer is missing, no EK CA is given or one does not parse.
  static absl::StatusOr<std::unique_ptr<TpmAkEnrollment>> Create(TpmAkEnrollmentOptions options);
  ~TpmAkEnrollment() override;
  TpmAkEnrollment(const TpmAkEnrollment&) = delete;
  TpmAkEnrollment& operator=(const TpmAkEnrollment&) = delete;

  absl::StatusOr<kms::AkEnrollmentOffer> Begin(const kms::AkEnrollmentRequest& request) override;
  absl::StatusOr<kms::AkEnrollmentResult> Complete(const kms::EnrollmentId& id,
                                                   std::span<const std::uint8_t> secret) override;

  // Pending enrollments, expired ones not yet purged included (tests). Thread-safe.
  std::size_t pending() const;

 private:
  struct Pending {
    SecretBytes expected_secret;
    std::string ak_fingerprint;
    std::string ek_fingerprint;
    std::string ek_subject;
    absl::Time expires_at;
  };

  TpmAkEnrollment(TpmAkEnrollmentOptions options, X509_STORE* ca_store)
      : options_(std::move(options)), ca_store_(ca_store) {}

  void PurgeExpiredLocked(absl::Time now);
  // Records ak -> ek unless it is already recorded; retries a lost compare-and-set.
  absl::StatusOr<bool> Bind(const Pending& pending);

  const TpmAkEnrollmentOptions options_;
  X509_STORE* const ca_store_;  // owned
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Pending> pending_;  // by raw enrollment id
  std::deque<std::pair<absl::Time, std::string>> expiry_queue_;
};

}  // namespace cloak::attest
