// Known-answer tests for the HPKE implementation.
//
// Sources:
//  * RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base
//    mode (also entry 0 of the RFC authors' test-vectors.json).
//  * The RFC authors' test-vectors.json (cfrg/draft-irtf-cfrg-hpke), entry mode 0,
//    kem_id 32, kdf_id 3, aead_id 2: DHKEM(X25519, HKDF-SHA256), HKDF-SHA512,
//    AES-256-GCM. That file has no entry for Cloak's exact combination (kdf 1 with
//    aead 2); these two entries between them exercise every component of it: the KEM,
//    the HKDF-SHA256 key schedule, and AES-256-GCM with a 32-byte derived key.
//  * An interoperability vector for Cloak's exact suite (kdf 1, aead 2), sealed by an
//    independent implementation (pyca/cryptography 48.0.0, hpke.Suite) to a fixed key.
//
// Every intermediate value is compared: derived key pairs, enc, shared_secret,
// key_schedule_context, secret, key, base_nonce, exporter_secret, each ciphertext at
// sequence numbers 0, 1, 2, 4, 255 and 256 (the last one crossing a byte boundary of
// the nonce counter), and the exporter outputs.

#include <cstdint>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "gtest/gtest.h"
#include "kms/crypto/hpke.h"
#include "kms/crypto/hpke_context.h"
#include "kms/crypto/hpke_setup.h"
#include "tests/kms/crypto/test_hex.h"

