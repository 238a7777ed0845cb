#pragma once

// The attestation policy (docs/attestation-policy.md): which verified guests the key
// service accepts, which role each earns, and which volumes it may touch. A value type:
// parsed once from the stored document (attest/policy/parse.h), then judged against
// verified claims (attest/policy/evaluate.h). Immutable after parsing, so it may be
// shared between threads.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/claims.h"

namespace cloak::attest::policy {

// The key-store name the document is kept under (kms/store/policy.h).
inline constexpr std::string_view kPolicyName = "attestation";
// The document schema version this build reads and writes.
inline constexpr int kDocumentVersion = 1;

// What an identity may do; the same names and meaning as kms::Role / kms::Operation.
enum class Role { kNode, kController };
enum class Operation { kCreateKey, kGetKey, kReportState, kDestroyKey, kCloneKey };
// The evidence kinds a policy judges. kNone is development only (no evidence at all).
enum class Tee { kSevSnp, kTpm, kNone };

// "node", "controller".
std::string_view RoleName(Role role);
// "CreateVolumeKey", "GetVolumeKey", ... (the key-service RPC names).
std::string_view OperationName(Operation operation);
// "sev-snp", "tpm", "none" (the document's spelling).
std::string_view TeeName(Tee tee);
// "milan", "genoa", "turin".
std::string_view ProductName(SnpProduct product);

using Sha256 = std::array<std::uint8_t, 32>;
using Sha384 = std::array<std::uint8_t, 48>;
using ChipId = std::array<std::uint8_t, 64>;
// PCR index (0..23) -> the values it may hold (SHA-256 bank).
using PcrAllowList = std::map<std::uint32_t, std::vector<Sha256>>;

// Minimum SEV-SNP TCB components, compared with the report's REPORTED_TCB (the TCB the
// VCEK was derived for; firmware keeps it <= COMMITTED_TCB <= CURRENT_TCB). 0: no minimum.
struct SnpMinTcb {
  std::uint8_t bootloader = 0;
  std::uint8_t tee = 0;
  std::uint8_t snp = 0;
  std::uint8_t microcode = 0;
  std::uint8_t fmc = 0;  // judged on Turin only; the other products have no FMC

  friend bool operator==(const SnpMinTcb&, const SnpMinTcb&) = default;
};

// `sev-snp:` — every SEV-SNP guest must pass all of it before any rule is tried.
struct SnpSection {
  bool allow_debug = false;
  std::uint32_t max_vmpl = 0;
  std::vector<Sha384> measurements;  // launch measurements; must not be empty in a document
  SnpMinTcb min_tcb;
  std::vector<ChipId> chip_ids;      // empty: any chip
  std::vector<Sha256> host_data;     // empty: any HOST_DATA
  std::vector<SnpProduct> products;  // empty: any product

  friend bool operator==(const SnpSection&, const SnpSection&) = default;
};

// `tpm:` — every TPM guest must pass all of it before any rule is tried.
struct TpmSection {
  PcrAllowList pcrs;                // must not be empty in a document
  std::vector<Sha256> trusted_aks;  // pinned AK fingerprints (TpmClaims::ak_fingerprint)
  bool allow_ek_ca = false;         // also accept AKs the verifier trusted through an EK CA

  friend bool operator==(const TpmSection&, const TpmSection&) = default;
};

// `none:` — unattested development guests. Refused unless evaluation is told otherwise.
struct NoneSection {
  friend bool operator==(const NoneSection&, const NoneSection&) = default;
};

// A rule's `match:` — narrows the sections; every field given must hold. Empty lists mean
// "not given". SEV-SNP fields never match TPM evidence and the other way round.
struct RuleMatch {
  std::vector<Tee> tees;                // empty: sev-snp or tpm (never none)
  std::vector<Sha384> measurements;     // sev-snp
  std::vector<ChipId> chip_ids;         // sev-snp
  std::vector<Sha256> host_data;        // sev-snp
  PcrAllowList pcrs;                    // tpm
  std::vector<Sha256> ak_fingerprints;  // tpm

  friend bool operator==(const RuleMatch&, const RuleMatch&) = default;
};

// One entry of `rules:`. The first rule that matches a guest decides its role.
struct Rule {
  std::string name;  // [a-z0-9-]{1,63}, unique in the document
  Role role = Role::kNode;
  RuleMatch match;
  // `volumes.labels`: every label must be on the volume with this value. Empty: any volume.
  std::map<std::string, std::string> volume_labels;

  friend bool operator==(const Rule&, const Rule&) = default;
};

struct AttestationPolicy {
  std::optional<SnpSection> sev_snp;  // absent: SEV-SNP guests are refused
  std::optional<TpmSection> tpm;      // absent: TPM guests are refused
  std::optional<NoneSection> none;    // absent: unattested guests are refused
  std::vector<Rule> rules;

  friend bool operator==(const AttestationPolicy&, const AttestationPolicy&) = default;
};

// Bounds that keep a hostile document from exhausting memory or stack.
inline constexpr std::size_t kMaxDocumentBytes = 1 << 20;
inline constexpr std::size_t kMaxListEntries = 1024;  // any one list or mapping
inline constexpr std::size_t kMaxRules = 256;
inline constexpr std::size_t kMaxNesting = 16;      // mappings and lists inside each other
inline constexpr std::size_t kMaxValues = 100000;   // scalars, lists and mappings in all
inline constexpr std::size_t kMaxLabelBytes = 253;  // a volume label key or value

}  // namespace cloak::attest::policy
