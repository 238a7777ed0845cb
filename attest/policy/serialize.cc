// PolicyToJson: the canonical JSON form of a parsed policy, the form `cloakctl policy set`
// stores.

#include "attest/policy/parse.h"
#include "attest/policy/parse_values.h"
#include "nlohmann/json.hpp"

namespace cloak::attest::policy {
namespace {

using internal::ToHex;
using nlohmann::ordered_json;

template <std::size_t N>
ordered_json HexList(const std::vector<std::array<std::uint8_t, N>>& values) {
  ordered_json list = ordered_json::array();
  for (const auto& value : values) list.push_back(ToHex(value));
  return list;
}

ordered_json PcrsJson(const PcrAllowList& pcrs) {
  ordered_json object = ordered_json::object();
  for (const auto& [index, values] : pcrs) object[std::to_string(index)] = HexList(values);
  return object;
}

ordered_json SnpJson(const SnpSection& snp) {
  ordered_json products = ordered_json::array();
  for (SnpProduct product : snp.products) products.push_back(ProductName(product));
  ordered_json section = {{"allow_debug", snp.allow_debug},
                          {"max_vmpl", snp.max_vmpl},
                          {"measurements", HexList(snp.measurements)},
                          {"min_tcb",
                           {{"bootloader", snp.min_tcb.bootloader},
                            {"tee", snp.min_tcb.tee},
                            {"snp", snp.min_tcb.snp},
                            {"microcode", snp.min_tcb.microcode},
                            {"fmc", snp.min_tcb.fmc}}}};
  // Optional allow-lists: absent means "any", and an empty list is not a valid document.
  if (!snp.chip_ids.empty()) section["chip_ids"] = HexList(snp.chip_ids);
  if (!snp.host_data.empty()) section["host_data"] = HexList(snp.host_data);
  if (!products.empty()) section["products"] = products;
  return section;
}

ordered_json RuleJson(const Rule& rule) {
  ordered_json json = {{"name", rule.name}, {"role", RoleName(rule.role)}};
  ordered_json match = ordered_json::object();
  const RuleMatch& m = rule.match;
  if (!m.tees.empty()) {
    ordered_json tees = ordered_json::array();
    for (Tee tee : m.tees) tees.push_back(TeeName(tee));
    match["tee"] = tees;
  }
  if (!m.measurements.empty()) match["measurements"] = HexList(m.measurements);
  if (!m.chip_ids.empty()) match["chip_ids"] = HexList(m.chip_ids);
  if (!m.host_data.empty()) match["host_data"] = HexList(m.host_data);
  if (!m.pcrs.empty()) match["pcrs"] = PcrsJson(m.pcrs);
  if (!m.ak_fingerprints.empty()) match["ak_fingerprints"] = HexList(m.ak_fingerprints);
  json["match"] = match;
  if (!rule.volume_labels.empty()) {
    ordered_json labels = ordered_json::object();
    for (const auto& [key, value] : rule.volume_labels) labels[key] = value;
    json["volumes"] = {{"labels", labels}};
  }
  return json;
}

}  // namespace

std::string PolicyToJson(const AttestationPolicy& policy) {
  ordered_json document = {{"version", kDocumentVersion}};
  if (policy.sev_snp) document["sev-snp"] = SnpJson(*policy.sev_snp);
  if (policy.tpm) {
    document["tpm"] = {{"pcrs", PcrsJson(policy.tpm->pcrs)},
                       {"trusted_aks", HexList(policy.tpm->trusted_aks)},
                       {"allow_ek_ca", policy.tpm->allow_ek_ca}};
  }
  if (policy.none) document["none"] = ordered_json::object();
  ordered_json rules = ordered_json::array();
  for (const Rule& rule : policy.rules) rules.push_back(RuleJson(rule));
  document["rules"] = rules;
  return document.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace cloak::attest::policy
