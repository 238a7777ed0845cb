#include "attest/policy/parse.h"

#include "attest/policy/parse_sections.h"
#include "fmt/format.h"

namespace cloak::attest::policy {
namespace {

using internal::ErrorList;
using internal::YamlNode;

// Reads the whole document, recording every error; the policy is meaningful only when
// `errors` stays empty.
AttestationPolicy ReadDocument(std::string_view document, ErrorList& errors) {
  AttestationPolicy policy;
  absl::StatusOr<YamlNode> root = internal::LoadYaml(document);
  if (!root.ok()) {
    errors.Add("", std::string(root.status().message()));
    return policy;
  }
  if (root->kind != YamlNode::Kind::kMap) {
    errors.Add("", "the document must be a mapping with version, sections and rules");
    return policy;
  }
  // The version decides how everything else reads, so look at it first.
  const YamlNode* version = nullptr;
  for (const auto& [key, value] : root->entries) {
    if (key == "version") version = &value;
  }
  if (version == nullptr) {
    errors.Add("version", fmt::format("required: write `version: {}`", kDocumentVersion));
    return policy;
  }
  if (version->kind != YamlNode::Kind::kScalar || !version->plain ||
      version->scalar != std::to_string(kDocumentVersion)) {
    errors.Add("version", fmt::format("unsupported document version; this build reads version {}",
                                      kDocumentVersion));
    return policy;
  }
  // Sections before rules: rules are checked against the sections present.
  const YamlNode* rules = nullptr;
  internal::ReadMap(
      *root, "", {"version", "sev-snp", "tpm", "none", "rules"},
      [&](std::string_view key, const YamlNode& value, const std::string& path) {
        if (key == "sev-snp") policy.sev_snp = internal::ReadSnpSection(value, path, errors);
        if (key == "tpm") policy.tpm = internal::ReadTpmSection(value, path, errors);
        if (key == "none") policy.none = internal::ReadNoneSection(value, path, errors);
        if (key == "rules") rules = &value;
      },
      errors);
  if (!policy.sev_snp && !policy.tpm && !policy.none) {
    errors.Add("", "the policy has no sev-snp, tpm or none section, so it accepts no guest");
  }
  if (rules == nullptr) {
    errors.Add("rules", "required: the list of rules that give attested guests a role");
  } else {
    policy.rules = internal::ReadRules(*rules, "rules", policy, errors);
  }
  return policy;
}

}  // namespace

std::string PolicyError::ToString() const {
  return path.empty() ? message : fmt::format("{}: {}", path, message);
}

absl::StatusOr<AttestationPolicy> ParsePolicy(std::string_view document) {
  ErrorList errors;
  AttestationPolicy policy = ReadDocument(document, errors);
  if (errors.empty()) return policy;
  const std::size_t total = errors.total();
  std::vector<PolicyError> list = errors.Take();
  std::string message = list.front().ToString();
  if (total > 1) {
    message += fmt::format(" (and {} more; `cloakctl policy validate` lists them)", total - 1);
  }
  return absl::InvalidArgumentError(message);
}

std::vector<PolicyError> ValidatePolicy(std::string_view document) {
  ErrorList errors;
  ReadDocument(document, errors);
  return errors.Take();
}

}  // namespace cloak::attest::policy
