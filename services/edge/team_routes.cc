#include "services/edge/team_routes.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <rapidjson/document.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/json/json_escape.h"
#include "common/json/parse.h"
#include "common/money/money.h"
#include "common/status/error.h"
#include "common/status/status_macros.h"
#include "services/edge/error_body.h"
#include "services/edge/rest.h"

namespace aimarket::edge {
namespace {

using rapidjson::Value;
using TimeUtil = google::protobuf::util::TimeUtil;

using rest::BadField;
using rest::CountField;
using rest::Deleted;
using rest::IsCleanParam;
using rest::ListJson;
using rest::NotFoundPath;
using rest::OnlyKnown;
using rest::ReadPage;
using rest::StringField;

// ---- JSON in

absl::StatusOr<common::v1::Role> RoleField(const Value& v) {
  const common::v1::Role role =
      v.IsString() ? team::RoleFromName(absl::string_view(v.GetString(), v.GetStringLength()))
                   : common::v1::ROLE_UNSPECIFIED;
  if (role != common::v1::ROLE_UNSPECIFIED) return role;
  return BadField("role", "'role' must be one of \"owner\", \"admin\", \"member\", \"viewer\".");
}

// Reads `settings` into `out`, adding an update-mask path per field present.
// A monthly budget in US dollars (null: none), as integer nano-dollars: where dollars enter.
absl::StatusOr<int64_t> BudgetField(const Value& v, absl::string_view param) {
  if (v.IsNull()) return 0;
  if (!v.IsNumber()) {
    return BadField(param, absl::StrCat("'", param, "' must be a number of US dollars."));
  }
  absl::StatusOr<money::Usd> budget = money::Usd::FromDollars(v.GetDouble());
  if (!budget.ok()) {
    return BadField(param, absl::StrCat("'", param,
                                        "' must be an amount of US dollars from 0 (no budget) to "
                                        "1e9."));
  }
  return budget->nanos();
}

// A rate_limits object at `param` (null: none), each field given adding its update path.
absl::Status ReadRateLimits(const Value& r, absl::string_view param, common::v1::RateLimits& out,
                            std::vector<std::string>& paths) {
  if (r.IsNull()) {
    paths.emplace_back(param);
    out.Clear();
    return absl::OkStatus();
  }
  if (!r.IsObject()) return BadField(param, absl::StrCat("'", param, "' must be an object."));
  const std::string prefix = absl::StrCat(param, ".");
  AIM_RETURN_IF_ERROR(OnlyKnown(
      r, {"requests_per_minute", "requests_per_day", "tokens_per_minute", "max_parallel_requests"},
      prefix));
  struct Field {
    const char* name;
    void (common::v1::RateLimits::*set)(int64_t);
  };
  static constexpr Field kFields[] = {
      {"requests_per_minute", &common::v1::RateLimits::set_requests_per_minute},
      {"requests_per_day", &common::v1::RateLimits::set_requests_per_day},
      {"tokens_per_minute", &common::v1::RateLimits::set_tokens_per_minute},
      {"max_parallel_requests", &common::v1::RateLimits::set_max_parallel_requests}};
  for (const Field& f : kFields) {
    auto m = r.FindMember(f.name);
    if (m == r.MemberEnd()) continue;
    const std::string field = absl::StrCat(prefix, f.name);
    absl::StatusOr<int64_t> n = CountField(m->value, field);
    if (!n.ok()) return n.status();
    (out.*f.set)(*n);
    paths.push_back(field);
  }
  return absl::OkStatus();
}

absl::Status ReadSettings(const Value& v, common::v1::TeamSettings& out,
                          std::vector<std::string>& paths) {
  if (v.IsNull()) {
    paths.emplace_back("settings");
    return absl::OkStatus();
  }
  if (!v.IsObject()) return BadField("settings", "'settings' must be an object.");
  if (absl::Status s = OnlyKnown(v,
                                 {"model_access", "monthly_budget", "rate_limits", "cost_center",
                                  "budget_alerts", "alert_webhook_url"},
                                 "settings.");
      !s.ok()) {
    return s;
  }
  if (auto it = v.FindMember("model_access"); it != v.MemberEnd()) {
    paths.emplace_back("settings.model_access");
    if (!it->value.IsNull()) {
      if (!it->value.IsArray())
        return BadField("settings.model_access",
                        "'settings.model_access' must be a list of model names.");
      for (const Value& m : it->value.GetArray()) {
        if (!m.IsString())
          return BadField("settings.model_access",
                          "'settings.model_access' must be a list of model names.");
        out.add_model_access(std::string(m.GetString(), m.GetStringLength()));
      }
    }
  }
  if (auto it = v.FindMember("monthly_budget"); it != v.MemberEnd()) {
    paths.emplace_back("settings.monthly_budget");
    absl::StatusOr<int64_t> budget = BudgetField(it->value, "settings.monthly_budget");
    if (!budget.ok()) return budget.status();
    out.set_monthly_budget_nano_usd(*budget);
  }
  if (auto it = v.FindMember("rate_limits"); it != v.MemberEnd()) {
    AIM_RETURN_IF_ERROR(
        ReadRateLimits(it->value, "settings.rate_limits", *out.mutable_rate_limits(), paths));
  }
  if (auto it = v.FindMember("budget_alerts"); it != v.MemberEnd()) {
    paths.emplace_back("settings.budget_alert_percents");
    if (!it->value.IsNull()) {
      constexpr absl::string_view kWhat =
          "'settings.budget_alerts' must be a list of percentages of the monthly budget, such as "
          "[50, 80, 100].";
      if (!it->value.IsArray() || it->value.Size() > 10) {
        return BadField("settings.budget_alerts", kWhat);
      }
      for (const Value& p : it->value.GetArray()) {
        if (!p.IsInt() || p.GetInt() < 1 || p.GetInt() > 1000) {
          return BadField("settings.budget_alerts", kWhat);
        }
        out.add_budget_alert_percents(p.GetInt());
      }
    }
  }
  if (auto it = v.FindMember("alert_webhook_url"); it != v.MemberEnd()) {
    paths.emplace_back("settings.alert_webhook_url");
    if (!it->value.IsNull()) {
      absl::StatusOr<std::string> url = StringField(it->value, "settings.alert_webhook_url");
      if (!url.ok()) return url.status();
      out.set_alert_webhook_url(*url);
    }
  }
  if (auto it = v.FindMember("cost_center"); it != v.MemberEnd()) {
    paths.emplace_back("settings.cost_center");
    if (!it->value.IsNull()) {
      absl::StatusOr<std::string> c = StringField(it->value, "settings.cost_center");
      if (!c.ok()) return c.status();
      out.set_cost_center(*c);
    }
  }
  return absl::OkStatus();
}

// ---- JSON out

int64_t Seconds(const google::protobuf::Timestamp& t) { return t.seconds(); }

std::string NullableTime(bool has, const google::protobuf::Timestamp& t) {
  return has ? absl::StrCat(Seconds(t)) : "null";
}

std::string Last(absl::string_view name) { return std::string(name.substr(name.rfind('/') + 1)); }

std::string RateLimitsJson(const common::v1::RateLimits& r) {
  return absl::StrCat(R"({"requests_per_minute":)", r.requests_per_minute(),
                      R"(,"requests_per_day":)", r.requests_per_day(), R"(,"tokens_per_minute":)",
                      r.tokens_per_minute(), R"(,"max_parallel_requests":)",
                      r.max_parallel_requests(), "}");
}

// A webhook URL as reads show it: its origin, the rest elided. Webhook URLs often carry their own
// secret in the path (Slack's, for one), and every member and viewer of the team reads settings.
std::string RedactedUrl(absl::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == absl::string_view::npos) return "";
  const size_t path = url.find_first_of("/?#", scheme + 3);
  if (path == absl::string_view::npos || url.substr(path) == "/") return std::string(url);
  return absl::StrCat(url.substr(0, path), "/…");
}

std::string SettingsJson(const common::v1::TeamSettings& s) {
  std::string models;
  for (const std::string& m : s.model_access())
    absl::StrAppend(&models, models.empty() ? "" : ",", json::Quote(m));
  std::string alerts;
  for (int32_t p : s.budget_alert_percents())
    absl::StrAppend(&alerts, alerts.empty() ? "" : ",", p);
  return absl::StrCat(
      R"({"model_access":[)", models, R"(],"monthly_budget":)",
      money::Usd::Nanos(s.monthly_budget_nano_usd()).ToDecimal(), R"(,"rate_limits":)",
      RateLimitsJson(s.rate_limits()), R"(,"cost_center":)", json::Quote(s.cost_center()),
      R"(,"budget_alerts":[)", alerts, R"(],"alert_webhook_url":)",
      s.alert_webhook_url().empty() ? "null" : json::Quote(RedactedUrl(s.alert_webhook_url())),
      "}");
}

std::string TeamJson(const team::v1::Team& t) {
  return absl::StrCat(R"({"id":)", json::Quote(Last(t.name())), R"(,"object":"team","name":)",
                      json::Quote(t.display_name()), R"(,"settings":)", SettingsJson(t.settings()),
                      R"(,"webhook_secret_set":)",
                      t.has_webhook_secret() || !t.webhook_secret().empty() ? "true" : "false",
                      t.webhook_secret().empty() ? "" : R"(,"webhook_secret":)",
                      t.webhook_secret().empty() ? "" : json::Quote(t.webhook_secret()),
                      R"(,"created_at":)", Seconds(t.create_time()), R"(,"updated_at":)",
                      Seconds(t.update_time()), "}");
}

std::string MemberJson(const team::v1::Member& m) {
  return absl::StrCat(R"({"object":"team.member","user_id":)", json::Quote(m.user_id()),
                      R"(,"role":")", team::RoleName(m.role()), R"(","created_at":)",
                      Seconds(m.create_time()), "}");
}

std::string KeyJson(const team::v1::ApiKey& k) {
  return absl::StrCat(
      R"({"id":)", json::Quote(Last(k.name())), R"(,"object":"team.api_key","name":)",
      json::Quote(k.display_name()), R"(,"prefix":)", json::Quote(k.prefix()), R"(,"user_id":)",
      json::Quote(k.member()), R"(,"created_at":)", Seconds(k.create_time()), R"(,"expires_at":)",
      NullableTime(k.has_expire_time(), k.expire_time()), R"(,"last_used_at":)",
      NullableTime(k.has_last_use_time(), k.last_use_time()), R"(,"created_by":)",
      json::Quote(k.creator()), R"(,"created_by_key_id":)", json::Quote(k.creator_key_id()),
      R"(,"revoked":)", k.revoked() ? "true" : "false", R"(,"monthly_budget":)",
      money::Usd::Nanos(k.limits().monthly_budget_nano_usd()).ToDecimal(), R"(,"rate_limits":)",
      RateLimitsJson(k.limits().rate_limits()), k.key().empty() ? "" : R"(,"key":)",
      k.key().empty() ? "" : json::Quote(k.key()), "}");
}

// The month so far of a team or a key whose budget is `budget_nanos` (0: none): `"usage":{...}`
// to append to its object, empty when metering did not answer (the resource is shown all the
// same). What remains is of the budget as stored now.
std::string UsageJson(const usage::v1::Balance* b, absl::string_view month, int64_t budget_nanos) {
  if (b == nullptr) return "";
  return absl::StrCat(R"(,"usage":)", rest::BalanceJson(*b, month, budget_nanos));
}

// Appends `usage` before the object's closing brace.
std::string WithUsage(std::string object, const std::string& usage) {
  if (!usage.empty()) object.insert(object.size() - 1, usage);
  return object;
}

// The team's balances from metering; nullopt when there is no metering or it did not answer.
std::optional<usage::v1::GetBalanceResponse> BalanceOf(usage::MeteringApi* metering,
                                                       const rpc::CallContext& ctx,
                                                       const std::string& team_name) {
  if (metering == nullptr) return std::nullopt;
  usage::v1::GetBalanceRequest r;
  r.set_team(team_name);
  absl::StatusOr<usage::v1::GetBalanceResponse> b = metering->GetBalance(ctx, r);
  if (!b.ok()) return std::nullopt;
  return *std::move(b);
}

// A resource as the audit log stored it (protobuf JSON), in the shape this API shows it.
std::string AuditedResource(absl::string_view action, const std::string& stored) {
  if (stored.empty()) return "null";
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  auto render = [&](auto message, auto to_json) {
    if (!google::protobuf::util::JsonStringToMessage(stored, &message, opts).ok()) return stored;
    return to_json(message);
  };
  if (absl::StartsWith(action, "team.")) return render(team::v1::Team(), TeamJson);
  if (absl::StartsWith(action, "member.")) return render(team::v1::Member(), MemberJson);
  if (absl::StartsWith(action, "api_key.")) return render(team::v1::ApiKey(), KeyJson);
  return stored;
}

std::string AuditJson(const team::v1::AuditEntry& e) {
  return absl::StrCat(
      R"({"id":)", json::Quote(e.name()), R"(,"object":"team.audit_entry","actor":)",
      json::Quote(e.actor()), R"(,"actor_key_id":)", json::Quote(e.actor_key_id()), R"(,"action":)",
      json::Quote(e.action()), R"(,"resource":)", json::Quote(e.resource()), R"(,"before":)",
      AuditedResource(e.action(), e.before_json()), R"(,"after":)",
      AuditedResource(e.action(), e.after_json()), R"(,"request_id":)", json::Quote(e.request_id()),
      R"(,"created_at":)", Seconds(e.create_time()), "}");
}

HttpResponse Teams(team::TeamApi& api, const HttpRequest& req, const rpc::CallContext& ctx) {
  if (req.method == "GET") {
    team::v1::ListTeamsRequest r;
    AIM_HTTP_CHECK(ReadPage(req, r));
    AIM_HTTP_ASSIGN(team::v1::ListTeamsResponse resp, api.ListTeams(ctx, r));
    return rest::Json(200, ListJson(resp.teams(), !resp.next_page_token().empty(), TeamJson,
                                    [](const team::v1::Team& t) { return Last(t.name()); }));
  }
  AIM_HTTP_ASSIGN(rapidjson::Document doc, rest::ParseBodyObject(req.body));
  AIM_HTTP_CHECK(OnlyKnown(doc, {"name", "settings", "id"}, ""));
  team::v1::CreateTeamRequest r;
  auto name = doc.FindMember("name");
  if (name == doc.MemberEnd()) return ErrorResponse(BadField("name", "'name' is required."));
  AIM_HTTP_ASSIGN(std::string display, StringField(name->value, "name"));
  r.mutable_team()->set_display_name(display);
  if (auto id = doc.FindMember("id"); id != doc.MemberEnd()) {
    AIM_HTTP_ASSIGN(std::string team_id, StringField(id->value, "id"));
    if (team_id.empty()) return ErrorResponse(BadField("id", "'id' cannot be empty."));
    r.set_team_id(team_id);
  }
  if (auto s = doc.FindMember("settings"); s != doc.MemberEnd()) {
    std::vector<std::string> paths;
    AIM_HTTP_CHECK(ReadSettings(s->value, *r.mutable_team()->mutable_settings(), paths));
  }
  AIM_HTTP_ASSIGN(team::v1::Team created, api.CreateTeam(ctx, r));
  return rest::Json(201, TeamJson(created));
}

HttpResponse OneTeam(team::TeamApi& api, usage::MeteringApi* metering, const HttpRequest& req,
                     const rpc::CallContext& ctx, const std::string& team_name) {
  if (req.method == "GET") {
    team::v1::GetTeamRequest r;
    r.set_name(team_name);
    AIM_HTTP_ASSIGN(team::v1::Team t, api.GetTeam(ctx, r));
    // Asked only once the caller may read the team.
    const std::optional<usage::v1::GetBalanceResponse> b = BalanceOf(metering, ctx, team_name);
    return rest::Json(
        200, WithUsage(TeamJson(t),
                       b ? UsageJson(&b->team(), b->month(), t.settings().monthly_budget_nano_usd())
                         : ""));
  }
  if (req.method == "DELETE") {
    team::v1::DeleteTeamRequest r;
    r.set_name(team_name);
    AIM_HTTP_CHECK(api.DeleteTeam(ctx, r).status());
    return rest::Json(200, Deleted("team.deleted", Last(team_name)));
  }
  AIM_HTTP_ASSIGN(rapidjson::Document doc, rest::ParseBodyObject(req.body));
  AIM_HTTP_CHECK(OnlyKnown(doc, {"name", "settings"}, ""));
  team::v1::UpdateTeamRequest r;
  r.mutable_team()->set_name(team_name);
  std::vector<std::string> paths;
  if (auto name = doc.FindMember("name"); name != doc.MemberEnd()) {
    AIM_HTTP_ASSIGN(std::string display, StringField(name->value, "name"));
    r.mutable_team()->set_display_name(display);
    paths.emplace_back("display_name");
  }
  if (auto s = doc.FindMember("settings"); s != doc.MemberEnd()) {
    AIM_HTTP_CHECK(ReadSettings(s->value, *r.mutable_team()->mutable_settings(), paths));
  }
  if (paths.empty()) return ErrorResponse(BadField("", "Send 'name' or 'settings' to change."));
  for (std::string& p : paths) r.mutable_update_mask()->add_paths(std::move(p));
  AIM_HTTP_ASSIGN(team::v1::Team t, api.UpdateTeam(ctx, r));
  return rest::Json(200, TeamJson(t));
}

HttpResponse Members(team::TeamApi& api, const HttpRequest& req, const rpc::CallContext& ctx,
                     const std::string& team_name) {
  if (req.method == "GET") {
    team::v1::ListMembersRequest r;
    r.set_parent(team_name);
    AIM_HTTP_CHECK(ReadPage(req, r));
    AIM_HTTP_ASSIGN(team::v1::ListMembersResponse resp, api.ListMembers(ctx, r));
    return rest::Json(200, ListJson(resp.members(), !resp.next_page_token().empty(), MemberJson,
                                    [](const team::v1::Member& m) { return m.user_id(); }));
  }
  AIM_HTTP_ASSIGN(rapidjson::Document doc, rest::ParseBodyObject(req.body));
  AIM_HTTP_CHECK(OnlyKnown(doc, {"user_id", "role"}, ""));
  team::v1::CreateMemberRequest r;
  r.set_parent(team_name);
  auto user = doc.FindMember("user_id");
  if (user == doc.MemberEnd()) return ErrorResponse(BadField("user_id", "'user_id' is required."));
  AIM_HTTP_ASSIGN(std::string user_id, StringField(user->value, "user_id"));
  r.mutable_member()->set_user_id(user_id);
  auto role = doc.FindMember("role");
  if (role == doc.MemberEnd()) return ErrorResponse(BadField("role", "'role' is required."));
  AIM_HTTP_ASSIGN(common::v1::Role parsed_role, RoleField(role->value));
  r.mutable_member()->set_role(parsed_role);
  AIM_HTTP_ASSIGN(team::v1::Member m, api.CreateMember(ctx, r));
  return rest::Json(201, MemberJson(m));
}

HttpResponse OneMember(team::TeamApi& api, const HttpRequest& req, const rpc::CallContext& ctx,
                       const std::string& member_name, const std::string& user_id) {
  if (req.method == "DELETE") {
    team::v1::DeleteMemberRequest r;
    r.set_name(member_name);
    AIM_HTTP_CHECK(api.DeleteMember(ctx, r).status());
    return rest::Json(200, Deleted("team.member.deleted", user_id));
  }
  AIM_HTTP_ASSIGN(rapidjson::Document doc, rest::ParseBodyObject(req.body));
  AIM_HTTP_CHECK(OnlyKnown(doc, {"role"}, ""));
  auto role = doc.FindMember("role");
  if (role == doc.MemberEnd()) return ErrorResponse(BadField("role", "'role' is required."));
  team::v1::UpdateMemberRequest r;
  r.mutable_member()->set_name(member_name);
  AIM_HTTP_ASSIGN(common::v1::Role parsed_role, RoleField(role->value));
  r.mutable_member()->set_role(parsed_role);
  r.mutable_update_mask()->add_paths("role");
  AIM_HTTP_ASSIGN(team::v1::Member m, api.UpdateMember(ctx, r));
  return rest::Json(200, MemberJson(m));
}

// A key's own limits from its JSON (monthly_budget, rate_limits), each given adding its path.
absl::Status ReadKeyLimits(const Value& doc, common::v1::KeyLimits& out,
                           std::vector<std::string>& paths) {
  if (auto it = doc.FindMember("monthly_budget"); it != doc.MemberEnd()) {
    paths.emplace_back("limits.monthly_budget");
    absl::StatusOr<int64_t> budget = BudgetField(it->value, "monthly_budget");
    if (!budget.ok()) return budget.status();
    out.set_monthly_budget_nano_usd(*budget);
  }
  if (auto it = doc.FindMember("rate_limits"); it != doc.MemberEnd()) {
    std::vector<std::string> given;
    AIM_RETURN_IF_ERROR(
        ReadRateLimits(it->value, "rate_limits", *out.mutable_rate_limits(), given));
    for (const std::string& p : given) paths.push_back(absl::StrCat("limits.", p));
  }
  return absl::OkStatus();
}

HttpResponse OneKey(team::TeamApi& api, const HttpRequest& req, const rpc::CallContext& ctx,
                    const std::string& key_name) {
  if (req.method == "DELETE") {
    team::v1::DeleteApiKeyRequest r;
    r.set_name(key_name);
    AIM_HTTP_CHECK(api.DeleteApiKey(ctx, r).status());
    return rest::Json(200, Deleted("team.api_key.deleted", Last(key_name)));
  }
  AIM_HTTP_ASSIGN(rapidjson::Document doc, rest::ParseBodyObject(req.body));
  AIM_HTTP_CHECK(OnlyKnown(doc, {"name", "monthly_budget", "rate_limits"}, ""));
  team::v1::UpdateApiKeyRequest r;
  team::v1::ApiKey& key = *r.mutable_api_key();
  key.set_name(key_name);
  std::vector<std::string> paths;
  if (auto name = doc.FindMember("name"); name != doc.MemberEnd()) {
    if (!name->value.IsNull()) {
      AIM_HTTP_ASSIGN(std::string display, StringField(name->value, "name"));
      key.set_display_name(display);
    }
    paths.emplace_back("display_name");
  }
  AIM_HTTP_CHECK(ReadKeyLimits(doc, *key.mutable_limits(), paths));
  if (paths.empty()) {
    return ErrorResponse(BadField("", "Give at least one of name, monthly_budget, rate_limits."));
  }
  for (std::string& p : paths) r.mutable_update_mask()->add_paths(std::move(p));
  AIM_HTTP_ASSIGN(team::v1::ApiKey updated, api.UpdateApiKey(ctx, r));
  return rest::Json(200, KeyJson(updated));
}

HttpResponse Keys(team::TeamApi& api, usage::MeteringApi* metering, const HttpRequest& req,
                  const rpc::CallContext& ctx, const std::string& team_name) {
  if (req.method == "GET") {
    team::v1::ListApiKeysRequest r;
    r.set_parent(team_name);
    AIM_HTTP_CHECK(ReadPage(req, r));
    AIM_HTTP_ASSIGN(team::v1::ListApiKeysResponse resp, api.ListApiKeys(ctx, r));
    const std::optional<usage::v1::GetBalanceResponse> b = BalanceOf(metering, ctx, team_name);
    absl::flat_hash_map<std::string, const usage::v1::Balance*> by_key;
    if (b) {
      for (const usage::v1::Balance& k : b->keys()) by_key[k.key_id()] = &k;
    }
    const usage::v1::Balance none;  // A key metering has not seen this month.
    auto render = [&](const team::v1::ApiKey& k) {
      if (!b) return KeyJson(k);
      auto it = by_key.find(Last(k.name()));
      return WithUsage(KeyJson(k), UsageJson(it == by_key.end() ? &none : it->second, b->month(),
                                             k.limits().monthly_budget_nano_usd()));
    };
    return rest::Json(200, ListJson(resp.api_keys(), !resp.next_page_token().empty(), render,
                                    [](const team::v1::ApiKey& k) { return Last(k.name()); }));
  }
  AIM_HTTP_ASSIGN(rapidjson::Document doc, rest::ParseBodyObject(req.body));
  AIM_HTTP_CHECK(
      OnlyKnown(doc, {"name", "user_id", "expires_at", "monthly_budget", "rate_limits"}, ""));
  team::v1::CreateApiKeyRequest r;
  r.set_parent(team_name);
  team::v1::ApiKey& key = *r.mutable_api_key();
  std::vector<std::string> unused;
  AIM_HTTP_CHECK(ReadKeyLimits(doc, *key.mutable_limits(), unused));
  if (auto name = doc.FindMember("name"); name != doc.MemberEnd() && !name->value.IsNull()) {
    AIM_HTTP_ASSIGN(std::string display, StringField(name->value, "name"));
    key.set_display_name(display);
  }
  if (auto user = doc.FindMember("user_id"); user != doc.MemberEnd() && !user->value.IsNull()) {
    AIM_HTTP_ASSIGN(std::string user_id, StringField(user->value, "user_id"));
    key.set_member(user_id);
  }
  if (auto exp = doc.FindMember("expires_at"); exp != doc.MemberEnd() && !exp->value.IsNull()) {
    if (!exp->value.IsInt64() || exp->value.GetInt64() <= 0 ||
        exp->value.GetInt64() > 253402300799) {
      return ErrorResponse(
          BadField("expires_at", "'expires_at' must be a Unix time in seconds, or null."));
    }
    *key.mutable_expire_time() = TimeUtil::SecondsToTimestamp(exp->value.GetInt64());
  }
  AIM_HTTP_ASSIGN(team::v1::ApiKey created, api.CreateApiKey(ctx, r));
  return rest::Json(201, KeyJson(created));
}

HttpResponse Audit(team::TeamApi& api, const HttpRequest& req, const rpc::CallContext& ctx,
                   const std::string& team_name) {
  team::v1::ListAuditEntriesRequest r;
  r.set_parent(team_name);
  AIM_HTTP_CHECK(ReadPage(req, r));
  AIM_HTTP_ASSIGN(team::v1::ListAuditEntriesResponse resp, api.ListAuditEntries(ctx, r));
  return rest::Json(200, ListJson(resp.entries(), !resp.next_page_token().empty(), AuditJson,
                                  [](const team::v1::AuditEntry& e) { return e.name(); }));
}

}  // namespace

