#include "attest/policy/parse_sections.h"

#include <set>

#include "fmt/format.h"

namespace cloak::attest::policy::internal {
namespace {

constexpr std::uint32_t kMaxPcrIndex = 23;
constexpr std::uint32_t kMaxVmpl = 3;

std::optional<SnpProduct> ProductFromName(std::string_view name) {
  for (SnpProduct product : {SnpProduct::kMilan, SnpProduct::kGenoa, SnpProduct::kTurin}) {
    if (ProductName(product) == name) return product;
  }
  return std::nullopt;
}

std::uint8_t ReadTcbComponent(const YamlNode& node, const std::string& path, ErrorList& errors) {
  return static_cast<std::uint8_t>(ReadUint(node, path, 255, errors).value_or(0));
}

SnpMinTcb ReadMinTcb(const YamlNode& node, const std::string& path, ErrorList& errors) {
  SnpMinTcb tcb;
  ReadMap(
      node, path, {"bootloader", "tee", "snp", "microcode", "fmc"},
      [&](std::string_view key, const YamlNode& value, const std::string& key_path) {
        const std::uint8_t component = ReadTcbComponent(value, key_path, errors);
        if (key == "bootloader") tcb.bootloader = component;
        if (key == "tee") tcb.tee = component;
        if (key == "snp") tcb.snp = component;
        if (key == "microcode") tcb.microcode = component;
        if (key == "fmc") tcb.fmc = component;
      },
      errors);
  return tcb;
}

}  // namespace

SnpSection ReadSnpSection(const YamlNode& node, const std::string& path, ErrorList& errors) {
  SnpSection section;
  bool have_measurements = false;
  const bool is_map = ReadMap(
      node, path,
      {"allow_debug", "max_vmpl", "measurements", "min_tcb", "chip_ids", "host_data", "products"},
      [&](std::string_view key, const YamlNode& value, const std::string& key_path) {
        if (key == "allow_debug") {
          section.allow_debug = ReadBool(value, key_path, errors).value_or(false);
        } else if (key == "max_vmpl") {
          section.max_vmpl =
              static_cast<std::uint32_t>(ReadUint(value, key_path, kMaxVmpl, errors).value_or(0));
        } else if (key == "measurements") {
          have_measurements = true;
          section.measurements = ReadHexList<48>(value, key_path, false, errors);
        } else if (key == "min_tcb") {
          section.min_tcb = ReadMinTcb(value, key_path, errors);
        } else if (key == "chip_ids") {
          section.chip_ids = ReadHexList<64>(value, key_path, false, errors);
        } else if (key == "host_data") {
          section.host_data = ReadHexList<32>(value, key_path, false, errors);
        } else if (key == "products") {
          ReadList(
              value, key_path, false,
              [&](const YamlNode& item, const std::string& item_path) {
                std::optional<std::string> name = ReadString(item, item_path, errors);
                if (!name) return false;
                std::optional<SnpProduct> product = ProductFromName(*name);
                if (!product) {
                  errors.Add(item_path, "unknown product; expected milan, genoa or turin");
                  return false;
                }
                section.products.push_back(*product);
                return true;
              },
              errors);
        }
      },
      errors);
  if (node.kind == YamlNode::Kind::kMap && is_map && !have_measurements) {
    errors.Add(JoinPath(path, "measurements"),
               "required: list the launch measurements (96 hex digits each) of the guest "
               "images to accept");
  }
  return section;
}

PcrAllowList ReadPcrs(const YamlNode& node, const std::string& path, ErrorList& errors) {
  PcrAllowList pcrs;
  if (node.kind != YamlNode::Kind::kMap) {
    errors.Add(path, "expected a mapping of PCR index to a list of values");
    return pcrs;
  }
  if (node.entries.empty()) errors.Add(path, "must not be empty");
  for (const auto& [key, value] : node.entries) {
    const std::string key_path = JoinPath(path, key);
    std::uint64_t index = 0;
    YamlNode key_node;
    key_node.kind = YamlNode::Kind::kScalar;
    key_node.scalar = key;
    key_node.plain = true;
    ErrorList ignored;
    std::optional<std::uint64_t> parsed = ReadUint(key_node, key_path, kMaxPcrIndex, ignored);
    if (!parsed) {
      errors.Add(key_path, "expected a PCR index 0..23");
      continue;
    }
    index = *parsed;
    // "7" and "07" are the same PCR; a document must not list one twice.
    if (pcrs.contains(static_cast<std::uint32_t>(index))) {
      errors.Add(key_path, fmt::format("PCR {} is listed twice", index));
      continue;
    }
    pcrs[static_cast<std::uint32_t>(index)] = ReadHexList<32>(value, key_path, false, errors);
  }
  return pcrs;
}

TpmSection ReadTpmSection(const YamlNode& node, const std::string& path, ErrorList& errors) {
  TpmSection section;
  bool have_pcrs = false;
  const bool is_map = ReadMap(
      node, path, {"pcrs", "trusted_aks", "allow_ek_ca"},
      [&](std::string_view key, const YamlNode& value, const std::string& key_path) {
        if (key == "pcrs") {
          have_pcrs = true;
          section.pcrs = ReadPcrs(value, key_path, errors);
        } else if (key == "trusted_aks") {
          section.trusted_aks = ReadHexList<32>(value, key_path, true, errors);
        } else if (key == "allow_ek_ca") {
          section.allow_ek_ca = ReadBool(value, key_path, errors).value_or(false);
        }
      },
      errors);
  if (node.kind != YamlNode::Kind::kMap || !is_map) return section;
  if (!have_pcrs) {
    errors.Add(JoinPath(path, "pcrs"),
               "required: list the PCR values (SHA-256 bank) of the guest images to accept");
  }
  if (section.trusted_aks.empty() && !section.allow_ek_ca) {
    errors.Add(JoinPath(path, "trusted_aks"),
               "no attestation key can be trusted: pin AK fingerprints here or set "
               "allow_ek_ca: true");
  }
  return section;
}

NoneSection ReadNoneSection(const YamlNode& node, const std::string& path, ErrorList& errors) {
  ReadMap(
      node, path, {}, [](std::string_view, const YamlNode&, const std::string&) {}, errors);
  return NoneSection{};
}

}  // namespace cloak::attest::policy::internal
