#pragma once

// The Messages API request Anthropic is sent for an OpenAI chat request (anthropic_provider.h
// lists what maps to what; docs/providers.md has the table).

#include <string>

#include "absl/status/statusor.h"
#include "aimarket/common/v1/chat.pb.h"

namespace aimarket::provider {

// When the client sends no max_tokens (Anthropic requires one).
inline constexpr int kAnthropicDefaultMaxTokens = 4096;

// The Messages API body for `req`, and the name of the tool that emulates response_format (empty
// if none).
struct AnthropicRequest {
  std::string body;
  std::string json_tool;
};
absl::StatusOr<AnthropicRequest> BuildAnthropicRequest(const common::v1::ChatRequest& req,
                                                       const std::string& upstream_model);

}  // namespace aimarket::provider
