// cloak-csi-client: calls a CSI plugin over its Unix socket the way Kubernetes'
// sidecars and kubelet do, and prints each response as JSON. Used by scripts/demo, the VM
// tier and operators checking a plugin by hand.
//
//   cloak-csi-client --endpoint unix:///csi.sock probe
//   cloak-csi-client --endpoint unix:///csi.sock node stage '{"volume_id": "pvc-1", ...}'
//   cloak-csi-client --endpoint unix:///csi.sock controller create '{"name": "pvc-1", ...}'
//
// Node and Controller calls take the request as proto JSON (field names as in csi.proto). A failed
// call prints the code and message on stderr and exits 10 + the gRPC code (e.g. 19 for
// FAILED_PRECONDITION), so that scripts can tell refusals apart; usage errors exit 2.

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
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

// Parses `json` into a `Request` and calls `method` of `stub` with it.
template <typename Stub, typename Request, typename Response>
int Call(const std::string& json, Stub& stub, grpc::ClientContext& context,
         grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*)) {
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
  return Report((stub.*method)(&context, request, &response), response);
}

// Runs the call `name` of `calls`, or says which names there are.
int Dispatch(const std::map<std::string, std::function<int()>>& calls, const std::string& service,
             const std::string& name) {
  auto found = calls.find(name);
  if (found != calls.end()) return found->second();
  std::string names;
  for (const auto& [known, call] : calls) names += " " + known;
  std::fprintf(stderr, "cloak-csi-client: unknown %s method %s (one of:%s)\n", service.c_str(),
               name.c_str(), names.c_str());
  return kUsageError;
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
  std::string controller_method;
  std::string controller_request;
  auto* controller =
      app.add_subcommand("controller", "a Controller service call with a JSON request");
  controller
      ->add_option("method", controller_method,
                   "create, delete, validate, list, capacity, expand, get or capabilities")
      ->required();
  controller->add_option("request", controller_request, "the request message as JSON (default {})");
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
    using Stub = csi::v1::Node::Stub;
    auto stub = csi::v1::Node::NewStub(channel);
    const std::string& q = node_request;
    const std::map<std::string, std::function<int()>> calls = {
        {"stage", [&] { return Call(q, *stub, context, &Stub::NodeStageVolume); }},
        {"unstage", [&] { return Call(q, *stub, context, &Stub::NodeUnstageVolume); }},
        {"publish", [&] { return Call(q, *stub, context, &Stub::NodePublishVolume); }},
        {"unpublish", [&] { return Call(q, *stub, context, &Stub::NodeUnpublishVolume); }},
        {"stats", [&] { return Call(q, *stub, context, &Stub::NodeGetVolumeStats); }},
        {"expand", [&] { return Call(q, *stub, context, &Stub::NodeExpandVolume); }},
        {"capabilities", [&] { return Call(q, *stub, context, &Stub::NodeGetCapabilities); }},
        {"info", [&] { return Call(q, *stub, context, &Stub::NodeGetInfo); }},
    };
    return Dispatch(calls, "node", node_method);
  }
  if (controller->parsed()) {
    using Stub = csi::v1::Controller::Stub;
    auto stub = csi::v1::Controller::NewStub(channel);
    const std::string& q = controller_request;
    const std::map<std::string, std::function<int()>> calls = {
        {"create", [&] { return Call(q, *stub, context, &Stub::CreateVolume); }},
        {"delete", [&] { return Call(q, *stub, context, &Stub::DeleteVolume); }},
        {"validate", [&] { return Call(q, *stub, context, &Stub::ValidateVolumeCapabilities); }},
        {"list", [&] { return Call(q, *stub, context, &Stub::ListVolumes); }},
        {"capacity", [&] { return Call(q, *stub, context, &Stub::GetCapacity); }},
        {"expand", [&] { return Call(q, *stub, context, &Stub::ControllerExpandVolume); }},
        {"get", [&] { return Call(q, *stub, context, &Stub::ControllerGetVolume); }},
        {"capabilities", [&] { return Call(q, *stub, context, &Stub::ControllerGetCapabilities); }},
    };
    return Dispatch(calls, "controller", controller_method);
  }
  return kUsageError;
}
