#include "tests/kms/server/kms_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "kms/crypto/key_binding.h"

extern char** environ;

namespace cloak::kms::server_test {

std::string KmsBinary() {
  const char* dir = std::getenv("CLOAK_BINARY_DIR");
  return std::string(dir != nullptr ? dir : ".") + "/kms/server/cloak-kms";
}

ScratchDir::ScratchDir(const std::string& base) {
  std::string root = base;
  if (root.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    root = tmp != nullptr ? tmp : "/tmp";
  }
  std::string pattern = root + "/cloak-kms-server-XXXXXX";
  if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}

namespace {

pid_t Spawn(const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
            const std::string& log_path) {
  std::vector<std::string> argv_strings = {KmsBinary()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> envp;
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  // The test blocks no signals the child needs, but make sure it starts with none blocked.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return pid;
}

int DecodeWait(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

int RunInit(const std::string& dir, const std::string& cloakctl) {
  const pid_t pid = Spawn({"init", "--dir", dir, "--cloakctl-config", cloakctl}, {}, "");
  if (pid < 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return DecodeWait(status);
}

KmsProcess::KmsProcess(Options options) : options_(std::move(options)) {
  pid_ = Spawn(options_.args, options_.env, options_.log_path);
}

KmsProcess::~KmsProcess() {
  if (pid_ > 0 && !exit_code_.has_value()) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

absl::StatusOr<std::string> KmsProcess::WaitReady(std::chrono::milliseconds timeout,
                                                  const std::string& stale) {
  if (pid_ < 0) return absl::InternalError("cloak-kms did not start: " + KmsBinary());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = ReadFile(options_.ready_file);
    if (!text.empty() && text != stale && text.back() == '\n') {
      return text.substr(0, text.size() - 1);
    }
    if (auto code = WaitExit(std::chrono::milliseconds(0)); code.has_value()) {
      return absl::FailedPreconditionError("cloak-kms exited with " + std::to_string(*code) +
                                           " before it was ready; log:\n" +
                                           ReadFile(options_.log_path));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError("cloak-kms was not ready in time; log:\n" +
                                     ReadFile(options_.log_path));
}

void KmsProcess::Signal(int signal_number) {
  if (pid_ > 0 && !exit_code_.has_value()) kill(pid_, signal_number);
}

std::optional<int> KmsProcess::WaitExit(std::chrono::milliseconds timeout) {
  if (exit_code_.has_value()) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exit_code_ = DecodeWait(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TlsFiles AdminTlsFiles(const std::string& dir) {
  return TlsFiles{.ca_pem = ReadFile(dir + "/ca.pem"),
                  .cert_pem = ReadFile(dir + "/admin.pem"),
                  .key_pem = ReadFile(dir + "/admin-key.pem")};
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const TlsFiles& tls) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls.ca_pem;
  options.pem_cert_chain = tls.cert_pem;
  options.pem_private_key = tls.key_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  // A fresh connection per channel, so that channels with different client certificates
  // never share one.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
}

absl::Status ToAbsl(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

std::pair<int, std::string> Shell(const std::string& command) {
  std::string output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  char buffer[4096];
  while (std::size_t n = fread(buffer, 1, sizeof(buffer), pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::string AsString(std::span<const std::uint8_t> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

namespace {
std::span<const std::uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
}  // namespace

absl::StatusOr<Session> Attest(v1::KeyService::Stub& stub, const std::string& identity) {
  grpc::ClientContext challenge_context;
  v1::ChallengeResponse challenge;
  absl::Status status =
      ToAbsl(stub.Challenge(&challenge_context, v1::ChallengeRequest(), &challenge));
  if (!status.ok()) return status;
  auto key_pair = HpkeGenerateKeyPair();
  if (!key_pair.ok()) return key_pair.status();
  Session session;
  session.key_pair = *std::move(key_pair);
  session.binding = ComputeBinding(AsBytes(challenge.nonce()), session.key_pair.public_key);
  v1::AttestRequest request;
  request.set_nonce(challenge.nonce());
  request.set_ephemeral_public_key(AsString(session.key_pair.public_key));
  request.set_evidence_type(v1::EVIDENCE_TYPE_NONE);
  request.set_evidence(AsString(NoneVerifier::MakeEvidence(session.binding, identity)));
  grpc::ClientContext attest_context;
  v1::AttestResponse response;
  status = ToAbsl(stub.Attest(&attest_context, request, &response));
  if (!status.ok()) return status;
  session.token = response.session_token();
  return session;
}

absl::StatusOr<SecretBytes> FetchDek(v1::KeyService::Stub& stub, const Session& node,
                                     const std::string& volume_id,
                                     v1::GetVolumeKeyResponse* response) {
  v1::GetVolumeKeyRequest request;
  request.set_session_token(node.token);
  request.set_volume_id(volume_id);
  request.set_ephemeral_public_key(AsString(node.key_pair.public_key));
  v1::GetVolumeKeyResponse local;
  v1::GetVolumeKeyResponse* out = response != nullptr ? response : &local;
  grpc::ClientContext context;
  absl::Status status = ToAbsl(stub.GetVolumeKey(&context, request, out));
  if (!status.ok()) return status;
  return HpkeOpen(node.key_pair.private_key, AsBytes(out->sealed_dek_enc()),
                  ReleaseInfo(volume_id, out->key_version()), node.binding,
                  AsBytes(out->sealed_dek()));
}

}  // namespace cloak::kms::server_test

namespace cloak::kms::server_test {

absl::Status Restart(KmsInstance& instance, std::vector<std::string> args,
                     std::vector<std::string> env) {
  std::vector<std::string> full = {"serve",       "--config",     instance.config, "--listen",
                                   "127.0.0.1:0", "--ready-file", instance.ready};
  full.insert(full.end(), args.begin(), args.end());
  instance.process = std::make_unique<KmsProcess>(KmsProcess::Options{
      .args = full, .env = std::move(env), .log_path = instance.log, .ready_file = instance.ready});
  absl::StatusOr<std::string> address =
      instance.process->WaitReady(std::chrono::seconds(20), ReadFile(instance.ready));
  if (!address.ok()) return address.status();
  instance.address = *address;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<KmsInstance>> InitAndServe(std::vector<std::string> args,
                                                          std::vector<std::string> env,
                                                          const std::string& base,
                                                          std::string (*config_edit)(std::string)) {
  auto instance = std::make_unique<KmsInstance>();
  instance->scratch = std::make_unique<ScratchDir>(base);
  if (instance->scratch->path().empty()) return absl::InternalError("mkdtemp failed");
  instance->dir = instance->scratch->File("kms");
  const int init = RunInit(instance->dir, instance->scratch->File("cloakctl.yaml"));
  if (init != 0) return absl::InternalError("cloak-kms init exited with " + std::to_string(init));
  instance->config = instance->dir + "/kms.yaml";
  if (config_edit != nullptr) {
    instance->config = instance->dir + "/kms-test.yaml";
    WriteFile(instance->config, config_edit(ReadFile(instance->dir + "/kms.yaml")));
  }
  instance->log = instance->scratch->File("kms.log");
  instance->ready = instance->scratch->File("ready");
  absl::Status started = Restart(*instance, std::move(args), std::move(env));
  if (!started.ok()) return started;
  return instance;
}

}  // namespace cloak::kms::server_test
