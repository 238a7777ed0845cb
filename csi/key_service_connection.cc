#include "csi/key_service_connection.h"

#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/status.h"
#include "fmt/format.h"
#include "kms/client/grpc_key_service_client.h"

namespace cloak::csi {
namespace {

class KeyServiceReadiness final : public ReadinessCheck {
 public:
  explicit KeyServiceReadiness(kms::client::KeyServiceClient& keys) : keys_(keys) {}

  absl::Status Check() const override {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (checked_ && now - checked_at_ < std::chrono::minutes(1) && last_.ok()) return last_;
    absl::StatusOr<kms::client::SessionInfo> session = keys_.Attest();
    last_ = session.ok() ? absl::OkStatus()
                         : absl::Status(session.status().code(),
                                        fmt::format("key service at {}: {}", keys_.address(),
                                                    std::string(session.status().message())));
    checked_ = true;
    checked_at_ = now;
    return last_;
  }

 private:
  kms::client::KeyServiceClient& keys_;
  mutable std::mutex mutex_;
  mutable bool checked_ = false;
  mutable std::chrono::steady_clock::time_point checked_at_;
  mutable absl::Status last_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<kms::client::KeyServiceClient>> ConnectKeyService(
    const KeyServiceConnection& connection, std::string_view role) {
  if (connection.address.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("--kms-address is required in {} mode (HOST:PORT)", role));
  }
  std::ifstream in(connection.ca_file);
  if (connection.ca_file.empty() || !in) {
    return absl::NotFoundError(fmt::format("--kms-ca-file {}: cannot be read", connection.ca_file));
  }
  std::stringstream ca;
  ca << in.rdbuf();
  kms::client::GrpcKeyServiceClientOptions client;
  client.address = connection.address;
  client.ca_pem = ca.str();
  client.target_name_override = connection.server_name;
  ASSIGN_OR_RETURN(std::unique_ptr<kms::client::Attester> attester,
                   kms::client::SelectAttester(connection.attester));
  ASSIGN_OR_RETURN(
      std::unique_ptr<kms::client::GrpcKeyServiceClient> keys,
      kms::client::GrpcKeyServiceClient::Create(std::move(client), std::move(attester)));
  return keys;
}

std::unique_ptr<ReadinessCheck> KeyServiceCheck(kms::client::KeyServiceClient& keys) {
  return std::make_unique<KeyServiceReadiness>(keys);
}

}  // namespace cloak::csi