void AddTeamRoutes(RouteTable& table, team::TeamApi& api, usage::MeteringApi* metering) {
  using Run = Route::Run;
  // The handlers below serve several methods and branch on the request's: a HEAD (which a GET
  // route takes) reaches them as the GET it stands for.
  auto add = [&table](const char* pattern, const char* method, Route::Respond respond) {
    table.Add({.pattern = pattern,
               .method = method,
               .name = "teams",
               .run = Run::kWorker,
               .respond = [method, respond = std::move(respond)](const Call& c) {
                 if (c.request.method == method) return respond(c);
                 HttpRequest as_method = c.request;
                 as_method.method = method;
                 return respond(Call{as_method, c.params, c.ctx});
               }});
  };
  auto team_name = [](const Call& c) { return absl::StrCat("teams/", c.params["team_id"]); };
  for (const char* method : {"GET", "POST"}) {
    add("/v1/teams", method, [&api](const Call& c) { return Teams(api, c.request, c.ctx); });
  }
  for (const char* method : {"GET", "PATCH", "DELETE"}) {
    add("/v1/teams/{team_id}", method, [&api, metering, team_name](const Call& c) {
      return OneTeam(api, metering, c.request, c.ctx, team_name(c));
    });
  }
  for (const char* method : {"GET", "POST"}) {
    add("/v1/teams/{team_id}/members", method,
        [&api, team_name](const Call& c) { return Members(api, c.request, c.ctx, team_name(c)); });
    add("/v1/teams/{team_id}/keys", method, [&api, metering, team_name](const Call& c) {
      return Keys(api, metering, c.request, c.ctx, team_name(c));
    });
  }
  for (const char* method : {"PATCH", "DELETE"}) {
    add("/v1/teams/{team_id}/members/{user_id}", method, [&api, team_name](const Call& c) {
      const std::string& user = c.params["user_id"];
      return OneMember(api, c.request, c.ctx, absl::StrCat(team_name(c), "/members/", user), user);
    });
    add("/v1/teams/{team_id}/keys/{key_id}", method, [&api, team_name](const Call& c) {
      return OneKey(api, c.request, c.ctx,
                    absl::StrCat(team_name(c), "/apiKeys/", c.params["key_id"]));
    });
  }
  add("/v1/teams/{team_id}/audit", "GET",
      [&api, team_name](const Call& c) { return Audit(api, c.request, c.ctx, team_name(c)); });
  // A new secret for the team's alert webhooks, shown once in this answer.
  add("/v1/teams/{team_id}/webhook_secret", "POST", [&api, team_name](const Call& c) {
    team::v1::UpdateTeamRequest r;
    r.mutable_team()->set_name(team_name(c));
    r.mutable_update_mask()->add_paths("webhook_secret");
    AIM_HTTP_ASSIGN(team::v1::Team t, api.UpdateTeam(c.ctx, r));
    return rest::Json(200, TeamJson(t));
  });
}

}  // namespace aimarket::edge
