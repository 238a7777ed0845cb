#include "attest/policy/evaluate.h"

#include <openssl/sha.h>

#include "attest/policy/evaluate_internal.h"
#include "attest/policy/parse_values.h"
#include "fmt/format.h"

namespace cloak::attest::policy {
namespace internal {

absl::Status Denied(std::string_view path, std::string_view message) {
  return absl::PermissionDeniedError(fmt::format("{}: {}", path, message));
}

bool RuleCoversTee(const RuleMatch& match, Tee tee) {
  if (match.tees.empty()) return tee != Tee::kNone;
  return Contains(match.tees, tee);
}

bool PcrsMatch(const PcrAllowList& allowed,
               const std::map<std::uint32_t, std::vector<std::uint8_t>>& reported) {
  for (const auto& [index, values] : allowed) {
    auto it = reported.find(index);
    if (it == reported.end() || it->second.size() != Sha256().size()) return false;
    Sha256 value;
    std::copy(it->second.begin(), it->second.end(), value.begin());
    if (!Contains(values, value)) return false;
  }
  return true;
}

PolicyDecision Decide(Tee tee, const Rule& rule, const std::uint8_t* id, std::size_t id_size) {
  return PolicyDecision{.tee = tee,
                        .rule = rule.name,
                        .role = rule.role,
                        .identity = fmt::format("{}/{}@{}", RoleName(rule.role), rule.name,
                                                ToHex(id, std::min<std::size_t>(id_size, 8))),
                        .volume_labels = rule.volume_labels};
}

}  // namespace internal

namespace {

using internal::Denied;

constexpr std::size_t kMaxLabelInMessage = 64;

// Volume labels come from the control plane; keep them from garbling a message.
std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, kMaxLabelInMessage)) out.push_back(c >= ' ' && c < 0x7f ? c : '?');
  if (text.size() > kMaxLabelInMessage) out += "...";
  return out;
}

bool RoleMayCall(Role role, Operation operation) {
  switch (operation) {
    case Operation::kCreateKey:
    case Operation::kDestroyKey:
    case Operation::kCloneKey:
      return role == Role::kController;
    case Operation::kGetKey:
    case Operation::kReportState:
      return role == Role::kNode;
  }
  return false;
}

}  // namespace

absl::StatusOr<PolicyDecision> EvaluateNone(const AttestationPolicy& policy,
                                            std::string_view claimed_name,
                                            const EvaluationOptions& options) {
  if (!options.allow_insecure_none) {
    return Denied("none",
                  "unattested guests are refused; only a development key service started with "
                  "the insecure flag accepts them");
  }
  if (!policy.none) return Denied("none", "the policy has no none section");
  for (const Rule& rule : policy.rules) {
    const RuleMatch& m = rule.match;
    if (!internal::RuleCoversTee(m, Tee::kNone)) continue;
    if (!m.measurements.empty() || !m.chip_ids.empty() || !m.host_data.empty() || !m.pcrs.empty() ||
        !m.ak_fingerprints.empty()) {
      continue;
    }
    std::uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(claimed_name.data()), claimed_name.size(),
           digest);
    return internal::Decide(Tee::kNone, rule, digest, sizeof(digest));
  }
  return Denied("rules", "no rule lists tee: [none], so no unattested guest is accepted");
}

absl::Status AllowVolumeOperation(const AttestationPolicy& policy, std::string_view rule_name,
                                  Role role, Operation operation,
                                  const std::map<std::string, std::string>& volume_labels) {
  // The fixed role rule comes first: no document can let a controller receive a key.
  if (!RoleMayCall(role, operation)) {
    return absl::PermissionDeniedError(
        fmt::format("role {} may not call {}{}", RoleName(role), OperationName(operation),
                    role == Role::kController
                        ? ": controllers manage keys but never receive them"
                        : ": nodes receive keys but never create, clone or destroy them"));
  }
  for (std::size_t i = 0; i < policy.rules.size(); ++i) {
    const Rule& rule = policy.rules[i];
    if (rule.name != rule_name) continue;
    const std::string path = fmt::format("rules[{}]", i);
    if (rule.role != role) {
      return Denied(path, fmt::format("rule {} now gives role {}, not {}; attest again", rule.name,
                                      RoleName(rule.role), RoleName(role)));
    }
    for (const auto& [key, want] : rule.volume_labels) {
      const std::string label_path = fmt::format("{}.volumes.labels.{}", path, Printable(key));
      auto it = volume_labels.find(key);
      if (it == volume_labels.end()) {
        return Denied(label_path, fmt::format("the volume has no label {}; rule {} requires \"{}\"",
                                              Printable(key), rule.name, Printable(want)));
      }
      if (it->second != want) {
        return Denied(label_path,
                      fmt::format("the volume's label is \"{}\"; rule {} requires \"{}\"",
                                  Printable(it->second), rule.name, Printable(want)));
      }
    }
    return absl::OkStatus();
  }
  return Denied("rules", fmt::format("the policy has no rule \"{}\" (any more); attest again",
                                     Printable(rule_name)));
}

absl::StatusOr<ParsedIdentity> ParsePolicyIdentity(std::string_view identity) {
  const std::size_t slash = identity.find('/');
  const std::size_t at = identity.rfind('@');
  if (slash == std::string_view::npos || at == std::string_view::npos || at < slash + 2 ||
      identity.size() - at - 1 != 16) {
    return absl::InvalidArgumentError(fmt::format(
        "identity \"{}\": expected <role>/<rule>@<16 hex digits>", Printable(identity)));
  }
  ParsedIdentity parsed;
  const std::string_view role = identity.substr(0, slash);
  if (role == "node") {
    parsed.role = Role::kNode;
  } else if (role == "controller") {
    parsed.role = Role::kController;
  } else {
    return absl::InvalidArgumentError(
        fmt::format("identity \"{}\": unknown role", Printable(identity)));
  }
  parsed.rule = std::string(identity.substr(slash + 1, at - slash - 1));
  parsed.suffix = std::string(identity.substr(at + 1));
  std::uint8_t bytes[8];
  if (!internal::DecodeHex(parsed.suffix, bytes, sizeof(bytes))) {
    return absl::InvalidArgumentError(
        fmt::format("identity \"{}\": expected 16 hex digits after @", Printable(identity)));
  }
  return parsed;
}

}  // namespace cloak::attest::policy
