#pragma once

// The one table from an absl::Status to an OpenAI error response:
//   {"error":{"message":..., "type":..., "param":..., "code":...}}  (all four keys, always)
// The HTTP status follows the gRPC code (400, 401, 403, 404, 409, 429, 504, 503, else 500) unless
// the status carries an ErrorInfo with an explicit http_status; `type` and `param` likewise, and
// `code` is the ErrorInfo reason in lower case. A retry_after becomes a Retry-After header.

#include <string>

#include "absl/status/status.h"
#include "common/status/http_status.h"
#include "services/edge/http.h"

namespace aimarket::edge {

// The HTTP status for `s` (the table above; common/status/http_status.h).
using status::HttpStatusFor;

// The OpenAI error `type` for an HTTP status.
absl::string_view OpenAiErrorType(int http_status);

// A complete error response for `s` (which must not be OK). A status without an ErrorInfo that
// is a server-side failure (INTERNAL, UNKNOWN, DATA_LOSS, UNAVAILABLE, DEADLINE_EXCEEDED: a
// library's or a peer's own words, which may name hosts, ports or SQL) answers a fixed message
// instead; its own goes to the log with `request_id`.
HttpResponse ErrorResponse(const absl::Status& s, absl::string_view request_id = "");

// The SSE event every open chat stream gets when the drain deadline cuts it (then its end), in
// the shape of any error after a stream has started.
std::string DrainDeadlineEvent();

// 405 for a known path with another method, with the `Allow` header ("GET, POST").
HttpResponse MethodNotAllowed(const HttpRequest& req, absl::string_view allow);

}  // namespace aimarket::edge
