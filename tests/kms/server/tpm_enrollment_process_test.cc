// TPM attestation key enrollment end to end: the real cloak-kms binary trusting the EK CA
// of a swtpm the test starts, and the node's client (GrpcKeyServiceClient with the
// TpmAttester over that swtpm). An AK that is neither pinned nor enrolled is refused; the
// client's credential activation binds it, after which Attest admits it and keys are
// released. A wrong secret, a replayed enrollment, an EK certificate from another CA and
// a revoked binding are refused; the credential's secret appears in no log or store file.

#include <signal.h>

#include <cstdio>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "attest/tpm/tpm_collector.h"
#include "attest/tpm/tpm_crypto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kms/client/attesters/tpm_attester.h"
#include "kms/client/grpc_key_service_client.h"
#include "nlohmann/json.hpp"
#include "tests/attest/tpm/swtpm_fixture.h"
#include "tests/kms/server/kms_process.h"

namespace cloak::kms::server_test {
namespace {

using attest::tpm::testing::Swtpm;
using ::testing::HasSubstr;
using ::testing::Not;

// The EK CA file the served config names (config_edit takes no captures).
std::string& EkCaPath() {
  static std::string path;
  return path;
}

std::string WithEkCa(std::string yaml) {
  return yaml + "\nattestation:\n  tpm:\n    ek_ca_files: [" + EkCaPath() + "]\n";
}

std::string Hex(std::span<const std::uint8_t> bytes) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// Records the secret the TPM recovered while passing the calls on to the service.
class RecordingChannel final : public client::EnrollmentChannel {
 public:
  explicit RecordingChannel(v1::KeyService::Stub& stub) : stub_(stub) {}

  absl::StatusOr<v1::BeginAkEnrollmentResponse> BeginAkEnrollment(
      const v1::BeginAkEnrollmentRequest& request) override {
    grpc::ClientContext context;
    v1::BeginAkEnrollmentResponse response;
    absl::Status status = ToAbsl(stub_.BeginAkEnrollment(&context, request, &response));
    if (!status.ok()) return status;
    last_offer = response;
    return response;
  }
  absl::StatusOr<v1::CompleteAkEnrollmentResponse> CompleteAkEnrollment(
      const v1::CompleteAkEnrollmentRequest& request) override {
    secrets.push_back(request.secret());
    last_complete = request;
    if (tamper) last_complete.mutable_secret()->back() ^= 0x01;
    grpc::ClientContext context;
    v1::CompleteAkEnrollmentResponse response;
    absl::Status status = ToAbsl(stub_.CompleteAkEnrollment(&context, last_complete, &response));
    if (!status.ok()) return status;
    last_result = response;
    return response;
  }

  bool tamper = false;
  std::vector<std::string> secrets;
  v1::BeginAkEnrollmentResponse last_offer;
  v1::CompleteAkEnrollmentRequest last_complete;
  v1::CompleteAkEnrollmentResponse last_result;

