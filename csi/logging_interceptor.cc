#include "csi/logging_interceptor.h"

#include <chrono>
#include <string>

#include "csi/secret_stripper.h"
#include "fmt/format.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace cloak::csi {
namespace {

using grpc::experimental::InterceptionHookPoints;

// The request's top-level `volume_id`, if it has one.
std::string VolumeIdOf(const google::protobuf::Message& request) {
  const google::protobuf::FieldDescriptor* field =
      request.GetDescriptor()->FindFieldByName("volume_id");
  if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING ||
      field->is_repeated()) {
    return "";
  }
  return request.GetReflection()->GetString(request, field);
}

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  return index >= 0 && index < 17 ? kNames[index] : "UNKNOWN";
}

class LoggingInterceptor final : public grpc::experimental::Interceptor {
 public:
  LoggingInterceptor(std::shared_ptr<Logger> logger, std::string method)
      : logger_(std::move(logger)),
        method_(std::move(method)),
        start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // Every service this interceptor is installed on is a protobuf service, so the
      // received message is a google::protobuf::Message (null if parsing failed).
      const auto* request =
          static_cast<const google::protobuf::Message*>(methods->GetRecvMessage());
      if (request != nullptr) {
        volume_id_ = VolumeIdOf(*request);
        if (logger_->Enabled(spdlog::level::debug)) request_json_ = StrippedJson(*request);
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      LogCompletion(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  void LogCompletion(const grpc::Status& status) {
    const auto elapsed = std::chrono::steady_clock::now() - start_;
    const double millis = std::chrono::duration<double, std::milli>(elapsed).count();
    LogFields fields = {{"method", method_}};
    if (!volume_id_.empty()) fields.emplace_back("volume_id", volume_id_);
    fields.emplace_back("duration_ms", fmt::format("{:.3f}", millis));
    fields.emplace_back("code", CodeName(status.error_code()));
    if (!status.ok()) fields.emplace_back("error", status.error_message());
    logger_->Log(status.ok() ? spdlog::level::info : spdlog::level::warn, "csi call", fields);
    if (!request_json_.empty()) {
      logger_->Debug("csi request", {{"method", method_}, {"request", request_json_}});
    }
  }

  std::shared_ptr<Logger> logger_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
  std::string volume_id_;
  std::string request_json_;
};

}  // namespace

grpc::experimental::Interceptor* LoggingInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new LoggingInterceptor(logger_, info->method());
}

}  // namespace cloak::csi
