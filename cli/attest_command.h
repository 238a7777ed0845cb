#pragma once

// `cloakctl attest verify`: offline verification of SEV-SNP or TPM evidence with the key
// service's own verifiers (attest/snp, attest/tpm) and policy evaluation (attest/policy).
// Needs no key service and no config file. Prints one JSON document on stdout: the verified
// claims and a verdict (docs/cloakctl.md, "attest verify").

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"

namespace cloak::cli {

struct AttestCommandDeps {
  std::function<absl::Time()> now;  // the verification time when --at is not given
  std::ostream* out = nullptr;      // the JSON document; must outlive the action
  std::ostream* err = nullptr;      // refusals, warnings, usage errors
};

// The command line of `attest verify`, as parsed; files are read by RunAttestVerify.
struct AttestVerifyArgs {
  std::string type;           // "sev-snp" or "tpm"
  std::string evidence_path;  // raw report or SevSnpEvidence (sev-snp); TpmEvidence (tpm)
  std::string vcek_path;      // sev-snp: DER or PEM VCEK; empty: from the evidence
  std::string roots_path;     // sev-snp: PEM ASK then ARK; empty: from the evidence
  std::string policy_path;    // attestation policy document; empty: the default offline policy
  std::vector<std::string> measurements;     // sev-snp, default policy: 96 hex digits each
  bool allow_debug = false;                  // sev-snp, default policy
  std::string report_data;                   // 128 (sev-snp) or 64 (tpm) hex digits; empty: skip
  std::string at;                            // RFC 3339; empty: deps.now()
  std::vector<std::string> ak_fingerprints;  // tpm, default policy: pinned AKs, 64 hex digits
  std::string output = "json";               // -o: JSON is the only output
};

// Verifies the evidence and judges it. kExitOk when accepted; kExitFailed when refused (the
// document names the failed check, and so does a line on deps.err); kExitUsage, with nothing
// on deps.out, when an option is wrong or a file given cannot be read or is not what it
// should be. Thread-compatible.
int RunAttestVerify(const AttestVerifyArgs& args, const AttestCommandDeps& deps);

// Adds `attest verify` to `app`. Choosing it sets `action` to a function that runs it and
// returns the exit code. `app` must outlive `action`.
void AddAttestCommands(CLI::App& app, AttestCommandDeps deps, std::function<int()>& action);

}  // namespace cloak::cli
