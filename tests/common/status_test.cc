#include "common/status.h"

#include <cerrno>

#include "common/grpc_status.h"
#include "gtest/gtest.h"

namespace cloak {
namespace {

absl::Status FailsWhen(bool fail) {
  return fail ? absl::NotFoundError("volume vol-1 not found") : absl::OkStatus();
}

absl::StatusOr<int> Half(int value) {
  if (value % 2 != 0) return absl::InvalidArgumentError("odd");
  return value / 2;
}

absl::Status Chain(bool fail, int* out) {
  RETURN_IF_ERROR(FailsWhen(fail));
  ASSIGN_OR_RETURN(const int half, Half(*out));
  ASSIGN_OR_RETURN(*out, Half(half));
  return absl::OkStatus();
}

TEST(StatusMacrosTest, ReturnIfErrorPropagatesTheFirstError) {
  int value = 8;
  const absl::Status status = Chain(true, &value);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(value, 8);
}

TEST(StatusMacrosTest, AssignOrReturnAssignsOrPropagates) {
  int value = 8;
  ASSERT_TRUE(Chain(false, &value).ok());
  EXPECT_EQ(value, 2);
  value = 6;  // 6 / 2 = 3 is odd: the second step fails.
  EXPECT_EQ(Chain(false, &value).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ErrnoToStatusTest, MapsCommonErrnoValues) {
  struct Case {
    int error_number;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {ENOENT, absl::StatusCode::kNotFound},         {EEXIST, absl::StatusCode::kAlreadyExists},
      {EACCES, absl::StatusCode::kPermissionDenied}, {EINVAL, absl::StatusCode::kInvalidArgument},
      {EBUSY, absl::StatusCode::kUnavailable},       {ENOSPC, absl::StatusCode::kResourceExhausted},
      {ENOTSUP, absl::StatusCode::kUnimplemented},   {EIO, absl::StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    const absl::Status status = ErrnoToStatus(c.error_number, "open /dev/vdb");
    EXPECT_EQ(status.code(), c.code) << c.error_number;
    EXPECT_TRUE(std::string(status.message()).starts_with("open /dev/vdb: "));
  }
}

TEST(AnnotateTest, PrefixesContextAndKeepsCode) {
  const absl::Status status = Annotate(absl::UnavailableError("refused"), "key service");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "key service: refused");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

TEST(ToGrpcStatusTest, KeepsCodeAndMessage) {
  const grpc::Status status = ToGrpcStatus(absl::FailedPreconditionError("header mismatch"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "header mismatch");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  for (int code = 0; code <= 16; ++code) {
    const grpc::Status mapped =
        ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(code), code == 0 ? "" : "x"));
    EXPECT_EQ(static_cast<int>(mapped.error_code()), code);
  }
}

}  // namespace
}  // namespace cloak