 private:
  v1::KeyService::Stub& stub_;
};

class TpmEnrollmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!Swtpm::Available()) GTEST_SKIP() << "swtpm/swtpm_setup not installed";
    StartTpm();
    if (HasFatalFailure()) return;
    scratch_ = std::make_unique<ScratchDir>();
    EkCaPath() = scratch_->File("ek-ca.pem");
    WriteFile(EkCaPath(), tpm_->CaCertificatePem());
    auto instance = InitAndServe({"--log-level", "debug"}, {}, "", WithEkCa);
    ASSERT_TRUE(instance.ok()) << instance.status();
    kms_ = *std::move(instance);
    const TlsFiles admin_tls = AdminTlsFiles(kms_->dir);
    TlsFiles anonymous = admin_tls;
    anonymous.cert_pem.clear();
    anonymous.key_pem.clear();
    keys_ = v1::KeyService::NewStub(MakeChannel(kms_->address, anonymous));
    admin_ = v1::AdminService::NewStub(MakeChannel(kms_->address, admin_tls));
    ca_pem_ = admin_tls.ca_pem;
  }

  void TearDown() override {
    if (kms_ == nullptr) return;
    keys_.reset();  // open channels would hold the drain for its whole timeout
    admin_.reset();
    kms_->process->Signal(SIGTERM);
    EXPECT_EQ(kms_->process->WaitExit(std::chrono::seconds(15)), 0);
    if (HasFailure()) {
      std::fprintf(stderr, "--- %s ---\n%s\n--- cloak-kms log ---\n%s\n", kms_->config.c_str(),
                   ReadFile(kms_->config).c_str(), ReadFile(kms_->log).c_str());
    }
  }

  void StartTpm() {
    absl::StatusOr<std::unique_ptr<Swtpm>> started = Swtpm::Start();
    ASSERT_TRUE(started.ok()) << started.status();
    tpm_ = *std::move(started);
  }

  // The AK persisted at a handle, as a node keeps it, so that every attester opened on
  // one swtpm has the same AK. swtpm serves one connection at a time: callers drop the
  // attester before opening the next.
  std::unique_ptr<client::TpmAttester> Attester(Swtpm& tpm) {
    attest::tpm::TpmCollectorOptions options;
    options.ak_handle = 0x81010002;
    options.persist_ak = true;
    absl::StatusOr<std::unique_ptr<client::TpmAttester>> attester =
        client::TpmAttester::Open(tpm.TctiConf(), options);
    EXPECT_TRUE(attester.ok()) << attester.status();
    return attester.ok() ? *std::move(attester) : nullptr;
  }

  absl::StatusOr<std::unique_ptr<client::GrpcKeyServiceClient>> Client(
      std::unique_ptr<client::Attester> attester, bool enroll) {
    client::GrpcKeyServiceClientOptions options;
    options.address = kms_->address;
    options.ca_pem = ca_pem_;
    options.target_name_override = "localhost";
    options.enroll_attester = enroll;
    return client::GrpcKeyServiceClient::Create(std::move(options), std::move(attester));
  }

  absl::Status SetPolicy(const std::string& name, const nlohmann::json& document) {
    v1::GetPolicyRequest get;
    get.set_name(name);
    grpc::ClientContext get_context;
    v1::Policy current;
    const grpc::Status got = admin_->GetPolicy(&get_context, get, &current);
    v1::SetPolicyRequest request;
    request.set_name(name);
    request.set_document(document.dump());
    request.set_expected_version(got.ok() ? current.version() : 0);
    grpc::ClientContext context;
    v1::Policy stored;
    return ToAbsl(admin_->SetPolicy(&context, request, &stored));
  }

  absl::StatusOr<v1::Policy> GetPolicy(const std::string& name) {
    v1::GetPolicyRequest request;
    request.set_name(name);
    grpc::ClientContext context;
    v1::Policy policy;
    absl::Status status = ToAbsl(admin_->GetPolicy(&context, request, &policy));
    if (!status.ok()) return status;
    return policy;
  }

  std::vector<v1::AuditEntry> Audit() {
    v1::ListAuditRequest request;
    request.set_limit(1000);
    grpc::ClientContext context;
    v1::ListAuditResponse response;
    EXPECT_TRUE(admin_->ListAudit(&context, request, &response).ok());
    return {response.entries().begin(), response.entries().end()};
  }

  // Trusts EK-certified AKs only (nothing pinned) and admits a TPM guest whose PCR 0 is
  // this swtpm's.
  absl::Status SetEkCaPolicy(const std::string& pcr0) {
    return SetPolicy(
        "attestation",
        {{"version", 1},
         {"tpm", {{"pcrs", {{"0", {pcr0}}}}, {"allow_ek_ca", true}}},
         {"rules", {{{"name", "swtpm-nodes"}, {"role", "node"}, {"match", {{"tee", {"tpm"}}}}}}}});
  }

  std::unique_ptr<Swtpm> tpm_;
  std::unique_ptr<ScratchDir> scratch_;
  std::unique_ptr<KmsInstance> kms_;
  std::unique_ptr<v1::KeyService::Stub> keys_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::string ca_pem_;
};

