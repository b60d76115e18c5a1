#pragma once

// Pieces every translating adapter needs: reading provider JSON without trusting its shape,
// the upstream-error table (docs/providers.md), data: URLs, tool-call id → name lookups, and the
// 400 that names a request field a provider cannot honour.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "aimarket/common/v1/chat.pb.h"
#include "aimarket/common/v1/embedding.pb.h"
#include "aimarket/config/v1/config.pb.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "services/provider_adapter/http/http_client.h"

namespace aimarket::provider {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// --- Reading JSON of unknown shape.
const rapidjson::Value* Member(const rapidjson::Value& obj,
                               const char* key);  // null unless obj is an object with key
std::string StringOr(const rapidjson::Value& obj, const char* key, absl::string_view fallback = "");
int64_t IntOr(const rapidjson::Value& obj, const char* key, int64_t fallback = 0);
std::string ToJson(const rapidjson::Value& v);

// --- Writing JSON.
void WriteStr(JsonWriter& w, absl::string_view s);
void WriteKey(JsonWriter& w, absl::string_view s);
// A JSON text that is already serialized (tool parameters, schemas), written as a value; `fallback`
// (a JSON text) if it does not parse.
void WriteRawJson(JsonWriter& w, absl::string_view json, absl::string_view fallback = "{}");

// --- Requests.
// The text of a message: its string content, or its text parts joined.
std::string MessageText(const common::v1::ChatMessage& m, absl::string_view separator = "");

struct DataUrl {
  std::string mime_type;
  std::string base64;
};
// "data:<mime>;base64,<data>", or nullopt.
std::optional<DataUrl> ParseDataUrl(absl::string_view url);

// tool_call id → function name, from the assistant messages of a conversation (Gemini and Ollama
// name a tool result by its function, OpenAI by the call's id).
std::map<std::string, std::string> ToolNamesById(const common::v1::ChatRequest& req);

// "tools": [{"type":"function","function":{name, description, parameters}}] in OpenAI's shape
// (Cohere, Ollama take it as it is); only the tool named `only` when it is not empty.
void WriteOpenAiTools(JsonWriter& w,
                      const google::protobuf::RepeatedPtrField<common::v1::Tool>& tools,
                      absl::string_view only = "");

// A 400 for an image URL that is neither a data: URL (base64) nor http(s); `param` names it.
absl::Status InvalidImageUrl(const std::string& param);

// A 400 for a request field this provider cannot honour: `param` names it.
absl::Status Unsupported(absl::string_view provider, absl::string_view param,
                         absl::string_view why);

// A tool call's `arguments` (a JSON string) as an object, for providers that take an object; a 400
// naming `param` if it is not a JSON object ("" counts as {}).
absl::StatusOr<std::string> ArgumentsObject(absl::string_view arguments, absl::string_view param);

// --- Upstream requests.
// `s` as one URL path segment: every byte but A-Z a-z 0-9 - . _ ~ percent-encoded ('/', '?', '#',
// ':' and '%' included), so a model name can never reach another path, a query or a method.
std::string EscapePathSegment(absl::string_view s);
// `s` as path segments joined by '/' ("org/model" stays two segments), each escaped as above; a 400
// naming `param` if a segment is empty, "." or "..".
absl::StatusOr<std::string> EscapePath(absl::string_view s, absl::string_view param);

// --- Responses.
// An upstream's HTTP failure as the status the edge turns into OpenAI's error body, following the
// table in docs/providers.md: the client sees `client_status` (529 → 503, 422 → 400, ...) with the
// matching OpenAI type and code; `message` is the provider's own (the provider-adapter redacts the
// operator's key from it). GatewayAuthoredFailure's 502 where it applies (`client_status` 401:
// the provider said the key is invalid in its own way).
absl::Status UpstreamFailure(absl::string_view provider, int upstream_status, std::string message,
                             absl::string_view retry_after,
                             std::optional<int> client_status = std::nullopt);

// The status an OpenAI client sees for an upstream's: the statuses the gateway knows map to the
// standard ones (400, 402, 404, 409, 413, 429, 500, 502-504 as they are; 422 → 400, 408 → 504,
// 529 → 503, 424/499/501 → 500); everything else is 502: the operator's credentials refused (401,
// 403, 498), 1xx, 3xx (redirects are never followed) and unknown codes. Never relayed as is.
int ClientHttpStatus(int upstream_status);

// For an upstream status whose text must not reach the client, the gateway's own 502: the
// provider refused the operator's credentials (UPSTREAM_AUTH_FAILED; a client with a good key is
// never told its key is bad, nor shown the provider's words, which may quote the operator's key),
// or a status the gateway does not relay (UPSTREAM_BAD_STATUS). Logged with the provider's name.
// nullopt for any other status.
std::optional<absl::Status> GatewayAuthoredFailure(absl::string_view provider, int upstream_status);

// An upstream's error body as JSON in valid UTF-8 (what is not valid goes no further); false when
// it is not JSON.
bool ParseErrorBody(absl::string_view body, rapidjson::Document& d);
// The message of an upstream's error body in any of the shapes providers use: {"error":{"message"}}
// (OpenAI, Anthropic), {"error":"..."} (Ollama, TGI) or {"message"} (Cohere); "" when none.
std::string ErrorMessage(const rapidjson::Value& body);
std::string ErrorMessage(absl::string_view body);

// An upstream's Retry-After (or Gemini's retryDelay without its "s"): seconds, fractions allowed,
// at most kMaxRetryAfterSeconds; nullopt for anything else (negative, not a number; an HTTP date
// is not honoured).
inline constexpr double kMaxRetryAfterSeconds = 86400;
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value);

