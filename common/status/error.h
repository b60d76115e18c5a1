#pragma once

// aimarket's errors: absl::Status, optionally carrying an aimarket.common.v1.ErrorInfo as a payload
// (reason, HTTP status, OpenAI type, param, retry-after). Logic files include this header only;
// the gRPC shims convert at the boundary with common/status/grpc_status.h. Reasons that one part
// produces and another matches are named in common/status/reasons.h.
//
//   return status::Error(absl::StatusCode::kNotFound, "MODEL_NOT_FOUND", "model x does not exist")
//       .Param("model");

#include <chrono>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "aimarket/common/v1/error.pb.h"

namespace aimarket::status {

// The absl::Status payload type URL under which the ErrorInfo is stored.
inline constexpr absl::string_view kErrorInfoUrl =
    "type.googleapis.com/aimarket.common.v1.ErrorInfo";

// Returns the ErrorInfo attached to `s`, if any.
std::optional<common::v1::ErrorInfo> GetErrorInfo(const absl::Status& s);

// Returns `s` with `info` attached (replacing any earlier one). An OK status stays OK.
absl::Status WithErrorInfo(absl::Status s, const common::v1::ErrorInfo& info);

// Builds an error with a reason and, optionally, the fields that override the HTTP mapping.
class Error {
 public:
  Error(absl::StatusCode code, absl::string_view reason, absl::string_view message);
  Error& Param(absl::string_view param);
  Error& HttpStatus(int http_status);
  Error& Type(absl::string_view type);
  Error& RetryAfter(absl::Duration d);
  Error& Domain(absl::string_view domain);
  Error& Meta(absl::string_view key, absl::string_view value);
  Error& RateLimits(const common::v1::RateLimitStatus& rate_limits);
  absl::Status status() const;
  operator absl::Status() const { return status(); }  // NOLINT: implicit by design.

 private:
  absl::StatusCode code_;
  std::string message_;
  common::v1::ErrorInfo info_;
};

}  // namespace aimarket::status
