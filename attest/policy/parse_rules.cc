// The `rules:` list of the policy document: names, roles, match narrowing and volume
// selectors, and the checks that make a rule consistent with the sections.

#include <map>
#include <set>

#include "attest/policy/parse_sections.h"
#include "fmt/format.h"

namespace cloak::attest::policy::internal {
namespace {

constexpr std::size_t kMaxRuleName = 63;

bool ValidRuleName(std::string_view name) {
  if (name.empty() || name.size() > kMaxRuleName) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool ValidLabelText(std::string_view text, bool allow_empty) {
  if (text.size() > kMaxLabelBytes || (text.empty() && !allow_empty)) return false;
  for (char c : text) {
    if (c <= ' ' || c >= 0x7f) return false;
  }
  return true;
}

std::optional<Tee> TeeFromName(std::string_view name) {
  for (Tee tee : {Tee::kSevSnp, Tee::kTpm, Tee::kNone}) {
    if (TeeName(tee) == name) return tee;
  }
  return std::nullopt;
}

bool HasSection(const AttestationPolicy& policy, Tee tee) {
  switch (tee) {
    case Tee::kSevSnp:
      return policy.sev_snp.has_value();
    case Tee::kTpm:
      return policy.tpm.has_value();
    case Tee::kNone:
      return policy.none.has_value();
  }
  return false;
}

std::vector<Tee> ReadTees(const YamlNode& node, const std::string& path,
                          const AttestationPolicy& policy, ErrorList& errors) {
  std::vector<Tee> tees;
  ReadList(
      node, path, false,
      [&](const YamlNode& item, const std::string& item_path) {
        std::optional<std::string> name = ReadString(item, item_path, errors);
        if (!name) return false;
        std::optional<Tee> tee = TeeFromName(*name);
        if (!tee) {
          errors.Add(item_path, "unknown TEE; expected sev-snp, tpm or none");
          return false;
        }
        if (!HasSection(policy, *tee)) {
          errors.Add(item_path, fmt::format("the policy has no {} section, so no {} guest passes; "
                                            "add the section or drop it here",
                                            *name, *name));
          return false;
        }
        tees.push_back(*tee);
        return true;
      },
      errors);
  return tees;
}

bool Lists(const std::vector<Tee>& tees, Tee tee) {
  for (Tee listed : tees) {
    if (listed == tee) return true;
  }
  return false;
}

// Fields of one TEE kind must not appear in a rule that cannot match that kind.
void CheckMatchConsistency(const RuleMatch& match, const std::string& path, ErrorList& errors) {
  std::vector<std::string> snp_fields, tpm_fields;
  if (!match.measurements.empty()) snp_fields.push_back("measurements");
  if (!match.chip_ids.empty()) snp_fields.push_back("chip_ids");
  if (!match.host_data.empty()) snp_fields.push_back("host_data");
  if (!match.pcrs.empty()) tpm_fields.push_back("pcrs");
  if (!match.ak_fingerprints.empty()) tpm_fields.push_back("ak_fingerprints");
  if (!snp_fields.empty() && !tpm_fields.empty()) {
    errors.Add(path, fmt::format("mixes sev-snp fields ({}) with tpm fields ({}), so no guest can "
                                 "match; split it into two rules",
                                 fmt::join(snp_fields, ", "), fmt::join(tpm_fields, ", ")));
    return;
  }
  const bool all_tees = match.tees.empty();
  if (!snp_fields.empty() && !all_tees && !Lists(match.tees, Tee::kSevSnp)) {
    errors.Add(JoinPath(path, snp_fields.front()),
               "a sev-snp field, but match.tee does not list sev-snp");
  }
  if (!tpm_fields.empty() && !all_tees && !Lists(match.tees, Tee::kTpm)) {
    errors.Add(JoinPath(path, tpm_fields.front()), "a tpm field, but match.tee does not list tpm");
  }
}

RuleMatch ReadMatch(const YamlNode& node, const std::string& path, const AttestationPolicy& policy,
                    ErrorList& errors) {
  RuleMatch match;
  const bool ok = ReadMap(
      node, path, {"tee", "measurements", "chip_ids", "host_data", "pcrs", "ak_fingerprints"},
      [&](std::string_view key, const YamlNode& value, const std::string& key_path) {
        if (key == "tee") match.tees = ReadTees(value, key_path, policy, errors);
        if (key == "measurements")
          match.measurements = ReadHexList<48>(value, key_path, false, errors);
        if (key == "chip_ids") match.chip_ids = ReadHexList<64>(value, key_path, false, errors);
        if (key == "host_data") match.host_data = ReadHexList<32>(value, key_path, false, errors);
        if (key == "pcrs") match.pcrs = ReadPcrs(value, key_path, errors);
        if (key == "ak_fingerprints") {
          match.ak_fingerprints = ReadHexList<32>(value, key_path, false, errors);
        }
      },
      errors);
  if (ok) CheckMatchConsistency(match, path, errors);
  return match;
}

std::map<std::string, std::string> ReadVolumes(const YamlNode& node, const std::string& path,
                                               ErrorList& errors) {
  std::map<std::string, std::string> labels;
  ReadMap(
      node, path, {"labels"},
      [&](std::string_view, const YamlNode& value, const std::string& labels_path) {
        if (value.kind != YamlNode::Kind::kMap) {
          errors.Add(labels_path, "expected a mapping of label key to value");
          return;
        }
        if (value.entries.empty()) {
          errors.Add(labels_path, "must not be empty; leave `volumes` out to allow any volume");
        }
        for (const auto& [key, label] : value.entries) {
          const std::string label_path = JoinPath(labels_path, key);
          if (!ValidLabelText(key, false)) {
            errors.Add(label_path, "label keys are 1..253 printable characters without spaces");
            continue;
          }
          std::optional<std::string> text = ReadString(label, label_path, errors);
          if (!text) continue;
          if (!ValidLabelText(*text, true)) {
            errors.Add(label_path, "label values are 0..253 printable characters without spaces");
            continue;
          }
          labels[key] = *text;
        }
      },
      errors);
  return labels;
}

}  // namespace

std::vector<Rule> ReadRules(const YamlNode& node, const std::string& path,
                            const AttestationPolicy& policy, ErrorList& errors) {
  std::vector<Rule> rules;
  std::map<std::string, std::size_t> seen;  // rule name -> index
  if (node.kind == YamlNode::Kind::kList && node.items.size() > kMaxRules) {
    errors.Add(path, fmt::format("more than {} rules", kMaxRules));
    return rules;
  }
  ReadList(
      node, path, true,
      [&](const YamlNode& item, const std::string& rule_path) {
        Rule rule;
        bool have_name = false, have_role = false;
        const bool ok = ReadMap(
            item, rule_path, {"name", "role", "match", "volumes"},
            [&](std::string_view key, const YamlNode& value, const std::string& key_path) {
              if (key == "name") {
                have_name = true;
                std::optional<std::string> name = ReadString(value, key_path, errors);
                if (!name) return;
                if (!ValidRuleName(*name)) {
                  errors.Add(key_path, "rule names are 1..63 characters of a-z, 0-9 and -");
                  return;
                }
                auto [it, inserted] = seen.emplace(*name, rules.size());
                if (!inserted) {
                  errors.Add(key_path, fmt::format("duplicate rule name \"{}\" (also rules[{}])",
                                                   *name, it->second));
                }
                rule.name = *name;
              } else if (key == "role") {
                have_role = true;
                std::optional<std::string> role = ReadString(value, key_path, errors);
                if (!role) return;
                if (*role == "node") {
                  rule.role = Role::kNode;
                } else if (*role == "controller") {
                  rule.role = Role::kController;
                } else {
                  errors.Add(key_path, "unknown role; expected node or controller");
                }
              } else if (key == "match") {
                rule.match = ReadMatch(value, key_path, policy, errors);
              } else if (key == "volumes") {
                rule.volume_labels = ReadVolumes(value, key_path, errors);
              }
            },
            errors);
        if (item.kind == YamlNode::Kind::kMap) {
          if (!have_name) errors.Add(JoinPath(rule_path, "name"), "required");
          if (!have_role) errors.Add(JoinPath(rule_path, "role"), "required: node or controller");
        }
        rules.push_back(std::move(rule));
        return ok;
      },
      errors);
  return rules;
}

}  // namespace cloak::attest::policy::internal