// PCR 0 of `tpm` as the collector quotes it.
std::string ReadPcr0(Swtpm& tpm) {
  absl::StatusOr<std::unique_ptr<attest::tpm::TpmCollector>> collector =
      attest::tpm::TpmCollector::Create(tpm.TctiConf(), {});
  EXPECT_TRUE(collector.ok()) << collector.status();
  if (!collector.ok()) return "";
  const std::vector<std::uint8_t> input = {'p', 'c', 'r'};
  absl::StatusOr<attest::tpm::TpmQuoteEvidence> quote = (*collector)->CollectQuote(input);
  EXPECT_TRUE(quote.ok()) << quote.status();
  if (!quote.ok()) return "";
  for (const auto& [index, value] : quote->pcrs) {
    if (index == 0) return Hex(value);
  }
  return "";
}

TEST_F(TpmEnrollmentTest, CredentialActivationBindsTheAkAndAttestThenAdmitsIt) {
  {
    const absl::Status set = SetEkCaPolicy(ReadPcr0(*tpm_));
    ASSERT_TRUE(set.ok()) << set;
  }

  // Not pinned, not enrolled: the quote is authentic but its key is not trusted.
  {
    auto client = Client(Attester(*tpm_), /*enroll=*/false);
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<client::SessionInfo> session = (*client)->Attest();
    EXPECT_EQ(session.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(session.status().message()),
                HasSubstr("not bound by credential activation"));
  }

  // Enrollment by hand, through a channel that keeps what the TPM recovered.
  std::string ak_fingerprint;
  std::string secret;
  {
    std::unique_ptr<client::TpmAttester> attester = Attester(*tpm_);
    ASSERT_NE(attester, nullptr);
    ak_fingerprint = attest::tpm::PublicFingerprint(attester->AkPublic());
    RecordingChannel channel(*keys_);
    ASSERT_TRUE(attester->Enroll(channel).ok());
    ASSERT_EQ(channel.secrets.size(), 1u);
    secret = channel.secrets[0];
    EXPECT_EQ(secret.size(), 32u);
    EXPECT_EQ(channel.last_offer.ak_fingerprint(), ak_fingerprint);
    EXPECT_EQ(channel.last_result.ak_fingerprint(), ak_fingerprint);
    EXPECT_TRUE(channel.last_result.newly_bound());

    // The enrollment was answered: it cannot be answered again.
    grpc::ClientContext context;
    v1::CompleteAkEnrollmentResponse again;
    EXPECT_EQ(keys_->CompleteAkEnrollment(&context, channel.last_complete, &again).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }

  absl::StatusOr<v1::Policy> bindings = GetPolicy("tpm-ak-bindings");
  ASSERT_TRUE(bindings.ok()) << bindings.status();
  EXPECT_EQ(bindings->version(), 1);
  EXPECT_THAT(bindings->document(), HasSubstr(ak_fingerprint));

  // Now the same AK attests (the client enrolls it again first, which changes nothing).
  {
    auto client = Client(Attester(*tpm_), /*enroll=*/true);
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<client::SessionInfo> session = (*client)->Attest();
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_THAT(session->identity, HasSubstr("node/swtpm-nodes@"));
    // Enrolling again left the record as it was.
    absl::StatusOr<v1::Policy> unchanged = GetPolicy("tpm-ak-bindings");
    ASSERT_TRUE(unchanged.ok());
    EXPECT_EQ(unchanged->version(), 1);
  }

  bool audited_binding = false;
  bool audited_attest = false;
  for (const v1::AuditEntry& entry : Audit()) {
    if (entry.action() == "CompleteAkEnrollment" && entry.outcome() == "ok" &&
        entry.details().count("ak_fingerprint") &&
        entry.details().at("ak_fingerprint") == ak_fingerprint &&
        !entry.details().count("already_bound")) {
      audited_binding = true;
    }
    if (entry.action() == "Attest" && entry.outcome() == "ok" &&
        entry.details().count("ak_trust") && entry.details().at("ak_trust") == "ek-ca") {
      audited_attest = true;
    }
  }
  EXPECT_TRUE(audited_binding);
  EXPECT_TRUE(audited_attest);

  // The secret the TPM recovered is in no log and no store file, in any encoding.
  const std::string db = ReadFile(kms_->dir + "/store.db") + ReadFile(kms_->dir + "/store.db-wal");
  ASSERT_FALSE(db.empty());
  const std::string log = ReadFile(kms_->log);
  ASSERT_FALSE(log.empty());
  for (const std::string& encoded :
       {secret, absl::BytesToHexString(secret), absl::Base64Escape(secret)}) {
    EXPECT_EQ(db.find(encoded), std::string::npos) << "the credential secret is in the store";
    EXPECT_EQ(log.find(encoded), std::string::npos) << "the credential secret is in the log";
  }

  // Revocation: an operator stores a version without the binding; the AK is refused again
  // (this replica reads the new version at once).
  ASSERT_TRUE(SetPolicy("tpm-ak-bindings", {{"bindings", nlohmann::json::array()}}).ok());
  {
    auto client = Client(Attester(*tpm_), /*enroll=*/false);
    ASSERT_TRUE(client.ok());
    EXPECT_EQ((*client)->Attest().status().code(), absl::StatusCode::kUnauthenticated);
  }
  // A bindings document that does not parse is refused whole.
  EXPECT_EQ(SetPolicy("tpm-ak-bindings", {{"bindings", {{{"ak", "xyz"}}}}}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TpmEnrollmentTest, AWrongSecretIsRefusedAndUsesUpTheEnrollment) {
  {
    const absl::Status set = SetEkCaPolicy(ReadPcr0(*tpm_));
    ASSERT_TRUE(set.ok()) << set;
  }
  std::unique_ptr<client::TpmAttester> attester = Attester(*tpm_);
  ASSERT_NE(attester, nullptr);
  RecordingChannel channel(*keys_);
  channel.tamper = true;
  const absl::Status refused = attester->Enroll(channel);
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("not in the same TPM"));
  // The right secret for the same enrollment comes too late.
  v1::CompleteAkEnrollmentRequest right = channel.last_complete;
  right.mutable_secret()->back() ^= 0x01;
  grpc::ClientContext context;
  v1::CompleteAkEnrollmentResponse response;
  EXPECT_EQ(keys_->CompleteAkEnrollment(&context, right, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GetPolicy("tpm-ak-bindings").status().code(), absl::StatusCode::kNotFound);

  bool audited = false;
  for (const v1::AuditEntry& entry : Audit()) {
    if (entry.action() == "CompleteAkEnrollment" && entry.outcome() == "PERMISSION_DENIED") {
      audited = true;
    }
  }
  EXPECT_TRUE(audited);
}

TEST_F(TpmEnrollmentTest, AnEkCertificateFromAnotherCaAndAPolicyWithoutEkCaAreRefused) {
  // Without tpm.allow_ek_ca the service does not enroll at all.
  ASSERT_TRUE(
      SetPolicy(
          "attestation",
          {{"version", 1},
           {"tpm",
            {{"pcrs", {{"0", {std::string(64, '0')}}}}, {"trusted_aks", {std::string(64, 'a')}}}},
           {"rules", {{{"name", "n"}, {"role", "node"}, {"match", {{"tee", {"tpm"}}}}}}}})
          .ok());
  {
    std::unique_ptr<client::TpmAttester> attester = Attester(*tpm_);
    ASSERT_NE(attester, nullptr);
    RecordingChannel channel(*keys_);
    const absl::Status status = attester->Enroll(channel);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(status.message()), HasSubstr("allow_ek_ca"));
  }

  ASSERT_TRUE(SetEkCaPolicy(std::string(64, '0')).ok());
  absl::StatusOr<std::unique_ptr<Swtpm>> other = Swtpm::Start({.ca_common_name = "Other CA"});
  ASSERT_TRUE(other.ok()) << other.status();
  std::unique_ptr<client::TpmAttester> attester = Attester(**other);
  ASSERT_NE(attester, nullptr);
  RecordingChannel channel(*keys_);
  const absl::Status status = attester->Enroll(channel);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(status.message()), HasSubstr("ek_certificate"));
  EXPECT_TRUE(channel.secrets.empty());

  // The client reports why its AK is untrusted when Attest then fails.
  auto client = Client(std::move(attester), /*enroll=*/true);
  ASSERT_TRUE(client.ok());
  absl::StatusOr<client::SessionInfo> session = (*client)->Attest();
  EXPECT_EQ(session.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(session.status().message()),
              HasSubstr("attestation key enrollment was refused earlier"));
}

}  // namespace
}  // namespace cloak::kms::server_test
