// cloak-csi-client: calls a CSI plugin over its Unix socket the way Kubernetes'
// sidecars and kubelet do, and prints each response as JSON. Used by scripts/demo, the VM
// tier and operators checking a plugin by hand.
//
//   cloak-csi-client --endpoint unix:///csi.sock probe
//   cloak-csi-client --endpoint unix:///csi.sock node stage '{"volume_id": "pvc-1", ...}'
//
// Node calls take the request as proto JSON (field names as in csi.proto). A failed call
// prints the code and message on stderr and exits 10 + the gRPC code (e.g. 19 for
// FAILED_PRECONDITION), so that scripts can tell refusals apart; usage errors exit 2.

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

constexpr int kCallFailedBase = 10;

int Report(const grpc::Status& status, const google::protobuf::Message& response) {
  if (!status.ok()) {
    std::fprintf(stderr, "cloak-csi-client: call failed: code %d: %s\n",
                 static_cast<int>(status.error_code()), status.error_message().c_str());
    return kCallFailedBase + static_cast<int>(status.error_code());
  }
  PrintJson(response);
  return 0;
}

// Parses `json` into a `Request` and runs `call` with it.
template <typename Request, typename Response, typename Call>
int NodeCall(const std::string& json, Call call) {
  Request request;
  if (!json.empty()) {
    const auto parsed = google::protobuf::util::JsonStringToMessage(json, &request);
    if (!parsed.ok()) {
      std::fprintf(stderr, "cloak-csi-client: the request is not a %s in JSON: %s\n",
                   Request::descriptor()->name().c_str(), parsed.ToString().c_str());
      return kUsageError;
    }
  }
  Response response;
  const grpc::Status status = call(request, &response);
  return Report(status, response);
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
  std::string node_method;
  std::string node_request;
  auto* node = app.add_subcommand("node", "a Node service call with a JSON request");
  node->add_option("method", node_method,
                   "stage, unstage, publish, unpublish, stats, expand, capabilities or info")
      ->required();
  node->add_option("request", node_request, "the request message as JSON (default {})");
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
  if (node->parsed()) {
    namespace v1 = csi::v1;
    auto stub = v1::Node::NewStub(channel);
    auto* c = &context;
    if (node_method == "stage") {
      return NodeCall<v1::NodeStageVolumeRequest, v1::NodeStageVolumeResponse>(
          node_request, [&](const auto& q, auto* r) { return stub->NodeStageVolume(c, q, r); });
    }
    if (node_method == "unstage") {
      return NodeCall<v1::NodeUnstageVolumeRequest, v1::NodeUnstageVolumeResponse>(
          node_request, [&](const auto& q, auto* r) { return stub->NodeUnstageVolume(c, q, r); });
    }
    if (node_method == "publish") {
      return NodeCall<v1::NodePublishVolumeRequest, v1::NodePublishVolumeResponse>(
          node_request, [&](const auto& q, auto* r) { return stub->NodePublishVolume(c, q, r); });
    }
    if (node_method == "unpublish") {
      return NodeCall<v1::NodeUnpublishVolumeRequest, v1::NodeUnpublishVolumeResponse>(
          node_request, [&](const auto& q, auto* r) { return stub->NodeUnpublishVolume(c, q, r); });
    }
    if (node_method == "stats") {
      return NodeCall<v1::NodeGetVolumeStatsRequest, v1::NodeGetVolumeStatsResponse>(
          node_request, [&](const auto& q, auto* r) { return stub->NodeGetVolumeStats(c, q, r); });
    }
    if (node_method == "expand") {
      return NodeCall<v1::NodeExpandVolumeRequest, v1::NodeExpandVolumeResponse>(
          node_request, [&](const auto& q, auto* r) { return stub->NodeExpandVolume(c, q, r); });
    }
    if (node_method == "capabilities") {
      return NodeCall<v1::NodeGetCapabilitiesRequest, v1::NodeGetCapabilitiesResponse>(
          node_request, [&](const auto& q, auto* r) { return stub->NodeGetCapabilities(c, q, r); });
    }
    if (node_method == "info") {
      return NodeCall<v1::NodeGetInfoRequest, v1::NodeGetInfoResponse>(
          node_request, [&](const auto& q, auto* r) { return stub->NodeGetInfo(c, q, r); });
    }
    std::fprintf(stderr, "cloak-csi-client: unknown node method %s\n", node_method.c_str());
    return kUsageError;
  }
  return kUsageError;
}
