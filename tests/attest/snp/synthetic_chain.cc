#include "tests/attest/snp/synthetic_chain.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "attest/snp/cert_table.h"
#include "attest/snp/snp_report.h"

namespace cloak::attest::snp::snp_test {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(what);
}

void PutLe(std::vector<std::uint8_t>& b, std::size_t off, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

X509_NAME* Name(const std::string& cn) {
  X509_NAME* n = X509_NAME_new();
  X509_NAME_add_entry_by_txt(n, "OU", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Engineering"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Test Micro Devices"), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return n;
}

void AddRawExtension(X509* x, const char* oid, const std::vector<std::uint8_t>& value) {
  ASN1_OBJECT* obj = OBJ_txt2obj(oid, 1);
  ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(os, value.data(), static_cast<int>(value.size()));
  X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, obj, 0, os);
  Check(ext != nullptr && X509_add_ext(x, ext, -1) == 1, "add extension");
  X509_EXTENSION_free(ext);
  ASN1_OCTET_STRING_free(os);
  ASN1_OBJECT_free(obj);
}

std::vector<std::uint8_t> DerInteger(int v) {
  ASN1_INTEGER* i = ASN1_INTEGER_new();
  ASN1_INTEGER_set(i, v);
  unsigned char* der = nullptr;
  const int len = i2d_ASN1_INTEGER(i, &der);
  std::vector<std::uint8_t> out(der, der + len);
  OPENSSL_free(der);
  ASN1_INTEGER_free(i);
  return out;
}

void Sign(X509* x, EVP_PKEY* key, bool pkcs1, int salt) {
  if (pkcs1) {
    Check(X509_sign(x, key, EVP_sha384()) > 0, "pkcs1 sign");
    return;
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  Check(EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha384(), nullptr, key) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt) == 1 &&
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) == 1 &&
            X509_sign_ctx(x, ctx.get()) > 0,
        "pss sign");
}

X509Ptr NewCert(const std::string& subject, const std::string& issuer, EVP_PKEY* subject_key,
                absl::Time not_before, absl::Time not_after, long serial) {
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial);
  ASN1_TIME_set(X509_getm_notBefore(x.get()), absl::ToTimeT(not_before));
  ASN1_TIME_set(X509_getm_notAfter(x.get()), absl::ToTimeT(not_after));
  X509_NAME* s = Name(subject);
  X509_NAME* i = Name(issuer);
  X509_set_subject_name(x.get(), s);
  X509_set_issuer_name(x.get(), i);
  X509_NAME_free(s);
  X509_NAME_free(i);
  X509_set_pubkey(x.get(), subject_key);
  return x;
}

void AddCa(X509* x) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE");
  Check(ext != nullptr && X509_add_ext(x, ext, -1) == 1, "basicConstraints");
  X509_EXTENSION_free(ext);
}

std::string Der(X509* x) {
  const std::vector<std::uint8_t> der = CertificateDer(x);
  return std::string(der.begin(), der.end());
}

const absl::Time kRootFrom = absl::FromUnixSeconds(1500000000);  // 2017
const absl::Time kRootTo = absl::FromUnixSeconds(2500000000);    // 2049

std::string Cn(const char* prefix, SnpProduct p) {
  return std::string(prefix) + std::string(ProductName(p));
}

}  // namespace

ChipId TestChipId(SnpProduct product, std::uint8_t seed) {
  ChipId id{};
  const std::size_t n = product == SnpProduct::kTurin ? 8 : 64;
  for (std::size_t i = 0; i < n; ++i) id[i] = static_cast<std::uint8_t>(seed * 31 + i + 1);
  return id;
}

std::vector<std::uint8_t> BuildReport(const ReportSpec& s) {
  std::vector<std::uint8_t> b(kReportSize, 0);
  PutLe(b, 0x00, s.version, 4);
  PutLe(b, 0x04, 7, 4);                                                      // guest_svn
  PutLe(b, 0x08, (1u << 17) | (1u << 16) | (s.debug ? (1u << 19) : 0u), 8);  // policy
  PutLe(b, 0x30, s.vmpl, 4);
  PutLe(b, 0x34, kSignatureAlgoEcdsaP384Sha384, 4);
  const std::uint64_t tcb = EncodeTcb(s.reported_tcb, s.product);
  PutLe(b, 0x38, tcb, 8);  // current
  PutLe(b, 0x40, 1, 8);    // platform_info: SMT enabled
  std::memcpy(b.data() + 0x50, s.report_data.data(), 64);
  std::memcpy(b.data() + 0x90, s.measurement.data(), 48);
  std::memcpy(b.data() + 0xC0, s.host_data.data(), 32);
  PutLe(b, 0x180, tcb, 8);  // reported
  if (s.version >= 3) {
    switch (s.product) {
      case SnpProduct::kMilan:
        b[0x188] = 0x19, b[0x189] = 0x01;
        break;
      case SnpProduct::kGenoa:
        b[0x188] = 0x19, b[0x189] = 0x11;
        break;
      case SnpProduct::kTurin:
        b[0x188] = 0x1A, b[0x189] = 0x02;
        break;
    }
    b[0x18A] = 0x01;
  }
  std::memcpy(b.data() + 0x1A0, s.chip_id.data(), 64);
  PutLe(b, 0x1E0, tcb, 8);         // committed
  PutLe(b, 0x1E8, 0x00013703, 4);  // current build/minor/major
  PutLe(b, 0x1EC, 0x00013703, 4);
  PutLe(b, 0x1F0, tcb, 8);  // launch
  if (s.version >= 5) {
    PutLe(b, 0x1F8, 0x3, 8);
    PutLe(b, 0x200, 0x7, 8);
  }
  return b;
}

