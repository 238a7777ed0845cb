#pragma once

// Built-in policies for offline checks (`cloakctl attest verify` without --policy). Never
// the key service's policy: it reads the stored document.

#include <vector>

#include "attest/policy/policy.h"

namespace cloak::attest::policy {

// SEV-SNP: debug forbidden, VMPL 0, no TCB minimum and no measurement restriction; TPM:
// AKs trusted through the EK CA, no PCR restriction. One rule, "default", role node.
// Evaluate it with EvaluationOptions{.require_allow_list = false}. Thread-safe.
AttestationPolicy PolicyDefault();

// PolicyDefault() with the SEV-SNP launch measurements restricted to `measurements`
// (none: unrestricted) and debugging allowed when `allow_debug`. Thread-safe.
AttestationPolicy DefaultOfflinePolicy(const std::vector<Sha384>& measurements, bool allow_debug);

}  // namespace cloak::attest::policy
