#include "attest/snp/snp_report.h"

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::snp {
namespace {

std::uint32_t Le32(std::span<const std::uint8_t> b, std::size_t off) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | b[off + i];
  return v;
}

std::uint64_t Le64(std::span<const std::uint8_t> b, std::size_t off) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[off + i];
  return v;
}

template <std::size_t N>
void Copy(std::span<const std::uint8_t> b, std::size_t off, std::array<std::uint8_t, N>& out) {
  std::memcpy(out.data(), b.data() + off, N);
}

absl::Status Malformed(std::string_view what) {
  return absl::UnauthenticatedError(fmt::format(
      "SEV-SNP report rejected: {}; the evidence is not a genuine report from supported firmware",
      what));
}

// UNAUTHENTICATED unless bytes [begin, end) are all zero.
absl::Status MustBeZero(std::span<const std::uint8_t> b, std::size_t begin, std::size_t end,
                        std::string_view field) {
  const auto first = b.begin() + static_cast<std::ptrdiff_t>(begin);
  const auto last = b.begin() + static_cast<std::ptrdiff_t>(end);
  const auto it = std::find_if(first, last, [](std::uint8_t v) { return v != 0; });
  if (it == last) return absl::OkStatus();
  return Malformed(fmt::format("reserved field {} (offset 0x{:X}..0x{:X}) is not zero at 0x{:X}",
                               field, begin, end, it - b.begin()));
}

}  // namespace

absl::StatusOr<SnpReport> ParseSnpReport(std::span<const std::uint8_t> b) {
  if (b.size() != kReportSize) {
    return Malformed(fmt::format("size is {} bytes, an ATTESTATION_REPORT has {} (0x4A0)", b.size(),
                                 kReportSize));
  }
  SnpReport r;
  r.version = Le32(b, 0x00);
  if (r.version < kMinReportVersion || r.version > kMaxReportVersion) {
    return Malformed(fmt::format("VERSION (offset 0x0) is {}; supported versions are {}..{}",
                                 r.version, kMinReportVersion, kMaxReportVersion));
  }
  r.guest_svn = Le32(b, 0x04);
  r.policy = Le64(b, 0x08);
  if (((r.policy >> 17) & 1u) == 0) {
    return Malformed("GUEST_POLICY (offset 0x8) bit 17 is clear; the ABI requires it set");
  }
  Copy(b, 0x10, r.family_id);
  Copy(b, 0x20, r.image_id);
  r.vmpl = Le32(b, 0x30);
  r.signature_algo = Le32(b, 0x34);
  if (r.signature_algo != kSignatureAlgoEcdsaP384Sha384) {
    return Malformed(fmt::format(
        "SIGNATURE_ALGO (offset 0x34) is {}; only 1 (ECDSA P-384 with SHA-384) is defined",
        r.signature_algo));
  }
  r.current_tcb = Le64(b, 0x38);
  r.platform_info = Le64(b, 0x40);
  const std::uint32_t signer_info = Le32(b, 0x48);
  if ((signer_info >> 5) != 0) {
    return Malformed("reserved bits 31:5 of the signer field (offset 0x48) are not zero");
  }
  r.author_key_en = (signer_info & 1u) != 0;
  if ((signer_info & 2u) != 0) {
    return Malformed("MASK_CHIP_KEY (offset 0x48, bit 1) is set: the report carries no signature");
  }
  switch ((signer_info >> 2) & 7u) {
    case 0:
      r.signing_key = SnpSigningKey::kVcek;
      break;
    case 1:
      return Malformed(
          "SIGNING_KEY (offset 0x48, bits 4:2) names the VLEK; only VCEK-signed reports are "
          "accepted, launch the guest on a host that signs with the VCEK");
    case 7:
      return Malformed("SIGNING_KEY (offset 0x48, bits 4:2) says the report is not signed");
    default:
      return Malformed("SIGNING_KEY (offset 0x48, bits 4:2) holds a reserved value");
  }
  RETURN_IF_ERROR(MustBeZero(b, 0x4C, 0x50, "after the signer field"));
  Copy(b, 0x50, r.report_data);
  Copy(b, 0x90, r.measurement);
  Copy(b, 0xC0, r.host_data);
  Copy(b, 0xE0, r.id_key_digest);
  Copy(b, 0x110, r.author_key_digest);
  Copy(b, 0x140, r.report_id);
  Copy(b, 0x160, r.report_id_ma);
  r.reported_tcb = Le64(b, 0x180);
  if (r.version >= 3) {
    r.cpuid_family = b[0x188];
    r.cpuid_model = b[0x189];
    r.cpuid_stepping = b[0x18A];
    RETURN_IF_ERROR(MustBeZero(b, 0x18B, 0x1A0, "after CPUID_STEP"));
  } else {
    RETURN_IF_ERROR(MustBeZero(b, 0x188, 0x1A0, "after REPORTED_TCB"));
  }
  Copy(b, 0x1A0, r.chip_id);
  r.committed_tcb = Le64(b, 0x1E0);
  RETURN_IF_ERROR(MustBeZero(b, 0x1EB, 0x1EC, "after CURRENT_MAJOR"));
  RETURN_IF_ERROR(MustBeZero(b, 0x1EF, 0x1F0, "after COMMITTED_MAJOR"));
  r.launch_tcb = Le64(b, 0x1F0);
  if (r.version >= 5) {
    r.launch_mit_vector = Le64(b, 0x1F8);
    r.current_mit_vector = Le64(b, 0x200);
    RETURN_IF_ERROR(MustBeZero(b, 0x208, kSignedSize, "after CURRENT_MIT_VECTOR"));
  } else {
    RETURN_IF_ERROR(MustBeZero(b, 0x1F8, kSignedSize, "after LAUNCH_TCB"));
  }
  constexpr std::size_t kR = kSignatureOffset;
  constexpr std::size_t kS = kSignatureOffset + kSignatureComponentSize;
  constexpr std::size_t kP384 = 48;
  Copy(b, kR, r.signature_r);
  Copy(b, kS, r.signature_s);
  RETURN_IF_ERROR(MustBeZero(b, kR + kP384, kS, "SIGNATURE.R above 384 bits"));
  RETURN_IF_ERROR(
      MustBeZero(b, kS + kP384, kS + kSignatureComponentSize, "SIGNATURE.S above 384 bits"));
  RETURN_IF_ERROR(MustBeZero(b, kS + kSignatureComponentSize, kReportSize, "after SIGNATURE.S"));
  return r;
}

