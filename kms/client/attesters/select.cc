#include "kms/client/attesters/select.h"

#include <sys/stat.h>

#include "fmt/format.h"
#include "kms/client/attesters/snp_attester.h"
#include "kms/client/attesters/tpm_attester.h"

namespace cloak::kms::client {
namespace {

bool IsCharacterDevice(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

absl::StatusOr<std::unique_ptr<Attester>> OpenTpm(const AttesterOptions& options) {
  const std::string tcti =
      options.tpm_tcti.empty() ? "device:" + options.tpm_device : options.tpm_tcti;
  absl::StatusOr<std::unique_ptr<TpmAttester>> tpm = TpmAttester::Open(tcti, options.tpm);
  if (!tpm.ok()) return tpm.status();
  return std::unique_ptr<Attester>(*std::move(tpm));
}

absl::StatusOr<std::unique_ptr<Attester>> OpenSnp(const AttesterOptions& options) {
  absl::StatusOr<std::unique_ptr<SnpAttester>> snp = SnpAttester::Detect(options.snp);
  if (!snp.ok()) return snp.status();
  return std::unique_ptr<Attester>(*std::move(snp));
}

}  // namespace

absl::StatusOr<AttesterChoice> ParseAttesterChoice(std::string_view text) {
  if (text == "auto") return AttesterChoice::kAuto;
  if (text == "sev-snp") return AttesterChoice::kSevSnp;
  if (text == "tpm") return AttesterChoice::kTpm;
  if (text == "none") return AttesterChoice::kNone;
  return absl::InvalidArgumentError(
      fmt::format("--attester: \"{}\" is not one of auto, sev-snp, tpm, none", text));
}

AttesterChoice DetectTee(const AttesterOptions& options) {
  if (attest::snp::DetectSnp(options.snp) != attest::snp::SnpInterface::kNone) {
    return AttesterChoice::kSevSnp;
  }
  if (IsCharacterDevice(options.tpm_device)) return AttesterChoice::kTpm;
  return AttesterChoice::kNone;
}

absl::StatusOr<std::unique_ptr<Attester>> SelectAttester(const AttesterOptions& options) {
  switch (options.choice) {
    case AttesterChoice::kNone:
      if (!options.insecure_allow_unattested) {
        return absl::FailedPreconditionError(
            "--attester none presents no evidence and is for development only; it needs "
            "--insecure-allow-unattested too");
      }
      return std::unique_ptr<Attester>(std::make_unique<NoneAttester>(options.none_identity));
    case AttesterChoice::kSevSnp:
      return OpenSnp(options);
    case AttesterChoice::kTpm:
      if (options.tpm_tcti.empty() && !IsCharacterDevice(options.tpm_device)) {
        return absl::FailedPreconditionError(fmt::format(
            "--attester tpm: {} is not a TPM device; give the VM a (v)TPM or point the TPM "
            "option at it",
            options.tpm_device));
      }
      return OpenTpm(options);
    case AttesterChoice::kAuto:
      break;
  }
  switch (DetectTee(options)) {
    case AttesterChoice::kSevSnp:
      return OpenSnp(options);
    case AttesterChoice::kTpm:
      return OpenTpm(options);
    default:
      return absl::FailedPreconditionError(fmt::format(
          "no TEE evidence on this machine: neither SEV-SNP ({} with provider sev_guest, or "
          "{}) nor a TPM ({}); run in a confidential VM, or choose with --attester",
          options.snp.configfs_root, options.snp.device, options.tpm_device));
  }
}

}  // namespace cloak::kms::client
