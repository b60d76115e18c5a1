#pragma once

// Google's Gemini API (POST {base_url}/v1beta/models/{model}:generateContent, and
// :streamGenerateContent?alt=sse for streams; `x-goog-api-key`). docs/providers.md has the table;
// in short:
//
// Requests (gemini_request.h): system and developer messages → `systemInstruction`; user and
// assistant turns → `contents` (roles user and model) with text, images (`inlineData` from data:
// URLs, `fileData` for http(s) URLs) and `functionCall` parts; tool results → `functionResponse`
// parts named by looking the tool_call_id up in the conversation (a result that is not a JSON
// object is wrapped as {"result": ...}), consecutive results in one turn; sampling →
// `generationConfig` (temperature, topP, maxOutputTokens, stopSequences (at most 5), seed, the
// penalties, candidateCount 1); `response_format` → `responseMimeType` application/json with the
// JSON schema reduced to the subset Gemini's `responseSchema` accepts (gemini_schema.h); tools and
// their parameters reduced the same way; tool_choice → functionCallingConfig (AUTO, NONE, ANY,
// ANY + allowedFunctionNames). `n` > 1 and `logprobs` are refused (400); `user`,
// `parallel_tool_calls` and `logit_bias` are dropped. `reasoning_effort` → thinkingConfig
// (thinkingBudget none 0, minimal 512, low 1024, medium 8192, high 24576, with includeThoughts);
// an echoed reasoning_signature goes back as the thoughtSignature of the turn's first function
// call.
//
// Responses and streams: text, thought parts as reasoning_content (counted as reasoning tokens)
// and the first thoughtSignature as reasoning_signature, function
// calls with ids made here (Gemini sends none) and "{}" for calls without arguments, STOP with
// calls → tool_calls, MAX_TOKENS → length, SAFETY / RECITATION / a blocked prompt →
// content_filter, usage from the last usageMetadata, the bare JSON error Gemini appends to a
// failing stream → an error event; errors follow google.rpc.Status (an invalid API key, which
// Gemini reports as 400, is a 401; RetryInfo → Retry-After).

#include <string>

#include "absl/status/statusor.h"
#include "aimarket/config/v1/config.pb.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/providers/http_provider.h"

namespace aimarket::provider {

class GeminiProvider final : public HttpProvider {
 public:
  GeminiProvider(const config::v1::ProviderConfig& config, HttpClient& http,
                 absl::string_view api_key = "");
};

}  // namespace aimarket::provider
