#include "attest/snp/verifier.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "attest/proto/evidence.pb.h"
#include "attest/snp/cert_table.h"
#include "attest/snp/chain_verify.h"
#include "attest/snp/snp_report.h"
#include "common/status.h"
#include "fmt/format.h"

namespace cloak::attest::snp {
namespace {

absl::Status Refuse(std::string_view why) {
  return absl::UnauthenticatedError(fmt::format("SEV-SNP evidence rejected: {}", why));
}

struct EvpMdDeleter {
  void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};

// Little-endian r and s (72 bytes each) as a DER ECDSA-Sig-Value.
absl::StatusOr<std::vector<std::uint8_t>> DerSignature(const SnpReport& r) {
  std::array<std::uint8_t, kSignatureComponentSize> be_r;
  std::array<std::uint8_t, kSignatureComponentSize> be_s;
  std::reverse_copy(r.signature_r.begin(), r.signature_r.end(), be_r.begin());
  std::reverse_copy(r.signature_s.begin(), r.signature_s.end(), be_s.begin());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(ECDSA_SIG_new(), &ECDSA_SIG_free);
  BIGNUM* bn_r = BN_bin2bn(be_r.data(), be_r.size(), nullptr);
  BIGNUM* bn_s = BN_bin2bn(be_s.data(), be_s.size(), nullptr);
  if (sig == nullptr || bn_r == nullptr || bn_s == nullptr ||
      ECDSA_SIG_set0(sig.get(), bn_r, bn_s) != 1) {
    BN_free(bn_r);
    BN_free(bn_s);
    ClearOpenSslErrors();
    return absl::InternalError("cannot build an ECDSA signature (out of memory?)");
  }
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  std::vector<std::uint8_t> der(static_cast<std::size_t>(std::max(len, 0)));
  unsigned char* p = der.data();
  if (len <= 0 || i2d_ECDSA_SIG(sig.get(), &p) != len) {
    ClearOpenSslErrors();
    return absl::InternalError("cannot encode the ECDSA signature");
  }
  return der;
}

absl::Status CheckTcbMatches(const SnpTcb& reported, const VcekExtensions& x, SnpProduct p) {
  auto mismatch = [](std::string_view component) {
    return Refuse(
        fmt::format("tcb.{}: REPORTED_TCB (offset 0x180) differs from the VCEK's SPL extension; "
                    "the VCEK is for another TCB, fetch the one for this report's REPORTED_TCB",
                    component));
  };
  if (reported.bootloader != x.bootloader) return mismatch("bootloader");
  if (reported.tee != x.tee) return mismatch("tee");
  if (reported.snp != x.snp) return mismatch("snp");
  if (reported.microcode != x.microcode) return mismatch("microcode");
  if (p == SnpProduct::kTurin && x.fmc != reported.fmc) return mismatch("fmc");
  return absl::OkStatus();
}

SnpClaims ToClaims(const SnpReport& r, SnpProduct p) {
  SnpClaims c;
  c.product = p;
  c.version = r.version;
  c.guest_svn = r.guest_svn;
  c.guest_policy = r.policy;
  c.family_id = r.family_id;
  c.image_id = r.image_id;
  c.vmpl = r.vmpl;
  c.signature_algo = r.signature_algo;
  c.current_tcb = DecodeTcb(r.current_tcb, p);
  c.reported_tcb = DecodeTcb(r.reported_tcb, p);
  c.committed_tcb = DecodeTcb(r.committed_tcb, p);
  c.launch_tcb = DecodeTcb(r.launch_tcb, p);
  c.platform_info = r.platform_info;
  c.report_data = r.report_data;
  c.measurement = r.measurement;
  c.host_data = r.host_data;
  c.id_key_digest = r.id_key_digest;
  c.author_key_digest = r.author_key_digest;
  c.report_id = r.report_id;
  c.chip_id = r.chip_id;
  return c;
}

}  // namespace

struct SnpVerifier::Impl {
  explicit Impl(SnpVerifierOptions o)
      : anchors(std::move(o.anchors)),
        vcek_cache(std::move(o.vcek_cache)),
        chains(o.chain_cache_capacity),
        sha384(EVP_MD_fetch(nullptr, "SHA2-384", nullptr)) {}

  absl::StatusOr<std::shared_ptr<const VerifiedVcek>> Chain(const SnpReport& report,
                                                            const SnpCertTable& table,
                                                            std::optional<SnpProduct> product);

