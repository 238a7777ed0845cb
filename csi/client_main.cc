// cloak-csi-client: calls a CSI plugin over its Unix socket the way Kubernetes'
// sidecars and kubelet do, and prints each response as JSON. Used by scripts/demo and
// by operators checking a plugin by hand.

#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "csi/csi.grpc.pb.h"
#include "csi/server.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"

namespace {

constexpr int kUsageError = 2;

void PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  std::printf("%s\n", json.c_str());
}

int Report(const grpc::Status& status, const google::protobuf::Message& response) {
  if (!status.ok()) {
    std::fprintf(stderr, "cloak-csi-client: call failed: code %d: %s\n",
                 static_cast<int>(status.error_code()), status.error_message().c_str());
    return 1;
  }
  PrintJson(response);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint;
  int timeout_seconds = 30;
  CLI::App app{"cloak-csi-client: call a CSI plugin and print the responses as JSON"};
  app.add_option("--endpoint", endpoint, "plugin endpoint, unix:///path/csi.sock")->required();
  app.add_option("--timeout", timeout_seconds, "seconds per call")->capture_default_str();
  app.require_subcommand(1);
  auto* info = app.add_subcommand("plugin-info", "Identity.GetPluginInfo");
  auto* capabilities = app.add_subcommand("capabilities", "Identity.GetPluginCapabilities");
  auto* probe = app.add_subcommand("probe", "Identity.Probe");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "cloak-csi-client: %s (see --help)\n", e.what());
    return kUsageError;
  }
  const auto socket_path = cloak::csi::ParseUnixEndpoint(endpoint);
  if (!socket_path.ok()) {
    std::fprintf(stderr, "cloak-csi-client: %s\n",
                 std::string(socket_path.status().message()).c_str());
    return kUsageError;
  }

  auto channel = grpc::CreateChannel("unix:" + *socket_path, grpc::InsecureChannelCredentials());
  auto identity = csi::v1::Identity::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_seconds));

  if (info->parsed()) {
    csi::v1::GetPluginInfoResponse response;
    return Report(identity->GetPluginInfo(&context, {}, &response), response);
  }
  if (capabilities->parsed()) {
    csi::v1::GetPluginCapabilitiesResponse response;
    return Report(identity->GetPluginCapabilities(&context, {}, &response), response);
  }
  if (probe->parsed()) {
    csi::v1::ProbeResponse response;
    return Report(identity->Probe(&context, {}, &response), response);
  }
  return kUsageError;
}
