#pragma once

// The one table from an absl::Status to an OpenAI error response:
//   {"error":{"message":..., "type":..., "param":..., "code":...}}  (all four keys, always)
// The HTTP status follows the gRPC code (400, 401, 403, 404, 409, 429, 504, 503, else 500) unless
// the status carries an ErrorInfo with an explicit http_status; `type` and `param` likewise, and
// `code` is the ErrorInfo reason in lower case. A retry_after becomes a Retry-After header.

#include "absl/status/status.h"
#include "services/edge/http.h"

namespace aimarket::edge {

// The HTTP status for `s` (the table above).
int HttpStatusFor(const absl::Status& s);

// The OpenAI error `type` for an HTTP status.
absl::string_view OpenAiErrorType(int http_status);

// A complete error response for `s` (which must not be OK).
HttpResponse ErrorResponse(const absl::Status& s);

// 405 for a known path with another method, with the `Allow` header ("GET, POST").
HttpResponse MethodNotAllowed(const HttpRequest& req, absl::string_view allow);

}  // namespace aimarket::edge
