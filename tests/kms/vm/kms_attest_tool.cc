// kms_attest_tool: the attested key release end to end, one step per subcommand, for the
// VM tier's kms_attest scenario (docs/kms-client.md). Inside the guest it attests with
// the vTPM; on the host it plays the controller with a swtpm and checks the store.
// Output is one JSON object on stdout. It never prints a key or a token, only their
// SHA-256, so the console log may be kept and scanned.
//
//   identity  --tcti CONF [--ak-handle H]
//             {"ak_fingerprint": HEX, "pcrs": {"0": HEX, ...}}; creates the AK at the
//             persistent handle H on first use, so later runs attest with the same AK
//   create    --kms ADDR --ca FILE --tcti CONF --volume ID [--integrity MODE]
//             controller: CreateVolumeKey, {"volume_id", "key_version", "state", "identity"}
//   fetch     --kms ADDR --ca FILE --tcti CONF --volume ID
//             node: GetVolumeKey, {"volume_id", "key_version", "dek_sha256", "dek_bytes",
//             "identity", "token_sha256", "token_bytes"}
//   store-dek --store FILE --kek FILE --volume ID
//             host only: the wrapped DEK unwrapped with the file KEK, {"dek_sha256", ...}
//
// Exit status: 0 success, 2 usage, 10 + the status code on failure (17 PERMISSION_DENIED,
// 24 UNAVAILABLE, ...), with {"error": {"code": NAME, "message": TEXT}} on stdout.

#include <openssl/sha.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/escaping.h"
#include "attest/tpm/tpm_collector.h"
#include "attest/tpm/tpm_crypto.h"
#include "common/hardening.h"
#include "common/status.h"
#include "kms/client/attesters/tpm_attester.h"
#include "kms/client/grpc_key_service_client.h"
#include "kms/crypto/file_kek_provider.h"
#include "kms/crypto/key_binding.h"
#include "kms/store/sqlite_key_store.h"
#include "nlohmann/json.hpp"

