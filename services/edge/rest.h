#pragma once

// The edge's REST kit: what every JSON resource of the management API (and the OpenAI request
// parsers) does the same way, so that a new resource starts as a new file (docs/development.md):
//
//   HttpResponse Things(ThingApi& api, const HttpRequest& req, const rpc::CallContext& ctx) {
//     if (req.method != "POST") return MethodNotAllowed(req, "POST");
//     AIM_HTTP_ASSIGN(rapidjson::Document doc, rest::ParseBodyObject(req.body));
//     AIM_HTTP_CHECK(rest::OnlyKnown(doc, {"name"}, ""));
//     ...
//     return rest::Json(201, ThingJson(created));
//   }
//
// Errors are 400s in OpenAI's format whose `param` names the field at fault.

#include <rapidjson/document.h>

#include <initializer_list>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "aimarket/common/v1/principal.pb.h"
#include "aimarket/usage/v1/metering_service.pb.h"
#include "common/json/json_escape.h"
#include "common/status/status_macros.h"
#include "services/edge/error_body.h"
#include "services/edge/http.h"

namespace aimarket::edge::rest {

// --- Errors (400 INVALID_ARGUMENT naming `param`).
// "Invalid value for 'param': what."
absl::Status InvalidValue(absl::string_view param, absl::string_view what);
// "Invalid type for 'param': expected what."
absl::Status InvalidType(absl::string_view param, absl::string_view expected);
// "Missing required parameter: 'param'."
absl::Status Missing(absl::string_view param);
// INVALID_VALUE with a message of the resource's own.
absl::Status BadField(absl::string_view param, absl::string_view message);
// 404 for a path that names nothing ("Invalid URL (GET /v1/...)", the path cut by Echo).
absl::Status NotFoundPath(const HttpRequest& req);
// Client input quoted in an error message: its first kMaxEcho bytes, then "..." if it was longer
// (an error never carries a client's 60 KB path back whole).
inline constexpr size_t kMaxEcho = 200;
std::string Echo(absl::string_view input);

// --- Requests.
// Whether a decoded path parameter or cursor may go further (to a service, to Postgres): 1 to 256
// bytes of UTF-8 without control characters. Anything else names nothing that exists.
bool IsCleanParam(absl::string_view s);
// The query parameter `name`, percent-decoded; nullopt when absent.
std::optional<std::string> Query(const HttpRequest& req, absl::string_view name);
// `?limit=` (1-100; 0 when absent).
absl::StatusOr<int> Limit(const HttpRequest& req);
// Fills a list request's page (AIP: page_size, page_token) from `?limit=` and `?after=`.
template <typename ListRequest>
absl::Status ReadPage(const HttpRequest& req, ListRequest& r) {
  AIM_ASSIGN_OR_RETURN(const int limit, Limit(req));
  r.set_page_size(limit);
  const std::string after = Query(req, "after").value_or("");
  if (!after.empty() && !IsCleanParam(after))
    return BadField("after", "'after' is not a cursor this API returned.");
  r.set_page_token(after);
  return absl::OkStatus();
}

// --- JSON in (strict: json::Parse, then the resource's own checks).
// The body as a JSON object.
absl::StatusOr<rapidjson::Document> ParseBodyObject(const std::string& body);
// Refuses members of `obj` outside `known`, naming the first as `prefix` + its name.
absl::Status OnlyKnown(const rapidjson::Value& obj, std::initializer_list<absl::string_view> known,
                       absl::string_view prefix);
absl::StatusOr<std::string> StringField(const rapidjson::Value& v, absl::string_view param);
// A whole number ≥ 0; null is 0 (unlimited).
absl::StatusOr<int64_t> CountField(const rapidjson::Value& v, absl::string_view param);

// --- JSON out.
HttpResponse Json(int status, std::string body);
// OpenAI's list: {"object":"list","data":[...],"first_id","last_id","has_more"}.
template <typename Items, typename Render, typename IdOf>
std::string ListJson(const Items& items, bool has_more, Render render, IdOf id_of) {
  std::string data;
  for (const auto& item : items) absl::StrAppend(&data, data.empty() ? "" : ",", render(item));
  const std::string first = items.empty() ? "null" : json::Quote(id_of(*items.begin()));
  const std::string last = items.empty() ? "null" : json::Quote(id_of(*items.rbegin()));
  return absl::StrCat(R"({"object":"list","data":[)", data, R"(],"first_id":)", first,
                      R"(,"last_id":)", last, R"(,"has_more":)", has_more ? "true" : "false", "}");
}
// A month's balance: {"month","spent_usd","reserved_usd","remaining_usd" (null without a budget),
// "requests_in_flight"}, money as exact decimal dollars.
std::string BalanceJson(const usage::v1::Balance& b, absl::string_view month, int64_t budget_nanos);
// {"id","object","deleted":true}.
std::string Deleted(absl::string_view object, absl::string_view id);

// --- Headers every answer carries.
// x-aimarket-overhead-ms: the time since `start` spent inside aimarket (`upstream` excluded),
// also observed into aimarket_edge_overhead_seconds when `observe`.
std::pair<std::string, std::string> OverheadHeader(absl::Time start,
                                                   absl::Duration upstream = absl::ZeroDuration(),
                                                   bool observe = true);
// x-aimarket-cost-usd: what the answer cost (nano-dollars in), in exact decimal dollars.
std::pair<std::string, std::string> CostHeader(int64_t cost_nano_usd);
// OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens}, appended to `headers` for each
// trio that applies; resets as OpenAI writes them ("1s", "6m0s", "59.5s", "20ms").
void AddRateLimitHeaders(const common::v1::RateLimitStatus& status,
                         std::vector<std::pair<std::string, std::string>>& headers);
// A duration as OpenAI's reset headers write it.
std::string ResetText(absl::Duration d);

}  // namespace aimarket::edge::rest

// As AIM_ASSIGN_OR_RETURN / AIM_RETURN_IF_ERROR, answering the error as an HTTP response.
#define AIM_HTTP_ASSIGN(lhs, expr)                                                        \
  auto AIM_STATUS_CONCAT(aim_r_, __LINE__) = (expr);                                      \
  if (!AIM_STATUS_CONCAT(aim_r_, __LINE__).ok())                                          \
    return ::aimarket::edge::ErrorResponse(AIM_STATUS_CONCAT(aim_r_, __LINE__).status()); \
  lhs = *std::move(AIM_STATUS_CONCAT(aim_r_, __LINE__))
#define AIM_HTTP_CHECK(expr) \
  if (absl::Status aim_s = (expr); !aim_s.ok()) return ::aimarket::edge::ErrorResponse(aim_s)
