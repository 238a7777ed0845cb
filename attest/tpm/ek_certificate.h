#pragma once

// EK certificate checks for AK trust through the endorsement key: the certificate
// chains to a configured CA and certifies exactly the EK the evidence names.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

typedef struct x509_store_st X509_STORE;

namespace cloak::attest::tpm {

// An X509_STORE holding `pem_certificates` (each entry one or more PEM certificates);
// the caller owns it (X509_STORE_free). INVALID_ARGUMENT when one does not parse.
absl::StatusOr<X509_STORE*> MakeEkCaStore(const std::vector<std::string>& pem_certificates);

// Verifies that the DER `certificate` chains to `store` and that its subject public key
// is the key of `ek_public` (a marshalled TPMT_PUBLIC). Returns the certificate's subject
// (RFC 2253). UNAUTHENTICATED otherwise. Thread-safe for a store no one modifies.
absl::StatusOr<std::string> VerifyEkCertificate(X509_STORE* store,
                                                std::span<const std::uint8_t> certificate,
                                                std::span<const std::uint8_t> ek_public);

}  // namespace cloak::attest::tpm