  const SnpTrustAnchors anchors;
  const std::shared_ptr<const SnpVcekCache> vcek_cache;
  SnpChainCache chains;
  std::unique_ptr<EVP_MD, EvpMdDeleter> sha384;
  std::atomic<std::uint64_t> reports_verified{0};
  std::atomic<std::uint64_t> chain_verifications{0};
  std::atomic<std::uint64_t> chain_cache_hits{0};
};

absl::StatusOr<std::shared_ptr<const VerifiedVcek>> SnpVerifier::Impl::Chain(
    const SnpReport& report, const SnpCertTable& table, std::optional<SnpProduct> product) {
  std::string_view vcek = table.vcek;
  if (vcek.empty() && vcek_cache != nullptr) {
    if (const std::string* cached =
            vcek_cache->Find(report.chip_id, report.reported_tcb, product)) {
      vcek = *cached;
    }
  }
  if (vcek.empty()) {
    return Refuse(
        "no VCEK: the evidence's certificate table carries none and the VCEK cache has none "
        "for this report's CHIP_ID and REPORTED_TCB; provision the VCEK on the host or put "
        "AMD's VCEK for this chip and TCB into the VCEK cache directory");
  }
  const Sha256Digest key =
      Sha256({reinterpret_cast<const std::uint8_t*>(vcek.data()), vcek.size()});
  if (auto hit = chains.Find(key)) {
    chain_cache_hits.fetch_add(1, std::memory_order_relaxed);
    return hit;
  }
  chain_verifications.fetch_add(1, std::memory_order_relaxed);
  ASSIGN_OR_RETURN(auto verified,
                   VerifyVcekChain(ChainInputs{vcek, table.ask, table.ark, product}, anchors));
  chains.Insert(key, verified);
  return verified;
}

SnpVerifier::SnpVerifier(SnpVerifierOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

SnpVerifier::~SnpVerifier() = default;

absl::StatusOr<std::unique_ptr<SnpVerifier>> SnpVerifier::Create(SnpVerifierOptions options) {
  const auto& a = options.anchors;
  if (!a.HasPins(SnpProduct::kMilan) && !a.HasPins(SnpProduct::kGenoa) &&
      !a.HasPins(SnpProduct::kTurin)) {
    return absl::InvalidArgumentError("SEV-SNP verifier: the trust anchors pin no ARK");
  }
  auto v = std::unique_ptr<SnpVerifier>(new SnpVerifier(std::move(options)));
  if (v->impl_->sha384 == nullptr) {
    ClearOpenSslErrors();
    return absl::InternalError("SEV-SNP verifier: OpenSSL offers no SHA-384");
  }
  return v;
}

absl::StatusOr<SnpClaims> SnpVerifier::VerifyEvidence(
    std::string_view serialized_evidence, std::span<const std::uint8_t> expected_report_data,
    absl::Time now) const {
  cloak::attest::v1::SevSnpEvidence evidence;
  if (!evidence.ParseFromArray(serialized_evidence.data(),
                               static_cast<int>(serialized_evidence.size()))) {
    return Refuse("the SevSnpEvidence message does not parse");
  }
  const std::string& report = evidence.report();
  const std::string& table = evidence.certificate_table();
  return Verify({reinterpret_cast<const std::uint8_t*>(report.data()), report.size()},
                {reinterpret_cast<const std::uint8_t*>(table.data()), table.size()},
                expected_report_data, now);
}

absl::StatusOr<SnpClaims> SnpVerifier::Verify(std::span<const std::uint8_t> report_bytes,
                                              std::span<const std::uint8_t> certificate_table,
                                              std::span<const std::uint8_t> expected_report_data,
                                              absl::Time now) const {
  if (expected_report_data.size() != 64) {
    return absl::InvalidArgumentError("SEV-SNP verifier: the expected binding must be 64 bytes");
  }
  ASSIGN_OR_RETURN(SnpReport report, ParseSnpReport(report_bytes));
  if (CRYPTO_memcmp(report.report_data.data(), expected_report_data.data(), 64) != 0) {
    return Refuse(
        "REPORT_DATA (offset 0x50) does not equal the expected binding; the evidence was made "
        "for another nonce or key (stale or replayed), request a fresh challenge");
  }
  ASSIGN_OR_RETURN(SnpCertTable table, ParseCertTable(certificate_table));
  ASSIGN_OR_RETURN(std::optional<SnpProduct> cpuid_product, report.CpuidProduct());
  ASSIGN_OR_RETURN(auto chain, impl_->Chain(report, table, cpuid_product));
  const SnpProduct product = chain->product;
  if (cpuid_product.has_value() && *cpuid_product != product) {
    return Refuse("the report's CPUID product differs from its VCEK's product");
  }
  if (now < chain->validity.not_before || now > chain->validity.not_after) {
    return Refuse(fmt::format(
        "the VCEK, ASK and ARK are valid together only from {} to {}, not at {}; fetch a current "
        "VCEK or check the clock",
        absl::FormatTime(absl::RFC3339_sec, chain->validity.not_before, absl::UTCTimeZone()),
        absl::FormatTime(absl::RFC3339_sec, chain->validity.not_after, absl::UTCTimeZone()),
        absl::FormatTime(absl::RFC3339_sec, now, absl::UTCTimeZone())));
  }
  const SnpTcb reported = DecodeTcb(report.reported_tcb, product);
  RETURN_IF_ERROR(CheckTcbMatches(reported, chain->extensions, product));
  const bool chip_id_masked = std::all_of(report.chip_id.begin(), report.chip_id.end(),
                                          [](std::uint8_t b) { return b == 0; });
  if (!chip_id_masked && !HwidMatchesChipId(chain->extensions.hwid, report.chip_id, product)) {
    return Refuse(
        "chip_id: CHIP_ID (offset 0x1A0) differs from the VCEK's hwID; the VCEK belongs to "
        "another chip");
  }
  ASSIGN_OR_RETURN(std::vector<std::uint8_t> signature, DerSignature(report));
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok = ctx != nullptr &&
                  EVP_DigestVerifyInit(ctx.get(), nullptr, impl_->sha384.get(), nullptr,
                                       chain->key.get()) == 1 &&
                  EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                                   report_bytes.data(), kSignedSize) == 1;
  if (!ok) {
    ClearOpenSslErrors();
    return Refuse(
        "SIGNATURE (offset 0x2A0) does not verify under the VCEK over bytes 0x0..0x2A0; the "
        "report was altered or signed by another chip");
  }
  impl_->reports_verified.fetch_add(1, std::memory_order_relaxed);
  return ToClaims(report, product);
}

SnpVerifierStats SnpVerifier::Stats() const {
  return SnpVerifierStats{impl_->reports_verified.load(), impl_->chain_verifications.load(),
                          impl_->chain_cache_hits.load()};
}

}  // namespace cloak::attest::snp
