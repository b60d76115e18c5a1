#pragma once

// The HTTP status a client gets for an absl::Status: the ErrorInfo's http_status when it carries
// one, else by the gRPC code (400, 401, 403, 404, 409, 429, 499 for CANCELLED, 504, 503, 501, else
// 500). The edge answers with it; the router records it in each usage event.

#include "absl/status/status.h"

namespace aimarket::status {

int HttpStatusFor(const absl::Status& s);

}  // namespace aimarket::status
