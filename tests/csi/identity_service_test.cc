#include "csi/identity_service.h"

#include <sstream>

#include "gtest/gtest.h"
#include "spdlog/sinks/ostream_sink.h"

namespace cloak::csi {
namespace {

class StaticCheck final : public ReadinessCheck {
 public:
  explicit StaticCheck(absl::Status status) : status_(std::move(status)) {}
  absl::Status Check() const override { return status_; }

 private:
  absl::Status status_;
};

class IdentityServiceTest : public ::testing::Test {
 protected:
  PluginContext MakeContext(PluginMode mode) {
    PluginContext context;
    context.mode = mode;
    context.node_id = "node-a";
    context.vendor_version = "1.2.3+abc";
    auto sink = std::make_shared<spdlog::logger>(
        "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_));
    context.logger = std::make_shared<Logger>(sink, LogFormat::kText);
    return context;
  }

  std::vector<::csi::v1::PluginCapability::Service::Type> Capabilities(const PluginContext& c) {
    IdentityService service(c);
    ::csi::v1::GetPluginCapabilitiesResponse response;
    EXPECT_TRUE(service.GetPluginCapabilities(nullptr, nullptr, &response).ok());
    std::vector<::csi::v1::PluginCapability::Service::Type> types;
    for (const auto& capability : response.capabilities()) {
      if (capability.has_service()) types.push_back(capability.service().type());
    }
    return types;
  }

  std::ostringstream log_;
};

using Type = ::csi::v1::PluginCapability::Service::Type;

TEST_F(IdentityServiceTest, PluginInfoNamesCloakAndTheBuild) {
  const PluginContext context = MakeContext(PluginMode::kNode);
  IdentityService service(context);
  ::csi::v1::GetPluginInfoResponse response;
  ASSERT_TRUE(service.GetPluginInfo(nullptr, nullptr, &response).ok());
  EXPECT_EQ(response.name(), "cloak.csi.dev");
  EXPECT_EQ(response.vendor_version(), "1.2.3+abc");
}

TEST_F(IdentityServiceTest, CapabilitiesFollowTheMode) {
  struct Case {
    PluginMode mode;
    std::vector<Type> expected;
  };
  const Case cases[] = {
      {PluginMode::kNode, {::csi::v1::PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS}},
      {PluginMode::kController,
       {::csi::v1::PluginCapability::Service::CONTROLLER_SERVICE,
        ::csi::v1::PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS}},
      {PluginMode::kAll,
       {::csi::v1::PluginCapability::Service::CONTROLLER_SERVICE,
        ::csi::v1::PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Capabilities(MakeContext(c.mode)), c.expected) << static_cast<int>(c.mode);
  }
}

TEST_F(IdentityServiceTest, OnlineExpansionIsOfferedWithTheController) {
  for (PluginMode mode : {PluginMode::kNode, PluginMode::kController, PluginMode::kAll}) {
    const PluginContext context = MakeContext(mode);  // the service keeps a reference
    IdentityService service(context);
    ::csi::v1::GetPluginCapabilitiesResponse response;
    ASSERT_TRUE(service.GetPluginCapabilities(nullptr, nullptr, &response).ok());
    int online = 0;
    for (const auto& capability : response.capabilities()) {
      online += capability.volume_expansion().type() ==
                ::csi::v1::PluginCapability::VolumeExpansion::ONLINE;
    }
    EXPECT_EQ(online, mode == PluginMode::kNode ? 0 : 1) << static_cast<int>(mode);
  }
}

TEST_F(IdentityServiceTest, ProbeIsReadyOnlyWhenEveryCheckPasses) {
  PluginContext context = MakeContext(PluginMode::kNode);
  context.readiness_checks.push_back(std::make_unique<StaticCheck>(absl::OkStatus()));
  {
    IdentityService service(context);
    ::csi::v1::ProbeResponse response;
    ASSERT_TRUE(service.Probe(nullptr, nullptr, &response).ok());
    ASSERT_TRUE(response.has_ready());
    EXPECT_TRUE(response.ready().value());
  }
  context.readiness_checks.push_back(std::make_unique<StaticCheck>(
      absl::FailedPreconditionError("device-mapper is not available")));
  IdentityService service(context);
  ::csi::v1::ProbeResponse response;
  ASSERT_TRUE(service.Probe(nullptr, nullptr, &response).ok());
  ASSERT_TRUE(response.has_ready());
  EXPECT_FALSE(response.ready().value());
  EXPECT_NE(log_.str().find("device-mapper is not available"), std::string::npos);
}

TEST(ReadinessTest, DeviceMapperCheckNeedsACharacterDevice) {
  // /dev/null is a character device that does not answer DM_VERSION.
  EXPECT_EQ(DeviceMapperCheck("/dev/null")->Check().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DeviceMapperCheck("/nonexistent/control")->Check().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(DeviceMapperCheck("/tmp")->Check().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ReadinessTest, WritableDirectoryCheck) {
  EXPECT_TRUE(WritableDirectoryCheck("/tmp", "state")->Check().ok());
  const absl::Status missing = WritableDirectoryCheck("/nonexistent/state", "state")->Check();
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(missing.message()).find("/nonexistent/state"), std::string::npos);
}

TEST(PluginModeTest, ParsesTheThreeModes) {
  EXPECT_EQ(*ParsePluginMode("node"), PluginMode::kNode);
  EXPECT_EQ(*ParsePluginMode("controller"), PluginMode::kController);
  EXPECT_EQ(*ParsePluginMode("all"), PluginMode::kAll);
  EXPECT_EQ(ParsePluginMode("Node").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ServesNode(PluginMode::kAll) && ServesController(PluginMode::kAll));
  EXPECT_FALSE(ServesController(PluginMode::kNode));
  EXPECT_FALSE(ServesNode(PluginMode::kController));
}

}  // namespace
}  // namespace cloak::csi
