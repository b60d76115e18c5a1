#pragma once

// Errors across process boundaries: at the gRPC boundary ToGrpcStatus/FromGrpcStatus copy the code
// 1:1 and move the ErrorInfo (common/status/error.h) through grpc::Status::error_details, so it
// survives every hop. Only the gRPC shims and clients include this header.

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "common/status/error.h"

namespace aimarket::status {

// absl::Status -> grpc::Status: same code and message; the ErrorInfo (with the reason) goes into
// error_details as a serialized aimarket.common.v1.ErrorInfo.
grpc::Status ToGrpcStatus(const absl::Status& s);

// grpc::Status -> absl::Status: the inverse of ToGrpcStatus. Unparseable details are ignored.
absl::Status FromGrpcStatus(const grpc::Status& s);

}  // namespace aimarket::status
