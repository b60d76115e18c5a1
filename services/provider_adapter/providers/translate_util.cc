#include "services/provider_adapter/providers/translate_util.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/config/config.h"
#include "common/json/parse.h"
#include "common/log/log.h"
#include "common/status/error.h"
#include "common/status/reasons.h"

namespace aimarket::provider {

using rapidjson::Value;

const Value* Member(const Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string StringOr(const Value& obj, const char* key, absl::string_view fallback) {
  const Value* v = Member(obj, key);
  return v != nullptr && v->IsString() ? std::string(v->GetString(), v->GetStringLength())
                                       : std::string(fallback);
}

int64_t IntOr(const Value& obj, const char* key, int64_t fallback) {
  const Value* v = Member(obj, key);
  if (v == nullptr) return fallback;
  if (v->IsInt64()) return v->GetInt64();
  if (v->IsNumber()) {
    // A number past int64's range is no count an upstream means (converting it is undefined).
    const double d = v->GetDouble();
    if (d >= -9.2e18 && d <= 9.2e18) return static_cast<int64_t>(d);
  }
  return fallback;
}

std::string ToJson(const Value& v) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

void WriteStr(JsonWriter& w, absl::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteKey(JsonWriter& w, absl::string_view s) {
  w.Key(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void WriteRawJson(JsonWriter& w, absl::string_view json, absl::string_view fallback) {
  rapidjson::Document d;
  if (json.empty() || !json::ParseBounded(d, json)) {
    (void)json::ParseBounded(d, fallback);
  }
  d.Accept(w);
}

std::string MessageText(const common::v1::ChatMessage& m, absl::string_view separator) {
  if (m.parts().empty()) return m.content();
  std::string out;
  bool first = true;
  for (const common::v1::ContentPart& p : m.parts()) {
    if (!p.has_text()) continue;
    if (!first) absl::StrAppend(&out, separator);
    absl::StrAppend(&out, p.text());
    first = false;
  }
  return out;
}

std::optional<DataUrl> ParseDataUrl(absl::string_view url) {
  if (!absl::ConsumePrefix(&url, "data:")) return std::nullopt;
  const size_t comma = url.find(',');
  if (comma == absl::string_view::npos) return std::nullopt;
  absl::string_view meta = url.substr(0, comma);
  if (!absl::ConsumeSuffix(&meta, ";base64")) return std::nullopt;
  return DataUrl{std::string(meta), std::string(url.substr(comma + 1))};
}

std::map<std::string, std::string> ToolNamesById(const common::v1::ChatRequest& req) {
  std::map<std::string, std::string> names;
  for (const common::v1::ChatMessage& m : req.messages()) {
    for (const common::v1::ToolCall& t : m.tool_calls()) {
      if (!t.id().empty()) names[t.id()] = t.name();
    }
  }
  return names;
}

void WriteOpenAiTools(JsonWriter& w,
                      const google::protobuf::RepeatedPtrField<common::v1::Tool>& tools,
                      absl::string_view only) {
  WriteKey(w, "tools");
  w.StartArray();
  for (const common::v1::Tool& t : tools) {
    if (!only.empty() && t.name() != only) continue;
    w.StartObject();
    WriteKey(w, "type");
    WriteStr(w, "function");
    WriteKey(w, "function");
    w.StartObject();
    WriteKey(w, "name");
    WriteStr(w, t.name());
    if (!t.description().empty()) {
      WriteKey(w, "description");
      WriteStr(w, t.description());
    }
    WriteKey(w, "parameters");
    WriteRawJson(w, t.parameters_json(), R"({"type":"object","properties":{}})");
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
}

absl::Status InvalidImageUrl(const std::string& param) {
  return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
                       absl::StrCat("Invalid value for '", param,
                                    "': expected a data: URL (base64) or an http(s) URL."))
      .Param(param);
}

absl::Status Unsupported(absl::string_view provider, absl::string_view param,
                         absl::string_view why) {
  return status::Error(
             absl::StatusCode::kInvalidArgument, "UNSUPPORTED_PARAMETER",
             absl::StrCat("'", param, "' is not supported by the ", provider, " provider: ", why))
      .Param(param);
}

absl::StatusOr<std::string> ArgumentsObject(absl::string_view arguments, absl::string_view param) {
  if (absl::StripAsciiWhitespace(arguments).empty()) return std::string("{}");
  rapidjson::Document d;
  if (!json::ParseBounded(d, arguments) || !d.IsObject()) {
    return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
                         absl::StrCat("Invalid value for '", param,
                                      "': the arguments must be a JSON object."))
        .Param(param);
  }
  return ToJson(d);
}

std::string EscapePathSegment(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

absl::StatusOr<std::string> EscapePath(absl::string_view s, absl::string_view param) {
  std::string out;
  for (absl::string_view part : absl::StrSplit(s, '/')) {
    if (part.empty() || part == "." || part == "..") {
      return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
                           absl::StrCat("Invalid value for '", param,
                                        "': it has an empty, '.' or '..' path segment."))
          .Param(param);
    }
    if (!out.empty()) out.push_back('/');
    out += EscapePathSegment(part);
  }
  return out;
}

absl::StatusCode CodeForHttp(int status) {
  switch (status) {
    case 400:
    case 413:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 408:
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    case 409:
      return absl::StatusCode::kAborted;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 500:
      return absl::StatusCode::kInternal;
    default:
      return status >= 500 ? absl::StatusCode::kUnavailable : absl::StatusCode::kInvalidArgument;
  }
}

int ClientHttpStatus(int upstream_status) {
  switch (upstream_status) {
    case 400:
    case 402:
    case 404:
    case 409:
    case 413:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return upstream_status;
    case 422:
      return 400;
    case 408:
      return 504;
    case 529:
      return 503;
    case 424:
    case 499:
    case 501:
      return 500;
    default:
      // The operator's credentials refused (401, 403, 498), and what the gateway does not know
      // (1xx, 3xx: redirects are never followed, unknown codes).
      return 502;
  }
}

bool IsCredentialRefusal(int upstream_status) {
  return upstream_status == 401 || upstream_status == 403 || upstream_status == 498;
}

std::optional<absl::Status> GatewayAuthoredFailure(absl::string_view provider,
                                                   int upstream_status) {
  if (IsCredentialRefusal(upstream_status)) {
    log::Warn("the provider refused the gateway's credentials: check its API key",
              {{"provider", provider}, {"upstream_status", upstream_status}});
    return status::Error(absl::StatusCode::kUnavailable, "UPSTREAM_AUTH_FAILED",
                         absl::StrCat("The provider ", provider,
                                      " refused the gateway's credentials; the gateway's operator "
                                      "must check its API key for this provider."))
        .HttpStatus(502)
        .Type("server_error")
        .Domain(absl::StrCat("provider.", provider));
  }
  if (ClientHttpStatus(upstream_status) == 502 && upstream_status != 502) {
    log::Warn("the provider answered with an unexpected HTTP status",
              {{"provider", provider}, {"upstream_status", upstream_status}});
    return status::Error(absl::StatusCode::kUnavailable, "UPSTREAM_BAD_STATUS",
                         absl::StrCat("The provider ", provider,
                                      " answered with an HTTP status the gateway does not relay (",
                                      upstream_status, ")."))
        .HttpStatus(502)
        .Type("server_error")
        .Domain(absl::StrCat("provider.", provider));
  }
  return std::nullopt;
}

bool ParseErrorBody(absl::string_view body, rapidjson::Document& d) {
  return json::ParseBounded(d, body, /*validate_utf8=*/true);
}

std::string ErrorMessage(const rapidjson::Value& body) {
  if (const rapidjson::Value* e = Member(body, "error")) {
    if (e->IsString()) return std::string(e->GetString(), e->GetStringLength());
    if (std::string m = StringOr(*e, "message"); !m.empty()) return m;
  }
  return StringOr(body, "message");
}

std::string ErrorMessage(absl::string_view body) {
  rapidjson::Document d;
  return ParseErrorBody(body, d) ? ErrorMessage(d) : "";
}

absl::Status UpstreamFailure(absl::string_view provider, int upstream_status, std::string message,
                             absl::string_view retry_after, std::optional<int> client_status) {
  if (std::optional<absl::Status> s =
          GatewayAuthoredFailure(provider, client_status == 401 ? 401 : upstream_status)) {
    return *std::move(s);
  }
  const int status = client_status.value_or(ClientHttpStatus(upstream_status));
  const char* type = "invalid_request_error";
  absl::string_view code;
  switch (status) {
    case 402:
      type = "insufficient_quota";
      code = "INSUFFICIENT_QUOTA";
      break;
    case 404:
      type = "not_found_error";
      code = "MODEL_NOT_FOUND";
      break;
    case 413:
      code = "REQUEST_TOO_LARGE";
      break;
    case 429:
      type = "rate_limit_error";
      code = "RATE_LIMIT_EXCEEDED";
      break;
    case 503:
      type = "server_error";
      code = "OVERLOADED";
      break;
    case 504:
      type = "server_error";
      code = "TIMEOUT";
      break;
    default:
      if (status >= 500) type = "server_error";
  }
  if (message.empty())
    message = absl::StrCat("upstream ", provider, " failed with HTTP ", upstream_status);
  status::Error err(CodeForHttp(status), code, message);
  err.HttpStatus(status).Type(type).Domain(absl::StrCat("provider.", provider));
  if (std::optional<absl::Duration> d = ParseRetryAfter(retry_after)) err.RetryAfter(*d);
  return err;
}

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value) {
  double seconds = 0;
  if (value.empty() || !absl::SimpleAtod(value, &seconds) || !(seconds >= 0)) return std::nullopt;
  seconds = std::min(seconds, kMaxRetryAfterSeconds);
  return absl::Milliseconds(static_cast<int64_t>(std::ceil(seconds * 1000)));
}

bool ReadVector(const Value& v, common::v1::Embedding& out) {
  if (!v.IsArray()) return false;
  out.mutable_values()->Reserve(static_cast<int>(v.Size()));
  for (const Value& x : v.GetArray()) {
    if (!x.IsNumber()) return false;
    out.add_values(static_cast<float>(x.GetDouble()));
  }
  return true;
}

absl::Status ReadVectors(absl::string_view provider, const Value* list,
                         common::v1::EmbedResponse& resp) {
  if (list == nullptr || !list->IsArray())
    return BadResponse(provider, "an embeddings answer without a list of vectors");
  for (const Value& v : list->GetArray()) {
    common::v1::Embedding& out = *resp.add_data();
    out.set_index(resp.data_size() - 1);
    if (!ReadVector(v, out))
      return BadResponse(provider, "an embedding that is not a list of numbers");
  }
  return absl::OkStatus();
}

absl::StatusOr<common::v1::EmbedResponse> ParseOpenAiEmbeddings(absl::string_view provider,
                                                                absl::string_view body,
                                                                const std::string& model) {
  rapidjson::Document d;
  if (!json::ParseBounded(d, body) || !d.IsObject()) {
    return BadResponse(provider, "an embeddings answer that is not a JSON object");
  }
  const Value* data = Member(d, "data");
  if (data == nullptr || !data->IsArray())
    return BadResponse(provider, "an embeddings answer without data");
  common::v1::EmbedResponse resp;
  resp.set_model(StringOr(d, "model", model));
  int position = 0;
  for (const Value& item : data->GetArray()) {
    common::v1::Embedding& e = *resp.add_data();
    e.set_index(static_cast<int>(IntOr(item, "index", position++)));
    const Value* v = Member(item, "embedding");
    if (v != nullptr && v->IsString()) {
      std::string bytes;
      if (!absl::Base64Unescape(absl::string_view(v->GetString(), v->GetStringLength()), &bytes) ||
          bytes.size() % 4 != 0) {
        return BadResponse(provider, "an embedding that is not base64 float32");
      }
      for (size_t i = 0; i < bytes.size(); i += 4) {
        float f;
        std::memcpy(&f, bytes.data() + i, 4);  // Little-endian, as on every platform we build for.
        e.add_values(f);
      }
    } else if (v == nullptr || !ReadVector(*v, e)) {
      return BadResponse(provider, "an embedding that is not a list of numbers");
    }
  }
  if (const Value* u = Member(d, "usage")) {
    resp.mutable_usage()->set_prompt_tokens(IntOr(*u, "prompt_tokens"));
    resp.mutable_usage()->set_total_tokens(IntOr(*u, "total_tokens", resp.usage().prompt_tokens()));
  }
  return resp;
}

absl::Status RequireTextInput(absl::string_view provider, const common::v1::EmbedRequest& req) {
  if (req.input().empty()) {
    return Unsupported(provider, "input",
                       "it embeds text; token arrays are only passed to OpenAI-format upstreams");
  }
  return absl::OkStatus();
}

absl::Status ParseObject(absl::string_view provider, absl::string_view text, absl::string_view what,
                         rapidjson::Document& d) {
  // Validating UTF-8 too: what is not valid goes no further than here.
  if (!json::ParseBounded(d, text, /*validate_utf8=*/true) || !d.IsObject()) {
    return BadResponse(provider, absl::StrCat(what, " that is not a JSON object in valid UTF-8"));
  }
  return absl::OkStatus();
}

absl::Status StreamCutShort(absl::string_view provider, absl::string_view what) {
  return status::Error(absl::StatusCode::kUnavailable, status::reason::kUpstreamDisconnected,
                       absl::StrCat("the ", provider, " stream ", what))
      .HttpStatus(502);
}

void WriteStringArray(JsonWriter& w, absl::string_view key,
                      const google::protobuf::RepeatedPtrField<std::string>& list) {
  WriteKey(w, key);
  w.StartArray();
  for (const std::string& s : list) WriteStr(w, s);
  w.EndArray();
}

std::string TextEmbedBody(absl::string_view upstream_model, absl::string_view input_key,
                          const common::v1::EmbedRequest& req, absl::string_view dimensions_key,
                          absl::FunctionRef<void(JsonWriter&)> extra) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  WriteKey(w, "model");
  WriteStr(w, upstream_model);
  WriteStringArray(w, input_key, req.input());
  extra(w);
  if (req.dimensions() > 0) {
    WriteKey(w, dimensions_key);
    w.Int(req.dimensions());
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

absl::Status BadResponse(absl::string_view provider, absl::string_view what) {
  return status::Error(
             absl::StatusCode::kUnavailable, status::reason::kUpstreamBadResponse,
             absl::StrCat("the ", provider, provider.empty() ? "" : " ", "upstream sent ", what))
      .HttpStatus(502);
}

}  // namespace aimarket::provider
