#include "tests/crypt/header_tampers.h"

#include <ostream>

namespace cloak::crypt::testing {

using nlohmann::json;

void PrintTo(const HeaderTamper& tamper, std::ostream* os) { *os << tamper.name; }

std::vector<HeaderTamper> HeaderTampers(IntegrityMode mode) {
  std::vector<HeaderTamper> all = {
      {"SegmentCipherNull", "segments.0.encryption",
       [](json& j) { j["segments"]["0"]["encryption"] = "cipher_null-ecb"; }},
      {"SegmentOtherCipher", "segments.0.encryption",
       [](json& j) { j["segments"]["0"]["encryption"] = "serpent-xts-plain64"; }},
      {"SegmentSectorSize", "segments.0.sector_size",
       [](json& j) { j["segments"]["0"]["sector_size"] = 512; }},
      {"SegmentIntegrityRemoved", "segments.0.integrity",
       [](json& j) { j["segments"]["0"].erase("integrity"); }, true, false},
      {"SegmentIntegrityAdded", "segments.0.integrity",
       [](json& j) {
         j["segments"]["0"]["integrity"] = {{"type", "hmac(sha256)"},
                                            {"journal_encryption", "none"},
                                            {"journal_integrity", "none"}};
       },
       false, true},
      {"SegmentDataOffsetMoved", "segments.0.offset",
       [](json& j) { j["segments"]["0"]["offset"] = "33554432"; }},
      {"SegmentFixedSize", "segments.0.size",
       [](json& j) { j["segments"]["0"]["size"] = "1048576"; }},
      {"SegmentIvTweak", "segments.0.iv_tweak",
       [](json& j) { j["segments"]["0"]["iv_tweak"] = "4096"; }},
      {"SegmentFlags", "segments.0.flags",
       [](json& j) { j["segments"]["0"]["flags"] = json::array({"cloak-extra"}); }},
      {"ExtraSegment", "segments",
       [](json& j) {
         json second = j["segments"]["0"];
         j["segments"]["0"]["size"] = "1048576";
         second["offset"] = "17825792";  // right after the first one
         j["segments"]["1"] = second;
         j["digests"]["0"]["segments"] = json::array({"0", "1"});
       }},
      {"ExtraKeyslot", "keyslots",
       [](json& j) {
         json second = j["keyslots"]["0"];
         const auto offset = std::stoull(j["keyslots"]["0"]["area"]["offset"].get<std::string>());
         const auto size = std::stoull(j["keyslots"]["0"]["area"]["size"].get<std::string>());
         second["area"]["offset"] = std::to_string(offset + size);
         j["keyslots"]["1"] = second;
         j["digests"]["0"]["keyslots"] = json::array({"0", "1"});
       }},
      {"KeyslotCipherNull", "keyslots.0.area.encryption",
       [](json& j) { j["keyslots"]["0"]["area"]["encryption"] = "cipher_null-ecb"; }},
      {"KeyslotKdfIterations", "keyslots.0.kdf.iterations",
       [](json& j) { j["keyslots"]["0"]["kdf"]["iterations"] = 2000; }},
      {"KeyslotKdfArgon2", "keyslots.0.kdf.type",
       [](json& j) {
         json& kdf = j["keyslots"]["0"]["kdf"];
         kdf = {
             {"type", "argon2id"}, {"time", 4}, {"memory", 32}, {"cpus", 1}, {"salt", kdf["salt"]}};
       }},
      {"KeyslotKdfHash", "keyslots.0.kdf.hash",
       [](json& j) { j["keyslots"]["0"]["kdf"]["hash"] = "sha1"; }},
      {"KeyslotAfStripes", "keyslots.0.af.stripes",
       [](json& j) { j["keyslots"]["0"]["af"]["stripes"] = 2000; }},
      {"KeyslotPriority", "keyslots.0.priority",
       [](json& j) { j["keyslots"]["0"]["priority"] = 2; }},
      {"ExtraToken", "tokens",
       [](json& j) {
         j["tokens"]["0"] = {{"type", "luks2-keyring"},
                             {"keyslots", json::array({"0"})},
                             {"key_description", "cloak-test"}};
       }},
      {"DigestIterations", "digests.0.iterations",
       [](json& j) { j["digests"]["0"]["iterations"] = 5000; }},
      {"DigestWithoutSegment", "digests.0.segments",
       [](json& j) { j["digests"]["0"]["segments"] = json::array(); }},
      {"DigestWithoutKeyslot", "digests.0.keyslots",
       [](json& j) { j["digests"]["0"]["keyslots"] = json::array(); }},
      {"ConfigFlags", "config.flags",
       [](json& j) { j["config"]["flags"] = json::array({"allow-discards"}); }},
      {"ConfigRequirements", "config.requirements",
       [](json& j) {
         j["config"]["requirements"] = {{"mandatory", json::array({"cloak-unknown"})}};
       }},
  };
  std::vector<HeaderTamper> applicable;
  for (HeaderTamper& tamper : all) {
    const bool integrity = mode != IntegrityMode::kNone;
    if ((integrity && tamper.for_integrity) || (!integrity && tamper.for_plain)) {
      applicable.push_back(std::move(tamper));
    }
  }
  return applicable;
}

}  // namespace cloak::crypt::testing