namespace cloak::kms {
namespace {

using kms_test::Bytes;
using kms_test::Hex;
using kms_test::ToHex;

struct VectorEncryption {
  std::uint64_t sequence_number;
  const char* nonce;
  const char* ciphertext;
};

struct VectorExport {
  const char* context;
  std::size_t length;
  const char* value;
};

struct BaseModeVector {
  const char* name;
  HpkeSuite suite;
  const char* info;
  const char* ikm_e;
  const char* sk_em;
  const char* pk_em;
  const char* ikm_r;
  const char* sk_rm;
  const char* pk_rm;
  const char* enc;
  const char* shared_secret;
  const char* key_schedule_context;
  const char* secret;
  const char* key;
  const char* base_nonce;
  const char* exporter_secret;
  const char* plaintext;
  std::vector<VectorEncryption> encryptions;
  std::vector<VectorExport> exports;
};

constexpr const char* kInfo = "4f6465206f6e2061204772656369616e2055726e";  // "Ode on a Grecian Urn"
constexpr const char* kPlaintext =
    "4265617574792069732074727574682c20747275746820626561757479";  // "Beauty is truth, ..."

const BaseModeVector& Rfc9180A11() {
  static const BaseModeVector* const vector = new BaseModeVector{
      "RFC 9180 A.1.1 X25519/HKDF-SHA256/AES-128-GCM",
      HpkeSuite{HkdfHash::kSha256, AesGcmKeySize::kAes128},
      kInfo,
      "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
      "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
      "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
      "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
      "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
      "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
      "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
      "fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc",
      "00725611c9d98c07c03f60095cd32d400d8347d45ed67097bbad50fc56da742d07cb6cffde367bb0565ba28bb0"
      "2c90744a20f5ef37f30523526106f637abb05449",
      "12fff91991e93b48de37e7daddb52981084bd8aa64289c3788471d9a9712f397",
      "4531685d41d65f03dc48f6b8302c05b0",
      "56d890e5accaaf011cff4b7d",
      "45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8",
      kPlaintext,
      {
          {0, "56d890e5accaaf011cff4b7d",
           "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c5"
           "12a"},
          {1, "56d890e5accaaf011cff4b7c",
           "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063"
           "b84"},
          {2, "56d890e5accaaf011cff4b7f",
           "498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc"
           "180"},
          {4, "56d890e5accaaf011cff4b79",
           "583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a09fc0012bc69fccaa251c02"
           "46d"},
          {255, "56d890e5accaaf011cff4b82",
           "7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505bf106deefec4a49ac38d71c9"
           "e0a"},
          {256, "56d890e5accaaf011cff4a7d",
           "957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3fbeda97d2e0e1aba483a2df"
           "9f2"},
      },
      {
          {"", 32, "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee"},
          {"00", 32, "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5"},
          {"54657374436f6e74657874", 32,
           "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931"},
      },
  };
  return *vector;
}

const BaseModeVector& X25519Sha512Aes256() {
  static const BaseModeVector* const vector = new BaseModeVector{
      "test-vectors.json mode 0 kem 32 kdf 3 aead 2 X25519/HKDF-SHA512/AES-256-GCM",
      HpkeSuite{HkdfHash::kSha512, AesGcmKeySize::kAes256},
      kInfo,
      "e72b39232ee9ef9f6537a72afe28f551dbe632006aa1b300a00518883a3f2dc1",
      "dc926085fd67a0338320c3b47944b56eec296981d646ab5e3492e3460bebaf51",
      "c12ba9fb91d7ebb03057d8bea4398688dcc1d1d1ff3b97f09b96b9bf89bd1e4a",
      "a0484936abc95d587acf7034156229f9970e9dfa76773754e40fb30e53c9de16",
      "bdd8943c1e60191f3ea4e69fc4f322aa1086db9650f1f952fdce88395a4bd1af",
      "aa7bddcf5ca0b2c0cf760b5dffc62740a8e761ec572032a809bebc87aaf7575e",
      "c12ba9fb91d7ebb03057d8bea4398688dcc1d1d1ff3b97f09b96b9bf89bd1e4a",
      "96fe0a805d100153533f0646095a652eecb19346db433089666ee539a796ffb2",
      "0088e94c0aacbd6d63a08e547dbda944bc1146d7483cba3d5ca0b0cdb26d2fbecd0d6d8d55178b4dfb4a648a4e"
      "3e54adc05dfd4cb2a845712a74539ccee8b4f781238f3e66e519a887ea3a0d096475a5defe5bfd1d22ec386b88"
      "0d050dbfb6995fe8f7d1d0c661c4e10698687f757b1e981cbf025920074204ff660b9f490d7594",
      "120ad251946834ca78e4d6bb59833e741b49cda5f2a73e3e81ef171453f2de8288459c12b14ee581a5aca14320"
      "4a54ec118783dd89b022714ca93c6fb316ec2b",
      "f3354d286a48f67ca0c22029feb446938efb1b9b8a410852d7bdd3404acd0c09",
      "d654f65e557737ea2a0b5489",
      "74536eda135901a81409ab3f8f4767d2cf41933136bbd194427cec8e6fe2253f3ac0beae54180a7837dea9277a"
      "3290749777f65a874fdd2ca69c7ef5ee5bbcfe",
      kPlaintext,
      {
          {0, "d654f65e557737ea2a0b5489",
           "186cbeffd80fd68862b09d968a944c9f1ecc1c3f5dbcd1e26973ec30a9856f006f7bb472c3e30fff57ced66"
           "9fc"},
          {1, "d654f65e557737ea2a0b5488",
           "26f19180ac025f865e8383809317e472474b91afbdbd0e402800bca5c299157fefd833aec48ec220eedd683"
           "c31"},
          {2, "d654f65e557737ea2a0b548b",
           "f88e47ddcc2c74544f29072db709386e2f87885bffb4f2a79ccde9564b76231e647bfa12e7d25949a844ec4"
           "e70"},
          {4, "d654f65e557737ea2a0b548d",
           "4558f5d21269e98b9594f8c07654785f368062beb1cd4c139e58df02353c2f123e6e553f3e39241dcc91f95"
           "af3"},
          {255, "d654f65e557737ea2a0b5476",
           "93c55dd1896ae569b5b411365a943366e4110c8160f94443a9f322e4ceb5f42dc06a37e1a8777da79c48f95"
           "25a"},
          {256, "d654f65e557737ea2a0b5589",
           "ded681b1585b7fab0daff1bb000eacbb470dc304b2387bacdc7e230e54ccf86dd0fa9c5efe63f0c4ab7be88"
           "9a6"},
      },
      {
          {"", 32, "e0c5b2c8c3af6ea743bf51b48f75d965f5eb71fce668c550863b14b75f61840c"},
          {"00", 32, "782f53407c273fdd8ffe55fe9540b5c209dcf74beeffb38a807948b354fca3b3"},
          {"54657374436f6e74657874", 32,
           "af616a8dc3fa47900b8e68f878fba983134b4b608bcad9c0f743d2aa7c1a781b"},
      },
  };
  return *vector;
}

class HpkeVectorTest : public ::testing::TestWithParam<const BaseModeVector*> {};

TEST_P(HpkeVectorTest, DeriveKeyPairMatches) {
  const BaseModeVector& v = *GetParam();
  absl::StatusOr<X25519KeyPair> ephemeral = DeriveX25519KeyPair(Hex(v.ikm_e));
  absl::StatusOr<X25519KeyPair> recipient = DeriveX25519KeyPair(Hex(v.ikm_r));
  ASSERT_TRUE(ephemeral.ok()) << ephemeral.status();
  ASSERT_TRUE(recipient.ok()) << recipient.status();
  EXPECT_EQ(ToHex(ephemeral->private_key.SecretSpan()), v.sk_em);
  EXPECT_EQ(ToHex(ephemeral->public_key), v.pk_em);
  EXPECT_EQ(ToHex(recipient->private_key.SecretSpan()), v.sk_rm);
  EXPECT_EQ(ToHex(recipient->public_key), v.pk_rm);
}

TEST_P(HpkeVectorTest, KemAndKeyScheduleMatch) {
  const BaseModeVector& v = *GetParam();
  absl::StatusOr<X25519KeyPair> ephemeral = DeriveX25519KeyPair(Hex(v.ikm_e));
  ASSERT_TRUE(ephemeral.ok());
  absl::StatusOr<KemEncapsulation> encapsulation = X25519Encap(Hex(v.pk_rm), *ephemeral);
  ASSERT_TRUE(encapsulation.ok()) << encapsulation.status();
  EXPECT_EQ(ToHex(encapsulation->enc), v.enc);
  EXPECT_EQ(ToHex(encapsulation->shared_secret.SecretSpan()), v.shared_secret);

  const SecretBytes recipient_key = SecretBytes::CopyFrom(Hex(v.sk_rm));
  absl::StatusOr<SecretBytes> decapsulated = X25519Decap(Hex(v.enc), recipient_key);
  ASSERT_TRUE(decapsulated.ok()) << decapsulated.status();
  EXPECT_EQ(ToHex(decapsulated->SecretSpan()), v.shared_secret);

  const std::vector<std::uint8_t> info = Hex(v.info);
  absl::StatusOr<std::vector<std::uint8_t>> context = BaseModeKeyScheduleContext(v.suite, info);
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_EQ(ToHex(*context), v.key_schedule_context);
  absl::StatusOr<SecretBytes> secret = BaseModeSecret(v.suite, encapsulation->shared_secret);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(ToHex(secret->SecretSpan()), v.secret);

  absl::StatusOr<HpkeKeySchedule> schedule =
      BaseModeKeySchedule(v.suite, encapsulation->shared_secret, info);
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  EXPECT_EQ(ToHex(schedule->key.SecretSpan()), v.key);
  EXPECT_EQ(ToHex(schedule->base_nonce.SecretSpan()), v.base_nonce);
  EXPECT_EQ(ToHex(schedule->exporter_secret.SecretSpan()), v.exporter_secret);
}

// Seals and opens messages 0..256 in lockstep and compares the listed ones.
TEST_P(HpkeVectorTest, EncryptionsAndExportsMatch) {
  const BaseModeVector& v = *GetParam();
  const std::vector<std::uint8_t> info = Hex(v.info);
  const std::vector<std::uint8_t> plaintext = Hex(v.plaintext);
  absl::StatusOr<X25519KeyPair> ephemeral = DeriveX25519KeyPair(Hex(v.ikm_e));
  ASSERT_TRUE(ephemeral.ok());
  absl::StatusOr<HpkeSenderSetup> sender = SetupBaseSender(v.suite, Hex(v.pk_rm), info, *ephemeral);
  ASSERT_TRUE(sender.ok()) << sender.status();
  EXPECT_EQ(ToHex(sender->enc), v.enc);
  absl::StatusOr<HpkeContext> recipient =
      SetupBaseRecipient(v.suite, Hex(v.enc), SecretBytes::CopyFrom(Hex(v.sk_rm)), info);
  ASSERT_TRUE(recipient.ok()) << recipient.status();

  const std::vector<std::uint8_t> base_nonce = Hex(v.base_nonce);
  std::size_t next = 0;
  for (std::uint64_t seq = 0; seq <= v.encryptions.back().sequence_number; ++seq) {
    const std::string aad = fmt::format("Count-{}", seq);
    ASSERT_EQ(sender->context.sequence_number(), seq);
    absl::StatusOr<std::vector<std::uint8_t>> ciphertext =
        sender->context.Seal(Bytes(aad), plaintext);
    ASSERT_TRUE(ciphertext.ok()) << ciphertext.status();
    absl::StatusOr<SecretBytes> opened = recipient->Open(Bytes(aad), *ciphertext);
    ASSERT_TRUE(opened.ok()) << "sequence " << seq << ": " << opened.status();
    ASSERT_EQ(ToHex(opened->SecretSpan()), v.plaintext);
    if (next < v.encryptions.size() && v.encryptions[next].sequence_number == seq) {
      const VectorEncryption& expected = v.encryptions[next++];
      EXPECT_EQ(ToHex(*ciphertext), expected.ciphertext) << "sequence " << seq;
      // The vector's nonce is base_nonce XOR I2OSP(seq, 12).
      std::vector<std::uint8_t> nonce = base_nonce;
      for (int i = 0; i < 8; ++i) nonce[11 - i] ^= static_cast<std::uint8_t>(seq >> (8 * i));
      EXPECT_EQ(ToHex(nonce), expected.nonce) << "sequence " << seq;
    }
  }
  EXPECT_EQ(next, v.encryptions.size());

  for (const VectorExport& expected : v.exports) {
    absl::StatusOr<SecretBytes> exported =
        sender->context.Export(Hex(expected.context), expected.length);
    ASSERT_TRUE(exported.ok()) << exported.status();
    EXPECT_EQ(ToHex(exported->SecretSpan()), expected.value) << "context " << expected.context;
    absl::StatusOr<SecretBytes> recipient_exported =
        recipient->Export(Hex(expected.context), expected.length);
    ASSERT_TRUE(recipient_exported.ok());
    EXPECT_TRUE(*recipient_exported == *exported);
  }
}

// A ciphertext from the vector fails to open at the wrong sequence number or with
// another aad, and a failed open does not advance the context.
TEST_P(HpkeVectorTest, VectorCiphertextOnlyOpensInPlace) {
  const BaseModeVector& v = *GetParam();
  absl::StatusOr<HpkeContext> recipient =
      SetupBaseRecipient(v.suite, Hex(v.enc), SecretBytes::CopyFrom(Hex(v.sk_rm)), Hex(v.info));
  ASSERT_TRUE(recipient.ok());
  const std::vector<std::uint8_t> second = Hex(v.encryptions[1].ciphertext);
  EXPECT_EQ(recipient->Open(Bytes("Count-1"), second).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(recipient->sequence_number(), 0u);
  const std::vector<std::uint8_t> first = Hex(v.encryptions[0].ciphertext);
  EXPECT_EQ(recipient->Open(Bytes("Count-9"), first).status().code(),
            absl::StatusCode::kUnauthenticated);
  absl::StatusOr<SecretBytes> opened = recipient->Open(Bytes("Count-0"), first);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(ToHex(opened->SecretSpan()), v.plaintext);
}

INSTANTIATE_TEST_SUITE_P(PublishedVectors, HpkeVectorTest,
                         ::testing::Values(&Rfc9180A11(), &X25519Sha512Aes256()),
                         [](const ::testing::TestParamInfo<const BaseModeVector*>& param) {
                           return std::string(param.index == 0 ? "Rfc9180A11X25519Sha256Aes128"
                                                               : "JsonX25519Sha512Aes256");
                         });

TEST(HpkeSuiteIdTest, CloakSuiteIdentifiers) {
  EXPECT_EQ(ToHex(HpkeSuiteIdOf(kCloakHpkeSuite)), ToHex(Bytes("HPKE")) + "002000010002");
  EXPECT_EQ(ToHex(HpkeSuiteIdOf(Rfc9180A11().suite)), ToHex(Bytes("HPKE")) + "002000010001");
}

// Sealed by pyca/cryptography 48.0.0 (hpke.Suite(KEM.X25519, KDF.HKDF_SHA256,
// AEAD.AES_256_GCM), empty aad) to a fixed recipient key, with Cloak's release info for
// volume "pvc-3f9c2a71", key version 1, and the 64 bytes 00..3f as the "DEK".
TEST(HpkeInteropTest, OpensCloakSuiteCiphertextFromAnotherImplementation) {
  const SecretBytes recipient = SecretBytes::CopyFrom(
      Hex("60e0db9c17d1aa54132e5cf246bc80f1512fe93940dad94edaa06b3cc8d4b371"));
  absl::StatusOr<X25519PublicKey> public_key = X25519PublicKeyOf(recipient);
  ASSERT_TRUE(public_key.ok());
  EXPECT_EQ(ToHex(*public_key), "badef37107c3b9b46fa506877a44e93c8556d0ec7d766943a49be4f4545d6333");
  const std::vector<std::uint8_t> info =
      Hex("636c6f616b2d64656b2d76310000000c7076632d336639633261373100000001");
  const std::vector<std::uint8_t> enc =
      Hex("88d69c82e77f60a0b54a61d1f9fe6f4e721411ad69436f14b5db905fa08fe96a");
  const std::vector<std::uint8_t> ciphertext = Hex(
      "dbe11b6be5539631df7847e639f8cbad070b685748b62e0d4ef37df4a41381e953d22fe940f38bf3f088b0f6787"
      "594f6fef40a5998181e92022eb7c88ff75f1a1ef7d4ce480af86f139017ab0856d786");
  absl::StatusOr<SecretBytes> dek = HpkeOpen(recipient, enc, info, {}, ciphertext);
  ASSERT_TRUE(dek.ok()) << dek.status();
  std::vector<std::uint8_t> expected(64);
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(ToHex(dek->SecretSpan()), ToHex(expected));
}

}  // namespace
}  // namespace cloak::kms
