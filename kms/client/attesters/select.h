#pragma once

// SelectAttester: which evidence a plugin presents. `auto` detects the TEE — an SEV-SNP
// guest (configfs-tsm or /dev/sev-guest) first, since its report is rooted in the chip;
// otherwise a TPM (/dev/tpmrm0, a vTPM in a measured VM); otherwise nothing, which is an
// error rather than a silent fallback. An explicit choice overrides detection. The
// development `none` attester is given only when the caller also passes the insecure flag.
// Target cloak::kms_client_attesters.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "attest/snp/detect.h"
#include "attest/tpm/tpm_collector.h"
#include "kms/client/attester.h"

namespace cloak::kms::client {

enum class AttesterChoice { kAuto, kSevSnp, kTpm, kNone };

// "auto", "sev-snp", "tpm", "none"; INVALID_ARGUMENT naming the flag for anything else.
absl::StatusOr<AttesterChoice> ParseAttesterChoice(std::string_view text);

struct AttesterOptions {
  AttesterChoice choice = AttesterChoice::kAuto;
  attest::snp::SnpPaths snp;               // where SEV-SNP's interfaces live
  std::string tpm_device = "/dev/tpmrm0";  // detection looks for it
  std::string tpm_tcti;                    // empty: "device:" + tpm_device
  attest::tpm::TpmCollectorOptions tpm;    // AK handle, PCR selection
  bool insecure_allow_unattested = false;  // required for kNone
  std::string none_identity;               // kNone: the identity claimed
};

// What `auto` finds, without opening anything: kSevSnp, kTpm, or kNone when neither.
AttesterChoice DetectTee(const AttesterOptions& options);

// The attester for `options`. FAILED_PRECONDITION when auto finds no TEE or an explicit
// one is absent (naming what was looked for and the flag that overrides), or for `none`
// without the insecure flag; otherwise the collector's own codes.
absl::StatusOr<std::unique_ptr<Attester>> SelectAttester(const AttesterOptions& options);

}  // namespace cloak::kms::client