namespace cloak::kms::client {
namespace {

using nlohmann::json;

constexpr std::uint32_t kDefaultAkHandle = 0x81010002;
constexpr int kRpcExitBase = 10;

struct Flags {
  std::string tcti;
  std::uint32_t ak_handle = kDefaultAkHandle;
  std::string kms;
  std::string ca;
  std::string target_name = "localhost";
  int timeout_s = 60;
  std::string volume;
  std::string integrity = "none";
  std::string store;
  std::string kek;
};

std::string Sha256Hex(std::span<const std::uint8_t> bytes) {
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(bytes.data(), bytes.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

attest::tpm::TpmCollectorOptions CollectorOptions(const Flags& flags) {
  return attest::tpm::TpmCollectorOptions{.ak_handle = flags.ak_handle, .persist_ak = true};
}

absl::StatusOr<std::unique_ptr<GrpcKeyServiceClient>> Connect(const Flags& flags) {
  ASSIGN_OR_RETURN(std::unique_ptr<TpmAttester> attester,
                   TpmAttester::Open(flags.tcti, CollectorOptions(flags)));
  ASSIGN_OR_RETURN(std::string ca, ReadText(flags.ca));
  return GrpcKeyServiceClient::Create(
      GrpcKeyServiceClientOptions{.address = flags.kms,
                                  .ca_pem = std::move(ca),
                                  .target_name_override = flags.target_name,
                                  .rpc_timeout = absl::Seconds(flags.timeout_s)},
      std::move(attester));
}

absl::StatusOr<json> Identity(const Flags& flags) {
  ASSIGN_OR_RETURN(std::unique_ptr<attest::tpm::TpmCollector> tpm,
                   attest::tpm::TpmCollector::Create(flags.tcti, CollectorOptions(flags)));
  const std::string input = "cloak-identity";
  ASSIGN_OR_RETURN(attest::tpm::TpmQuoteEvidence quote,
                   tpm->CollectQuote(std::span(reinterpret_cast<const std::uint8_t*>(input.data()),
                                               input.size())));
  json pcrs = json::object();
  for (const auto& [index, value] : quote.pcrs) {
    pcrs[std::to_string(index)] = attest::tpm::Hex(value);
  }
  return json{{"ak_fingerprint", attest::tpm::PublicFingerprint(tpm->AkPublic())}, {"pcrs", pcrs}};
}

absl::StatusOr<v1::IntegrityMode> ParseIntegrity(const std::string& name) {
  if (name == "none") return v1::INTEGRITY_MODE_NONE;
  if (name == "hmac-sha256") return v1::INTEGRITY_MODE_HMAC_SHA256;
  if (name == "aead") return v1::INTEGRITY_MODE_AEAD;
  return absl::InvalidArgumentError("--integrity: none, hmac-sha256 or aead");
}

absl::StatusOr<json> Create(const Flags& flags) {
  ASSIGN_OR_RETURN(v1::IntegrityMode mode, ParseIntegrity(flags.integrity));
  ASSIGN_OR_RETURN(std::unique_ptr<GrpcKeyServiceClient> client, Connect(flags));
  ASSIGN_OR_RETURN(SessionInfo session, client->Attest());
  ASSIGN_OR_RETURN(VolumeKeyInfo info, client->CreateVolumeKey(flags.volume, mode, {}));
  return json{{"volume_id", info.volume_id},
              {"key_version", info.key_version},
              {"state", v1::VolumeState_Name(info.state)},
              {"identity", session.identity}};
}

absl::StatusOr<json> Fetch(const Flags& flags) {
  ASSIGN_OR_RETURN(std::unique_ptr<GrpcKeyServiceClient> client, Connect(flags));
  ASSIGN_OR_RETURN(SessionInfo session, client->Attest());
  ASSIGN_OR_RETURN(VolumeKey key, client->GetVolumeKey(flags.volume));
  return json{{"volume_id", flags.volume},
              {"key_version", key.key_version},
              {"dek_sha256", Sha256Hex(key.dek.SecretSpan())},
              {"dek_bytes", key.dek.size()},
              {"identity", session.identity},
              {"token_sha256", session.token_sha256},
              {"token_bytes", session.token_size}};
}

absl::StatusOr<json> StoreDek(const Flags& flags) {
  SystemClock clock;
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteKeyStore> store, SqliteKeyStore::Open(flags.store, clock));
  ASSIGN_OR_RETURN(Volume volume, store->GetVolumeKey(flags.volume));
  ASSIGN_OR_RETURN(std::unique_ptr<FileKekProvider> kek, FileKekProvider::Open(flags.kek));
  ASSIGN_OR_RETURN(SecretBytes dek, kek->Unwrap(volume.kek_version, volume.wrapped_dek.ciphertext(),
                                                WrapAad(volume.key_id, volume.key_version)));
  return json{{"volume_id", flags.volume},
              {"key_version", volume.key_version},
              {"dek_sha256", Sha256Hex(dek.SecretSpan())},
              {"dek_bytes", dek.size()}};
}

int Report(const absl::StatusOr<json>& result) {
  if (result.ok()) {
    std::cout << result->dump() << std::endl;
    return 0;
  }
  const std::string code = absl::StatusCodeToString(result.status().code());
  std::cout << json{{"error", {{"code", code}, {"message", result.status().message()}}}}.dump()
            << std::endl;
  std::cerr << "kms_attest_tool: " << code << ": " << result.status().message() << std::endl;
  return kRpcExitBase + static_cast<int>(result.status().code());
}

int Main(int argc, char** argv) {
  CLI::App app("Attested key release, one step at a time (Cloak's VM tier)");
  app.require_subcommand(1);
  Flags flags;
  const auto tpm_flags = [&flags](CLI::App* command) {
    command->add_option("--tcti", flags.tcti, "TCTI, e.g. device:/dev/tpmrm0")->required();
    command->add_option("--ak-handle", flags.ak_handle, "Persistent handle of the AK");
  };
  const auto kms_flags = [&flags](CLI::App* command) {
    command->add_option("--kms", flags.kms, "Key service HOST:PORT")->required();
    command->add_option("--ca", flags.ca, "PEM CA of the key service's certificate")->required();
    command->add_option("--target-name", flags.target_name, "Name the certificate must carry");
    command->add_option("--timeout", flags.timeout_s, "Seconds per RPC");
    command->add_option("--volume", flags.volume, "Volume id")->required();
  };
  CLI::App* identity = app.add_subcommand("identity", "Print the AK fingerprint and PCRs");
  tpm_flags(identity);
  CLI::App* create = app.add_subcommand("create", "CreateVolumeKey as the controller");
  tpm_flags(create);
  kms_flags(create);
  create->add_option("--integrity", flags.integrity, "none, hmac-sha256 or aead");
  CLI::App* fetch = app.add_subcommand("fetch", "GetVolumeKey as a node");
  tpm_flags(fetch);
  kms_flags(fetch);
  CLI::App* store_dek = app.add_subcommand("store-dek", "SHA-256 of the DEK in the store");
  store_dek->add_option("--store", flags.store, "SQLite store file")->required();
  store_dek->add_option("--kek", flags.kek, "File KEK")->required();
  store_dek->add_option("--volume", flags.volume, "Volume id")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }
  // The node holds a DEK for a moment: no core dump may contain it.
  if (absl::Status hardened = HardenProcess(); !hardened.ok()) return Report(hardened);
  if (identity->parsed()) return Report(Identity(flags));
  if (create->parsed()) return Report(Create(flags));
  if (fetch->parsed()) return Report(Fetch(flags));
  return Report(StoreDek(flags));
}

}  // namespace
}  // namespace cloak::kms::client

int main(int argc, char** argv) { return cloak::kms::client::Main(argc, argv); }