absl::StatusOr<std::optional<SnpProduct>> SnpReport::CpuidProduct() const {
  if (version < 3) return std::optional<SnpProduct>();
  const std::uint8_t model = cpuid_model;
  if (cpuid_family == 0x19 && model <= 0x0F) return std::optional(SnpProduct::kMilan);
  if (cpuid_family == 0x19 &&
      ((model >= 0x10 && model <= 0x1F) || (model >= 0xA0 && model <= 0xAF))) {
    return std::optional(SnpProduct::kGenoa);
  }
  if (cpuid_family == 0x1A && model <= 0x11) return std::optional(SnpProduct::kTurin);
  return Malformed(
      fmt::format("CPUID_FAM_ID/CPUID_MOD_ID (offset 0x188/0x189) = 0x{:02X}/0x{:02X} is no known "
                  "SEV-SNP product (Milan, Genoa, Turin)",
                  cpuid_family, model));
}

SnpTcb DecodeTcb(std::uint64_t raw, SnpProduct product) {
  auto byte = [raw](int i) { return static_cast<std::uint8_t>(raw >> (8 * i)); };
  SnpTcb t;
  t.raw = raw;
  if (product == SnpProduct::kTurin) {
    t.fmc = byte(0);
    t.bootloader = byte(1);
    t.tee = byte(2);
    t.snp = byte(3);
  } else {
    t.bootloader = byte(0);
    t.tee = byte(1);
    t.snp = byte(6);
  }
  t.microcode = byte(7);
  return t;
}

std::uint64_t EncodeTcb(const SnpTcb& t, SnpProduct product) {
  auto at = [](std::uint8_t v, int i) { return static_cast<std::uint64_t>(v) << (8 * i); };
  if (product == SnpProduct::kTurin) {
    return at(t.fmc, 0) | at(t.bootloader, 1) | at(t.tee, 2) | at(t.snp, 3) | at(t.microcode, 7);
  }
  return at(t.bootloader, 0) | at(t.tee, 1) | at(t.snp, 6) | at(t.microcode, 7);
}

std::string_view ProductName(SnpProduct product) {
  switch (product) {
    case SnpProduct::kMilan:
      return "Milan";
    case SnpProduct::kGenoa:
      return "Genoa";
    case SnpProduct::kTurin:
      return "Turin";
  }
  return "unknown";
}

std::optional<SnpProduct> ProductFromName(std::string_view name) {
  const std::string_view base = name.substr(0, name.find('-'));
  for (SnpProduct p : {SnpProduct::kMilan, SnpProduct::kGenoa, SnpProduct::kTurin}) {
    if (base == ProductName(p)) return p;
  }
  return std::nullopt;
}

}  // namespace cloak::attest::snp
