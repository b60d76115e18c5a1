#pragma once

// The ErrorInfo reasons that one part of aimarket produces and another matches (metrics,
// failover, the error table): named once here, so a renamed reason cannot silently stop matching.
// Reasons used only where they are made stay literals there. Clients see them lower-cased as the
// OpenAI error `code` (docs/api.md lists them).

#include "absl/strings/string_view.h"

namespace aimarket::status::reason {

// Upstream calls (provider-adapter), matched by the router (failover) and the adapter's metrics.
inline constexpr absl::string_view kUpstreamUnreachable = "UPSTREAM_UNREACHABLE";
inline constexpr absl::string_view kUpstreamDisconnected = "UPSTREAM_DISCONNECTED";
inline constexpr absl::string_view kUpstreamTimeout = "UPSTREAM_TIMEOUT";
inline constexpr absl::string_view kUpstreamBadResponse = "UPSTREAM_BAD_RESPONSE";
// No deployment of a model could serve (router).
inline constexpr absl::string_view kNoDeploymentAvailable = "NO_DEPLOYMENT_AVAILABLE";
// Authentication (team-management), matched by its metrics.
inline constexpr absl::string_view kMissingApiKey = "MISSING_API_KEY";
inline constexpr absl::string_view kInvalidApiKey = "INVALID_API_KEY";

}  // namespace aimarket::status::reason
