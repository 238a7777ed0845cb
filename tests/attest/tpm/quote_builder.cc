#include "tests/attest/tpm/quote_builder.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <cstdlib>

#include "attest/tpm/tpm_crypto.h"

namespace cloak::attest::tpm::testing {

void PutU16(std::vector<std::uint8_t>& out, std::uint32_t value) {
  out.push_back(static_cast<std::uint8_t>(value >> 8));
  out.push_back(static_cast<std::uint8_t>(value));
}

void PutU32(std::vector<std::uint8_t>& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

void PutU64(std::vector<std::uint8_t>& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(value >> shift));
}

void PutTpm2b(std::vector<std::uint8_t>& out, const std::vector<std::uint8_t>& bytes) {
  PutU16(out, static_cast<std::uint32_t>(bytes.size()));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

namespace {

std::vector<std::uint8_t> Coordinate(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) std::abort();
  std::vector<std::uint8_t> out(32);
  BN_bn2binpad(bn, out.data(), 32);
  BN_free(bn);
  return out;
}

}  // namespace

FakeAk MakeFakeAk(const AkSpec& spec) {
  FakeAk ak;
  ak.key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (ak.key == nullptr) std::abort();
  std::vector<std::uint8_t>& p = ak.public_area;
  PutU16(p, kAlgEcc);
  PutU16(p, spec.name_alg);
  PutU32(p, spec.attributes);
  PutTpm2b(p, {});         // authPolicy
  PutU16(p, kAlgNull);     // symmetric
  PutU16(p, spec.scheme);  // scheme
  PutU16(p, spec.scheme_hash);
  PutU16(p, spec.curve);
  PutU16(p, kAlgNull);  // kdf
  PutTpm2b(p, Coordinate(ak.key.get(), OSSL_PKEY_PARAM_EC_PUB_X));
  PutTpm2b(p, Coordinate(ak.key.get(), OSSL_PKEY_PARAM_EC_PUB_Y));
  ak.name = *TpmObjectName(kAlgSha256, p);
  ak.fingerprint = PublicFingerprint(p);
  const std::vector<std::uint8_t> endorsement = {0x40, 0x00, 0x00, 0x0b};
  const Sha256Digest qn = Sha256({endorsement, ak.name});
  ak.qualified_name = {0x00, 0x0b};
  ak.qualified_name.insert(ak.qualified_name.end(), qn.begin(), qn.end());
  return ak;
}

std::map<std::uint32_t, std::vector<std::uint8_t>> SamplePcrs() {
  std::map<std::uint32_t, std::vector<std::uint8_t>> pcrs;
  for (std::uint32_t i = 0; i < 8; ++i)
    pcrs[i] = std::vector<std::uint8_t>(32, static_cast<std::uint8_t>(0x10 + i));
  return pcrs;
}

std::vector<std::uint8_t> MarshalAttest(const QuoteSpec& spec, const FakeAk& ak) {
  std::vector<std::uint8_t> a;
  PutU32(a, spec.magic);
  PutU16(a, spec.type);
  PutTpm2b(a, spec.override_signer ? spec.signer : ak.qualified_name);
  PutTpm2b(a, spec.extra_data);
  PutU64(a, 123456);  // clock
  PutU32(a, 7);       // resetCount
  PutU32(a, 3);       // restartCount
  a.push_back(1);     // safe
  PutU64(a, 0x2019102300163636ull);
  PutU32(a, 1);  // one selection
  PutU16(a, spec.bank);
  a.push_back(spec.sizeof_select);
  std::vector<std::uint8_t> bitmap(spec.sizeof_select, 0);
  std::vector<std::uint8_t> concatenated;
  for (const auto& [index, value] : spec.pcrs) {
    if (index / 8 < bitmap.size())
      bitmap[index / 8] |= static_cast<std::uint8_t>(1u << (index % 8));
    concatenated.insert(concatenated.end(), value.begin(), value.end());
  }
  a.insert(a.end(), bitmap.begin(), bitmap.end());
  const Sha256Digest digest = Sha256({concatenated});
  PutTpm2b(a, std::vector<std::uint8_t>(digest.begin(), digest.end()));
  return a;
}

std::vector<std::uint8_t> SignEcdsa(EVP_PKEY* key, const std::vector<std::uint8_t>& message) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t length = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &length, message.data(), message.size());
  std::vector<std::uint8_t> der(length);
  if (EVP_DigestSign(ctx, der.data(), &length, message.data(), message.size()) != 1) std::abort();
  EVP_MD_CTX_free(ctx);
  const std::uint8_t* cursor = der.data();
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(length));
  std::vector<std::uint8_t> r(32), s(32);
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), r.data(), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), s.data(), 32);
  ECDSA_SIG_free(sig);
  std::vector<std::uint8_t> out;
  PutU16(out, kAlgEcdsa);
  PutU16(out, kAlgSha256);
  PutTpm2b(out, r);
  PutTpm2b(out, s);
  return out;
}

TpmQuoteEvidence MakeQuote(const FakeAk& ak, const QuoteSpec& spec) {
  TpmQuoteEvidence evidence;
  evidence.attest = MarshalAttest(spec, ak);
  evidence.signature = SignEcdsa(ak.key.get(), evidence.attest);
  evidence.ak_public = ak.public_area;
  for (const auto& [index, value] : spec.pcrs) evidence.pcrs.emplace_back(index, value);
  return evidence;
}

}  // namespace cloak::attest::tpm::testing
