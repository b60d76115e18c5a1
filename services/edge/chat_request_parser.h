#pragma once

// Parses and validates an OpenAI chat completion request body into the provider-neutral
// ChatRequest (keeping the original body for OpenAI-format upstreams). Errors are INVALID_ARGUMENT
// in OpenAI's terms: reason INVALID_JSON (malformed body), MISSING_REQUIRED_PARAMETER or
// INVALID_TYPE / INVALID_VALUE with `param` naming the field (e.g. "messages[1].role").

#include <string>

#include "absl/status/statusor.h"
#include "aimarket/common/v1/chat.pb.h"

namespace aimarket::edge {

absl::StatusOr<common::v1::ChatRequest> ParseChatRequest(std::string body);

}  // namespace aimarket::edge