// The gRPC code for an HTTP status (400 → INVALID_ARGUMENT, 429 → RESOURCE_EXHAUSTED, ...).
absl::StatusCode CodeForHttp(int status);

// --- Embeddings.
// A list of JSON numbers as floats into `out`; false if it is not one.
bool ReadVector(const rapidjson::Value& v, common::v1::Embedding& out);
// A JSON list of vectors (one per input, in order) appended to `resp`; BadResponse otherwise.
absl::Status ReadVectors(absl::string_view provider, const rapidjson::Value* list,
                         common::v1::EmbedResponse& resp);
// OpenAI's embeddings answer ({"data":[{"index","embedding"}],"model","usage"}): float vectors, or
// base64 little-endian float32 when the upstream ignored encoding_format.
absl::StatusOr<common::v1::EmbedResponse> ParseOpenAiEmbeddings(absl::string_view provider,
                                                                absl::string_view body,
                                                                const std::string& model);
// The texts to embed; a 400 naming `input` for token arrays (only OpenAI-format upstreams take
// them).
absl::Status RequireTextInput(absl::string_view provider, const common::v1::EmbedRequest& req);

// `text` parsed into `d`, which must be a JSON object; otherwise BadResponse naming `what`.
absl::Status ParseObject(absl::string_view provider, absl::string_view text, absl::string_view what,
                         rapidjson::Document& d);

// A stream that ended without its end (`what`: "ended before message_stop"): UNAVAILABLE
// UPSTREAM_DISCONNECTED, HTTP 502 — never a silently short answer.
absl::Status StreamCutShort(absl::string_view provider, absl::string_view what);

// "key": [strings].
void WriteStringArray(JsonWriter& w, absl::string_view key,
                      const google::protobuf::RepeatedPtrField<std::string>& list);

// The text embeddings body Cohere, Ollama and TGI share: {"model": upstream_model, "<input_key>":
// [texts], what `extra` writes, "<dimensions_key>": n when the client asked for n dimensions}.
std::string TextEmbedBody(
    absl::string_view upstream_model, absl::string_view input_key,
    const common::v1::EmbedRequest& req, absl::string_view dimensions_key,
    absl::FunctionRef<void(JsonWriter&)> extra = [](JsonWriter&) {});

// An upstream answer that is not what its format promises (`provider` may be empty: "the upstream
// sent ...").
absl::Status BadResponse(absl::string_view provider, absl::string_view what);

}  // namespace aimarket::provider
