#pragma once

// Readers for the parts of the policy document: the TEE sections and the rules. Each
// records its errors and returns what it could read. Internal to attest/policy.

#include <string>

#include "attest/policy/parse_values.h"
#include "attest/policy/policy.h"

namespace cloak::attest::policy::internal {

// `sev-snp:`.
SnpSection ReadSnpSection(const YamlNode& node, const std::string& path, ErrorList& errors);
// `tpm:`.
TpmSection ReadTpmSection(const YamlNode& node, const std::string& path, ErrorList& errors);
// `none:` (an empty mapping).
NoneSection ReadNoneSection(const YamlNode& node, const std::string& path, ErrorList& errors);
// A mapping PCR index (0..23) -> non-empty list of SHA-256 values (tpm.pcrs, match.pcrs).
PcrAllowList ReadPcrs(const YamlNode& node, const std::string& path, ErrorList& errors);
// `rules:`, checked against the sections already read into `policy`.
std::vector<Rule> ReadRules(const YamlNode& node, const std::string& path,
                            const AttestationPolicy& policy, ErrorList& errors);

}  // namespace cloak::attest::policy::internal
