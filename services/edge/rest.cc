#include "services/edge/rest.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/json/parse.h"
#include "common/money/money.h"
#include "common/status/error.h"
#include "services/edge/edge_metrics.h"

namespace aimarket::edge::rest {

absl::Status InvalidValue(absl::string_view param, absl::string_view what) {
  return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
                       absl::StrCat("Invalid value for '", param, "': ", what, "."))
      .Param(param);
}

absl::Status InvalidType(absl::string_view param, absl::string_view expected) {
  return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_TYPE",
                       absl::StrCat("Invalid type for '", param, "': expected ", expected, "."))
      .Param(param);
}

absl::Status Missing(absl::string_view param) {
  return status::Error(absl::StatusCode::kInvalidArgument, "MISSING_REQUIRED_PARAMETER",
                       absl::StrCat("Missing required parameter: '", param, "'."))
      .Param(param);
}

absl::Status BadField(absl::string_view param, absl::string_view message) {
  return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_VALUE", message).Param(param);
}

absl::Status NotFoundPath(const HttpRequest& req) {
  return status::Error(absl::StatusCode::kNotFound, "",
                       absl::StrCat("Invalid URL (", Echo(req.method), " ", Echo(req.Path()), ")"));
}

std::string Echo(absl::string_view input) {
  if (input.size() <= kMaxEcho) return std::string(input);
  return absl::StrCat(input.substr(0, kMaxEcho), "...");
}

bool IsCleanParam(absl::string_view s) {
  if (s.empty() || s.size() > 256 || !json::IsValidUtf8(s)) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

std::optional<std::string> Query(const HttpRequest& req, absl::string_view name) {
  absl::string_view t = req.target;
  const size_t q = t.find('?');
  if (q == absl::string_view::npos) return std::nullopt;
  for (absl::string_view pair : absl::StrSplit(t.substr(q + 1), '&')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.first == name) return PercentDecode(kv.second);
  }
  return std::nullopt;
}

absl::StatusOr<int> Limit(const HttpRequest& req) {
  std::optional<std::string> limit = Query(req, "limit");
  if (!limit) return 0;
  int n = 0;
  if (!absl::SimpleAtoi(*limit, &n) || n < 1 || n > 100)
    return BadField("limit", "limit must be between 1 and 100.");
  return n;
}

absl::StatusOr<rapidjson::Document> ParseBodyObject(const std::string& body) {
  rapidjson::Document doc;
  if (absl::Status s = json::Parse(doc, body); !s.ok()) return s;
  if (!doc.IsObject()) {
    return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_JSON",
                         "The request body must be a JSON object.");
  }
  return doc;
}

absl::Status OnlyKnown(const rapidjson::Value& obj, std::initializer_list<absl::string_view> known,
                       absl::string_view prefix) {
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    const absl::string_view name(it->name.GetString(), it->name.GetStringLength());
    bool ok = false;
    for (absl::string_view k : known) ok = ok || k == name;
    if (!ok) {
      return BadField(absl::StrCat(prefix, name),
                      absl::StrCat("Unknown field '", prefix, name, "'."));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> StringField(const rapidjson::Value& v, absl::string_view param) {
  if (!v.IsString()) return BadField(param, absl::StrCat("'", param, "' must be a string."));
  return std::string(v.GetString(), v.GetStringLength());
}

absl::StatusOr<int64_t> CountField(const rapidjson::Value& v, absl::string_view param) {
  if (v.IsNull()) return 0;
  if (v.IsInt64() && v.GetInt64() >= 0) return v.GetInt64();
  if (v.IsDouble() && v.GetDouble() >= 0 && v.GetDouble() == std::floor(v.GetDouble()) &&
      v.GetDouble() < 9e18) {
    return static_cast<int64_t>(v.GetDouble());
  }
  return BadField(
      param,
      absl::StrCat("'", param, "' must be a whole number, 0 or more (0 or null: unlimited)."));
}

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string Deleted(absl::string_view object, absl::string_view id) {
  return absl::StrCat(R"({"id":)", json::Quote(id), R"(,"object":")", object,
                      R"(","deleted":true})");
}

std::pair<std::string, std::string> CostHeader(int64_t cost_nano_usd) {
  return {"x-aimarket-cost-usd", money::Usd::Nanos(cost_nano_usd).ToDecimal()};
}

std::string ResetText(absl::Duration d) {
  const int64_t ms =
      std::max<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1))), 0);
  if (ms < 1000) return absl::StrCat(ms, "ms");
  const int64_t hours = ms / 3'600'000;
  const int64_t minutes = ms / 60'000 % 60;
  const int64_t millis = ms % 60'000;
  std::string seconds = absl::StrFormat("%d.%03d", millis / 1000, millis % 1000);
  while (seconds.back() == '0') seconds.pop_back();
  if (seconds.back() == '.') seconds.pop_back();
  std::string out;
  if (hours > 0) absl::StrAppend(&out, hours, "h");
  if (hours > 0 || minutes > 0) absl::StrAppend(&out, minutes, "m");
  absl::StrAppend(&out, seconds, "s");
  return out;
}

void AddRateLimitHeaders(const common::v1::RateLimitStatus& status,
                         std::vector<std::pair<std::string, std::string>>& headers) {
  auto reset = [](const google::protobuf::Duration& d) {
    return ResetText(absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos()));
  };
  if (status.limit_requests() > 0) {
    headers.emplace_back("x-ratelimit-limit-requests", absl::StrCat(status.limit_requests()));
    headers.emplace_back("x-ratelimit-remaining-requests",
                         absl::StrCat(status.remaining_requests()));
    headers.emplace_back("x-ratelimit-reset-requests", reset(status.reset_requests()));
  }
  if (status.limit_tokens() > 0) {
    headers.emplace_back("x-ratelimit-limit-tokens", absl::StrCat(status.limit_tokens()));
    headers.emplace_back("x-ratelimit-remaining-tokens", absl::StrCat(status.remaining_tokens()));
    headers.emplace_back("x-ratelimit-reset-tokens", reset(status.reset_tokens()));
  }
}

std::string BalanceJson(const usage::v1::Balance& b, absl::string_view month,
                        int64_t budget_nanos) {
  auto usd = [](int64_t nanos) { return money::Usd::Nanos(nanos).ToDecimal(); };
  const int64_t remaining =
      std::max<int64_t>(budget_nanos - b.spent_nano_usd() - b.reserved_nano_usd(), 0);
  return absl::StrCat(R"({"month":)", json::Quote(month), R"(,"spent_usd":)",
                      usd(b.spent_nano_usd()), R"(,"reserved_usd":)", usd(b.reserved_nano_usd()),
                      R"(,"remaining_usd":)", budget_nanos > 0 ? usd(remaining) : "null",
                      R"(,"requests_in_flight":)", b.requests_in_flight(), "}");
}

std::pair<std::string, std::string> OverheadHeader(absl::Time start, absl::Duration upstream,
                                                   bool observe) {
  const absl::Duration inside = std::max(absl::ZeroDuration(), absl::Now() - start - upstream);
  if (observe) EdgeMetrics::Get().ObserveOverhead(absl::ToDoubleSeconds(inside));
  return {"x-aimarket-overhead-ms", absl::StrFormat("%.3f", absl::ToDoubleMilliseconds(inside))};
}

}  // namespace aimarket::edge::rest
