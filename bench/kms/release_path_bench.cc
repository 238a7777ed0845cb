// Where a key release spends its time, in process, without gRPC and TLS: session token
// verification, DEK unwrap, HPKE seal, the audit append (in-memory store vs SQLite with
// synchronous=FULL), and the whole DoGetVolumeKey handler over each store. Reports
// microseconds per operation on one thread; asserts nothing.
//
//   release_path_bench [--ops=5000]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>

#include "kms/crypto/hpke.h"
#include "kms/crypto/key_binding.h"
#include "kms/store/sqlite_key_store.h"
#include "tests/kms/service/service_test_util.h"

namespace cloak::kms::kms_test {
namespace {

double MicrosPerOp(int ops, const std::function<bool()>& op) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < ops; ++i) {
    if (!op()) {
      std::fprintf(stderr, "release_path_bench: an operation failed\n");
      std::exit(1);
    }
  }
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
             .count() /
         ops;
}

AuditEvent ReleaseEvent() {
  AuditEvent event;
  event.actor = "node/bench";
  event.action = "GetVolumeKey";
  event.volume_id = "vol-1";
  event.outcome = "ok";
  event.details = {{"key_version", "1"}, {"kek_version", "1"}, {"session", "0011223344556677"}};
  return event;
}

int Run(int ops) {
  ServiceHarness h;
  Session controller = h.Attest("controller/bench").value();
  Session node = h.Attest("node/bench").value();
  if (!h.Create(controller, "vol-1").ok()) return 1;
  v1::GetVolumeKeyRequest request;
  request.set_session_token(node.token);
  request.set_volume_id("vol-1");
  request.set_ephemeral_public_key(AsString(node.key_pair.public_key));
  const Volume volume = h.store.GetVolumeKey("vol-1").value();
  const SecretBytes dek = h.StoredDek("vol-1").value();
  const std::vector<std::uint8_t> aad = WrapAad(volume.key_id, volume.key_version);

  std::printf("| step | us/op |\n|---|---|\n");
  std::printf("| session token verify, a token seen before | %.1f |\n",
              MicrosPerOp(ops, [&] { return h.tokens->Verify(AsBytes(node.token)).ok(); }));
  std::printf(
      "| DEK unwrap (file KEK, AES-256-GCM) | %.1f |\n", MicrosPerOp(ops, [&] {
        return h.keks->Unwrap(volume.kek_version, volume.wrapped_dek.ciphertext(), aad).ok();
      }));
  std::printf(
      "| HPKE seal to the node's key | %.1f |\n", MicrosPerOp(ops, [&] {
        return HpkeSeal(node.key_pair.public_key, ReleaseInfo("vol-1", 1), node.binding, dek).ok();
      }));
  std::printf("| volume record JSON | %.1f |\n",
              MicrosPerOp(ops, [&] { return RenderVolumeRecord(volume).ok(); }));
  std::printf("| audit append, in-memory store | %.1f |\n",
              MicrosPerOp(ops, [&] { return h.store.AppendAudit(ReleaseEvent()).ok(); }));
  std::printf("| DoGetVolumeKey, in-memory store | %.1f |\n", MicrosPerOp(ops, [&] {
                v1::GetVolumeKeyResponse response;
                return h.service->DoGetVolumeKey(request, &response).ok();
              }));

  absl::StatusOr<std::unique_ptr<SqliteKeyStore>> sqlite =
      SqliteKeyStore::Open(h.dir.File("bench.db"), h.clock);
  if (!sqlite.ok()) return 1;
  const int durable_ops = std::max(1, ops / 10);
  std::printf(
      "| audit append, SQLite (one fsync each, one caller) | %.1f |\n",
      MicrosPerOp(durable_ops, [&] { return (*sqlite)->AppendAudit(ReleaseEvent()).ok(); }));
  std::printf("| volume read, SQLite | %.1f |\n", MicrosPerOp(ops, [&] {
                return (*sqlite)->GetVolume("absent").status().code() ==
                       absl::StatusCode::kNotFound;
              }));
  return 0;
}

}  // namespace
}  // namespace cloak::kms::kms_test

int main(int argc, char** argv) {
  int ops = 5000;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--ops=")) {
      ops = std::atoi(argv[i] + 6);
    } else {
      std::fprintf(stderr, "usage: release_path_bench [--ops=5000]\n");
      return 2;
    }
  }
  if (ops < 10) ops = 10;
  return cloak::kms::kms_test::Run(ops);
}