void SignReport(std::vector<std::uint8_t>& report, EVP_PKEY* key) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  Check(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha384(), nullptr, key) == 1 &&
            EVP_DigestSign(ctx.get(), nullptr, &len, report.data(), kSignedSize) == 1,
        "ecdsa init");
  std::vector<std::uint8_t> der(len);
  Check(EVP_DigestSign(ctx.get(), der.data(), &len, report.data(), kSignedSize) == 1, "ecdsa sign");
  const unsigned char* p = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
  Check(sig != nullptr, "ecdsa decode");
  std::fill(report.begin() + kSignatureOffset, report.end(), 0);
  BN_bn2lebinpad(ECDSA_SIG_get0_r(sig), report.data() + kSignatureOffset, 72);
  BN_bn2lebinpad(ECDSA_SIG_get0_s(sig), report.data() + kSignatureOffset + 72, 72);
  ECDSA_SIG_free(sig);
}

SyntheticChain::SyntheticChain()
    : ark_key_(EVP_RSA_gen(4096)), ask_key_(EVP_RSA_gen(4096)), vcek_key_(EVP_EC_gen("P-384")) {
  Check(ark_key_ && ask_key_ && vcek_key_, "key generation");
}

const SyntheticChain& SyntheticChain::Get() {
  static const SyntheticChain* chain = new SyntheticChain();
  return *chain;
}

SnpTrustAnchors SyntheticChain::Anchors() const {
  X509Ptr ark = NewCert("ARK-Milan", "ARK-Milan", ark_key_.get(), kRootFrom, kRootTo, 1);
  const Sha256Digest pin = *SpkiSha256(ark.get());
  return SnpTrustAnchors::ForTesting(
      {{SnpProduct::kMilan, {pin}}, {SnpProduct::kGenoa, {pin}}, {SnpProduct::kTurin, {pin}}});
}

std::string SyntheticChain::ArkDer(SnpProduct p) const {
  X509Ptr ark = NewCert(Cn("ARK-", p), Cn("ARK-", p), ark_key_.get(), kRootFrom, kRootTo, 1);
  AddCa(ark.get());
  Sign(ark.get(), ark_key_.get(), false, 48);
  return Der(ark.get());
}

std::string SyntheticChain::RogueArkDer(SnpProduct p) const {
  X509Ptr ark = NewCert(Cn("ARK-", p), Cn("ARK-", p), ask_key_.get(), kRootFrom, kRootTo, 1);
  AddCa(ark.get());
  Sign(ark.get(), ask_key_.get(), false, 48);
  return Der(ark.get());
}

std::string SyntheticChain::AskDer(SnpProduct p) const {
  X509Ptr ask = NewCert(Cn("SEV-", p), Cn("ARK-", p), ask_key_.get(), kRootFrom, kRootTo, 2);
  AddCa(ask.get());
  Sign(ask.get(), ark_key_.get(), false, 48);
  return Der(ask.get());
}

std::string SyntheticChain::MakeVcek(const VcekSpec& s) const {
  X509Ptr v =
      NewCert("SEV-VCEK", Cn("SEV-", s.product), vcek_key_.get(), s.not_before, s.not_after, 3);
  if (s.with_product_name) {
    const std::string name = std::string(ProductName(s.product)) + "-B0";
    std::vector<std::uint8_t> ia5 = {0x16, static_cast<std::uint8_t>(name.size())};
    ia5.insert(ia5.end(), name.begin(), name.end());
    AddRawExtension(v.get(), "1.3.6.1.4.1.3704.1.2", ia5);
  }
  AddRawExtension(v.get(), "1.3.6.1.4.1.3704.1.3.1", DerInteger(s.tcb.bootloader));
  AddRawExtension(v.get(), "1.3.6.1.4.1.3704.1.3.2", DerInteger(s.tcb.tee));
  AddRawExtension(v.get(), "1.3.6.1.4.1.3704.1.3.3", DerInteger(s.tcb.snp));
  for (const char* reserved : {"1.3.6.1.4.1.3704.1.3.4", "1.3.6.1.4.1.3704.1.3.5",
                               "1.3.6.1.4.1.3704.1.3.6", "1.3.6.1.4.1.3704.1.3.7"}) {
    AddRawExtension(v.get(), reserved, DerInteger(0));
  }
  AddRawExtension(v.get(), "1.3.6.1.4.1.3704.1.3.8", DerInteger(s.tcb.microcode));
  if (s.product == SnpProduct::kTurin) {
    AddRawExtension(v.get(), "1.3.6.1.4.1.3704.1.3.9", DerInteger(s.tcb.fmc));
  }
  std::vector<std::uint8_t> hwid = s.hwid;
  if (hwid.empty()) {
    const ChipId id = TestChipId(s.product, 1);
    hwid.assign(id.begin(), id.begin() + (s.product == SnpProduct::kTurin ? 8 : 64));
  }
  AddRawExtension(v.get(), "1.3.6.1.4.1.3704.1.4", hwid);
  Sign(v.get(), ask_key_.get(), s.pkcs1_signature, s.pss_salt);
  return Der(v.get());
}

std::vector<std::uint8_t> SignedReport(const ReportSpec& spec) {
  std::vector<std::uint8_t> report = BuildReport(spec);
  SignReport(report, SyntheticChain::Get().VcekKey());
  return report;
}

std::vector<std::uint8_t> TableFor(const std::string& vcek_der, SnpProduct product) {
  const SyntheticChain& c = SyntheticChain::Get();
  return BuildCertTable(
      {{kVcekGuid, vcek_der}, {kAskGuid, c.AskDer(product)}, {kArkGuid, c.ArkDer(product)}});
}

}  // namespace cloak::attest::snp::snp_test
