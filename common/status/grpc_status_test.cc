#include "common/status/grpc_status.h"

#include <grpcpp/support/status.h>

#include "common/status/status_macros.h"
#include "common/status/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aimarket::status {
namespace {

using ::testing::HasSubstr;

struct CodePair {
  absl::StatusCode absl_code;
  grpc::StatusCode grpc_code;
};

// The whole table: every code maps 1:1 both ways.
constexpr CodePair kTable[] = {
    {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
    {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
    {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
    {absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
    {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
    {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
    {absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
    {absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
    {absl::StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
    {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED},
    {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
    {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
    {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL},
    {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
    {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
    {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
};

TEST(GrpcStatusTest, EveryCodeMapsBothWays) {
  for (const CodePair& p : kTable) {
    SCOPED_TRACE(absl::StatusCodeToString(p.absl_code));
    const absl::Status s(p.absl_code, "boom");
    const grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(g.error_code(), p.grpc_code);
    EXPECT_EQ(g.error_message(), "boom");
    const absl::Status back = FromGrpcStatus(g);
    EXPECT_EQ(back.code(), p.absl_code);
    EXPECT_EQ(back.message(), "boom");
  }
}

TEST(GrpcStatusTest, OkStaysOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_THAT(FromGrpcStatus(grpc::Status::OK), IsOk());
}

TEST(GrpcStatusTest, ErrorInfoSurvivesTheRoundTrip) {
  absl::Status s = Error(absl::StatusCode::kResourceExhausted, "UPSTREAM_RATE_LIMITED", "slow down")
                       .HttpStatus(429)
                       .Type("rate_limit_error")
                       .Param("model")
                       .RetryAfter(absl::Milliseconds(1500))
                       .Domain("provider.openai")
                       .Meta("limit", "requests_per_minute");
  const grpc::Status g = ToGrpcStatus(s);
  EXPECT_FALSE(g.error_details().empty());
  const absl::Status back = FromGrpcStatus(g);
  EXPECT_THAT(back, StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("slow down")));
  std::optional<common::v1::ErrorInfo> info = GetErrorInfo(back);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), "UPSTREAM_RATE_LIMITED");
  EXPECT_EQ(info->http_status(), 429);
  EXPECT_EQ(info->type(), "rate_limit_error");
  EXPECT_EQ(info->param(), "model");
  EXPECT_EQ(info->retry_after().seconds(), 1);
  EXPECT_EQ(info->retry_after().nanos(), 500000000);
  EXPECT_EQ(info->domain(), "provider.openai");
  EXPECT_EQ(info->metadata().at("limit"), "requests_per_minute");
}

TEST(GrpcStatusTest, GarbageDetailsAreIgnored) {
  const grpc::Status g(grpc::StatusCode::INTERNAL, "x", std::string("\xff\xff\xff", 3));
  const absl::Status back = FromGrpcStatus(g);
  EXPECT_THAT(back, StatusIs(absl::StatusCode::kInternal));
  EXPECT_FALSE(GetErrorInfo(back).has_value());
}

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  AIM_ASSIGN_OR_RETURN(int h, Half(x));
  AIM_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

absl::Status CheckEven(int x) {
  AIM_RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, ReturnAndAssign) {
  EXPECT_THAT(Quarter(8), IsOk());
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_THAT(Quarter(6), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckEven(3), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("odd")));
  EXPECT_THAT(CheckEven(4), IsOk());
}

}  // namespace
}  // namespace aimarket::status
