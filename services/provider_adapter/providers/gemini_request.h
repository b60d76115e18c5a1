#pragma once

// The generateContent request body Gemini is sent for an OpenAI chat request (gemini_provider.h
// lists what maps to what; docs/providers.md has the table).

#include <string>

#include "absl/status/statusor.h"
#include "aimarket/common/v1/chat.pb.h"

namespace aimarket::provider {

// The generateContent (or streamGenerateContent) body for `req`. INVALID_ARGUMENT naming the
// parameter for what Gemini cannot honour (n > 1, logprobs, more than 5 stop sequences) and for a
// tool result whose call no earlier assistant message made.
absl::StatusOr<std::string> BuildGeminiBody(const common::v1::ChatRequest& req);

}  // namespace aimarket::provider
