#pragma once

// The router's rules of who may call what and when a failed attempt moves on, apart from the
// router so that they have unit tests of their own (router_test.cc).

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "aimarket/common/v1/principal.pb.h"

namespace aimarket::router {

// Whether a failed attempt may move on to the next deployment: the upstream could not be reached,
// was rate limited, overloaded or failed (5xx), or timed out. An upstream's HTTP status, when
// known, decides (429 and 5xx only); otherwise the code.
bool Retryable(const absl::Status& s);

// Whether the team may call `model`: its model_access lists it (an entry ending in '*' matches
// by prefix), or the list is empty (every model). The platform admin may call every model.
bool ModelAllowed(const common::v1::Principal& p, absl::string_view model);

// Whether the key may call `model` at all: INVALID_ARGUMENT for a name that could shape a URL
// (the name authorized is the name routed and called), PERMISSION_DENIED for a viewer's key and
// (MODEL_NOT_ALLOWED) for a model outside the team's model_access.
absl::Status AuthorizeModel(const common::v1::Principal& p, absl::string_view model);

}  // namespace aimarket::router
