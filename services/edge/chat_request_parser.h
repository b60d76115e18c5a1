#pragma once

// Parses and validates an OpenAI chat completion request body into the provider-neutral
// ChatRequest (keeping the original body for OpenAI-format upstreams). Errors are INVALID_ARGUMENT
// in OpenAI's terms: reason INVALID_JSON (malformed body), MISSING_REQUIRED_PARAMETER or
// INVALID_TYPE / INVALID_VALUE with `param` naming the field (e.g. "messages[1].role").

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "aimarket/common/v1/chat.pb.h"

namespace aimarket::edge {

// The ranges of the request's integers (OpenAI's where it states one); outside them, a 400 naming
// the field. `seed` takes any 64-bit integer.
inline constexpr int64_t kMaxChoices = 128;                   // n
inline constexpr int64_t kMaxOutputTokens = (1LL << 31) - 1;  // max_tokens, max_completion_tokens
inline constexpr int64_t kMaxTopLogprobs = 20;                // top_logprobs

absl::StatusOr<common::v1::ChatRequest> ParseChatRequest(std::string body);

}  // namespace aimarket::edge
