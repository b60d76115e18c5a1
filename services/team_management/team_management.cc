#include "services/team_management/team_management.h"

#include <google/protobuf/util/time_util.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cmath>
#include <utility>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/money/money.h"
#include "common/status/error.h"
#include "common/status/reasons.h"
#include "common/status/status_macros.h"

namespace aimarket::team {
namespace {

using common::v1::Principal;
using common::v1::Role;

constexpr absl::string_view kKeyPrefix = "sk-am-";
constexpr int kDefaultPageSize = 20;
constexpr int kMaxPageSize = 100;

// What a call needs the caller's role to allow.
enum class Perm {
  kReadTeam,    // the team, its members
  kUpdateTeam,  // name and settings
  kDeleteTeam,
  kManageMembers,  // add, change, remove (owners only by owners: checked per member)
  kAllKeys,        // list, create and revoke every member's keys
  kOwnKeys,        // list, create and revoke one's own keys
  kReadAudit,
};

bool RoleAllows(Role role, Perm perm) {
  const bool owner = role == common::v1::ROLE_OWNER;
  const bool admin = owner || role == common::v1::ROLE_ADMIN;
  const bool member = admin || role == common::v1::ROLE_MEMBER;
  const bool viewer = member || role == common::v1::ROLE_VIEWER;
  switch (perm) {
    case Perm::kReadTeam:
      return viewer;
    case Perm::kDeleteTeam:
      return owner;
    case Perm::kOwnKeys:
      return member;
    case Perm::kUpdateTeam:
    case Perm::kManageMembers:
    case Perm::kAllKeys:
    case Perm::kReadAudit:
      return admin;
  }
  return false;
}

// A role's rank: a key holder may act only for those ranked below (or as themselves).
int Rank(Role role) {
  switch (role) {
    case common::v1::ROLE_OWNER:
      return 4;
    case common::v1::ROLE_ADMIN:
      return 3;
    case common::v1::ROLE_MEMBER:
      return 2;
    case common::v1::ROLE_VIEWER:
      return 1;
    default:
      return 0;
  }
}

absl::Status Denied(absl::string_view message) {
  return status::Error(absl::StatusCode::kPermissionDenied, "PERMISSION_DENIED", message);
}

absl::Status Invalid(absl::string_view param, absl::string_view message) {
  return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_VALUE", message).Param(param);
}

// The platform admin may do anything to any team; a team's key acts within its own team only, and
// another team's resources do not exist for it.
absl::Status Authorize(const Principal& p, absl::string_view team_id, Perm perm) {
  if (p.bootstrap_admin()) return absl::OkStatus();
  if (p.team() != absl::StrCat("teams/", team_id)) return TeamNotFound(team_id);
  if (!RoleAllows(p.role(), perm)) {
    switch (perm) {
      case Perm::kDeleteTeam:
        return Denied("Only an owner can delete the team.");
      case Perm::kOwnKeys:
        return Denied("A viewer cannot create, list or revoke API keys.");
      case Perm::kReadAudit:
        return Denied("Only owners and admins can read the audit log.");
      case Perm::kAllKeys:
        return Denied("Only owners and admins can manage other members' keys.");
      default:
        return Denied("Only owners and admins can change the team and its members.");
    }
  }
  return absl::OkStatus();
}

std::string Actor(const Principal& p) {
  return p.bootstrap_admin() ? "bootstrap-admin" : p.member();
}

AuditContext Audit(const Principal& p, const rpc::CallContext& ctx) {
  return {Actor(p), p.bootstrap_admin() ? "bootstrap" : p.key_id(), ctx.request_id};
}

// A key acts as its member, so issuing one for someone is acting as them: allowed for oneself, for
// a member whose role is strictly below one's own, and for the platform admin (docs/teams.md).
absl::Status MayIssueKeyFor(const Principal& p, const v1::Member& holder) {
  if (p.bootstrap_admin() || holder.user_id() == p.member()) return absl::OkStatus();
  if (RoleAllows(p.role(), Perm::kAllKeys) && Rank(holder.role()) < Rank(p.role()))
    return absl::OkStatus();
  return Denied(
      "A key acts as its member: owners and admins can issue keys only for members whose role is "
      "below their own.");
}

// Revoking takes power away: one's own keys, those of members ranked below, and every key of the
// team for an owner (a compromised co-owner's key included).
absl::Status MayRevokeKeyOf(const Principal& p, const v1::ApiKey& key, Role holder) {
  if (p.bootstrap_admin() || key.member() == p.member()) return absl::OkStatus();
  if (!RoleAllows(p.role(), Perm::kAllKeys))
    return Denied("A member can revoke their own keys only.");
  if (p.role() == common::v1::ROLE_OWNER || Rank(holder) < Rank(p.role())) return absl::OkStatus();
  return Denied("An admin can revoke only their own keys and those of members below admin.");
}

// "teams/{id}" -> id; INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> TeamIdOf(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "teams/") || name.empty() || absl::StrContains(name, '/')) {
    return Invalid("name", "Not a team name (expected teams/{team_id}).");
  }
  // Ids are made of these (CreateTeam): anything else names no team, and never reaches the
  // database.
  if (name.size() > 64 || !absl::c_all_of(name, [](char c) {
        return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      })) {
    return status::Error(absl::StatusCode::kNotFound, "TEAM_NOT_FOUND", "No such team.");
  }
  return std::string(name);
}

// "teams/{team}/{collection}/{id}" -> {team, id}.
absl::StatusOr<std::pair<std::string, std::string>> ChildOf(absl::string_view name,
                                                            absl::string_view collection) {
  absl::string_view rest = name;
  if (absl::ConsumePrefix(&rest, "teams/")) {
    const size_t slash = rest.find('/');
    if (slash != absl::string_view::npos && slash > 0) {
      absl::string_view team = rest.substr(0, slash);
      absl::string_view tail = rest.substr(slash + 1);
      if (absl::ConsumePrefix(&tail, collection) && absl::ConsumePrefix(&tail, "/") &&
          !tail.empty() && !absl::StrContains(tail, '/')) {
        return std::make_pair(std::string(team), std::string(tail));
      }
    }
  }
  return Invalid("name", absl::StrCat("Not a ", collection, " name: '", name, "'."));
}

absl::StatusOr<int> PageSize(int32_t requested) {
  if (requested < 0 || requested > kMaxPageSize) {
    return Invalid("limit", absl::StrCat("limit must be between 1 and ", kMaxPageSize, "."));
  }
  return requested == 0 ? kDefaultPageSize : requested;
}

bool HasControl(absl::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

absl::Status CheckDisplayName(absl::string_view name) {
  if (absl::StripAsciiWhitespace(name).empty()) return Invalid("name", "The team needs a name.");
  if (name.size() > 200) return Invalid("name", "A team name has at most 200 characters.");
  if (HasControl(name)) return Invalid("name", "A team name cannot contain control characters.");
  return absl::OkStatus();
}

// Validates and normalizes (model list without duplicates) the settings in place.
// Money enters as dollars (the input form, `dollars`) and is an integer from here on: the budget
// in nano-dollars, from `dollars` when set, else `nanos` as given.
absl::StatusOr<int64_t> CheckBudget(double dollars, int64_t nanos, absl::string_view param) {
  constexpr absl::string_view kRange =
      "monthly_budget is an amount in US dollars, from 0 (no budget) to 1e9.";
  if (dollars != 0) {
    absl::StatusOr<money::Usd> budget = money::Usd::FromDollars(dollars);
    if (!budget.ok()) return Invalid(param, kRange);
    nanos = budget->nanos();
  }
  if (nanos < 0 || nanos > static_cast<int64_t>(money::kMaxDollars) * money::kNanosPerDollar) {
    return Invalid(param, kRange);
  }
  return nanos;
}

absl::Status CheckRates(const common::v1::RateLimits& r, absl::string_view prefix) {
  for (const auto& [name, value] :
       {std::pair<absl::string_view, int64_t>{"requests_per_minute", r.requests_per_minute()},
        {"requests_per_day", r.requests_per_day()},
        {"tokens_per_minute", r.tokens_per_minute()},
        {"max_parallel_requests", r.max_parallel_requests()}}) {
    if (value < 0) return Invalid(absl::StrCat(prefix, name), "Must be 0 or more.");
  }
  return absl::OkStatus();
}

// The update mask paths of rate limits under `prefix` ("settings.rate_limits"), and how each
// copies its field.
using RatePath =
    std::pair<std::string, void (*)(const common::v1::RateLimits&, common::v1::RateLimits&)>;
std::vector<RatePath> RatePaths(absl::string_view prefix) {
  using R = common::v1::RateLimits;
  return {
      {absl::StrCat(prefix, ".requests_per_minute"),
       [](const R& from, R& to) { to.set_requests_per_minute(from.requests_per_minute()); }},
      {absl::StrCat(prefix, ".requests_per_day"),
       [](const R& from, R& to) { to.set_requests_per_day(from.requests_per_day()); }},
      {absl::StrCat(prefix, ".tokens_per_minute"),
       [](const R& from, R& to) { to.set_tokens_per_minute(from.tokens_per_minute()); }},
      {absl::StrCat(prefix, ".max_parallel_requests"),
       [](const R& from, R& to) { to.set_max_parallel_requests(from.max_parallel_requests()); }},
  };
}

// Applies the rate-limit paths of `mask` under `prefix` from `from` to `to`; true if `path` was
// one of them.
bool ApplyRatePath(const std::string& path, absl::string_view prefix,
                   const common::v1::RateLimits& from, common::v1::RateLimits& to) {
  if (path == prefix) {
    to = from;
    return true;
  }
  for (const RatePath& r : RatePaths(prefix)) {
    if (path == r.first) {
      r.second(from, to);
      return true;
    }
  }
  return false;
}

// Budget alerts: up to ten distinct percentages from 1 to 1000 (sorted here); a webhook URL of
// http(s), without credentials, spaces or control characters.
absl::Status CheckAlerts(common::v1::TeamSettings& s) {
  std::vector<int32_t> percents(s.budget_alert_percents().begin(), s.budget_alert_percents().end());
  absl::c_sort(percents);
  percents.erase(std::unique(percents.begin(), percents.end()), percents.end());
  if (percents.size() > 10 || (!percents.empty() && (percents[0] < 1 || percents.back() > 1000))) {
    return Invalid("settings.budget_alerts",
                   "budget_alerts holds up to ten percentages of the budget, from 1 to 1000.");
  }
  s.mutable_budget_alert_percents()->Assign(percents.begin(), percents.end());
  const std::string& url = s.alert_webhook_url();
  if (url.empty()) return absl::OkStatus();
  const absl::string_view rest =
      absl::StartsWith(url, "https://")  ? absl::string_view(url).substr(8)
      : absl::StartsWith(url, "http://") ? absl::string_view(url).substr(7)
                                         : absl::string_view();
  const absl::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (url.size() > 2048 || host.empty() || absl::StrContains(host, '@') ||
      absl::c_any_of(url, [](char c) {
        return static_cast<unsigned char>(c) <= ' ' || c == 0x7f || c == '"' || c == '\\';
      })) {
    return Invalid("settings.alert_webhook_url",
                   "alert_webhook_url is an http:// or https:// URL of at most 2048 characters, "
                   "with a host, without credentials or spaces.");
  }
  return absl::OkStatus();
}

absl::Status CheckSettings(common::v1::TeamSettings& s) {
  absl::flat_hash_set<std::string> seen;
  google::protobuf::RepeatedPtrField<std::string> models;
  for (const std::string& m : s.model_access()) {
    if (m.empty() || m.size() > 256 || HasControl(m)) {
      return Invalid("settings.model_access",
                     "Each entry of model_access is a model name of 1 to 256 characters.");
    }
    if (seen.insert(m).second) models.Add(std::string(m));
  }
  s.mutable_model_access()->Swap(&models);
  AIM_ASSIGN_OR_RETURN(
      const int64_t budget,
      CheckBudget(s.monthly_budget(), s.monthly_budget_nano_usd(), "settings.monthly_budget"));
  s.set_monthly_budget_nano_usd(budget);
  s.clear_monthly_budget();
  AIM_RETURN_IF_ERROR(CheckRates(s.rate_limits(), "settings.rate_limits."));
  AIM_RETURN_IF_ERROR(CheckAlerts(s));
  if (s.cost_center().size() > 128 || HasControl(s.cost_center())) {
    return Invalid("settings.cost_center",
                   "cost_center has at most 128 characters and no control characters.");
  }
  return absl::OkStatus();
}

// A key's own limits: the budget's input form converted (and cleared), the counts checked.
absl::Status CheckKeyLimits(v1::ApiKey& key) {
  common::v1::KeyLimits& l = *key.mutable_limits();
  AIM_ASSIGN_OR_RETURN(
      const int64_t budget,
      CheckBudget(key.monthly_budget(), l.monthly_budget_nano_usd(), "monthly_budget"));
  l.set_monthly_budget_nano_usd(budget);
  key.clear_monthly_budget();
  AIM_RETURN_IF_ERROR(CheckRates(l.rate_limits(), "rate_limits."));
  if (l.ByteSizeLong() == 0) key.clear_limits();
  return absl::OkStatus();
}

absl::Status CheckUserId(absl::string_view id) {
  if (id.empty() || id.size() > 320)
    return Invalid("user_id", "user_id is required (1 to 320 characters).");
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && !absl::StrContains("._@+-:", c)) {
      return Invalid("user_id", "user_id may contain letters, digits and . _ @ + - : only.");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRole(Role r) {
  if (r == common::v1::ROLE_UNSPECIFIED || !common::v1::Role_IsValid(r)) {
    return Invalid("role", "role is one of owner, admin, member, viewer.");
  }
  return absl::OkStatus();
}

std::string RandomBase62(int bytes) {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::vector<unsigned char> n(bytes);
  if (RAND_bytes(n.data(), bytes) != 1) std::abort();  // No randomness: no keys.
  // Repeated division of the big-endian number by 62.
  std::string out;
  bool nonzero = true;
  while (nonzero) {
    nonzero = false;
    int rem = 0;
    for (unsigned char& b : n) {
      const int cur = rem * 256 + b;
      b = static_cast<unsigned char>(cur / 62);
      rem = cur % 62;
      nonzero = nonzero || b != 0;
    }
    out.push_back(kAlphabet[rem]);
  }
  return out;
}

// A new secret for signing the team's webhooks.
std::string NewWebhookSecret() { return absl::StrCat("whsec_", RandomBase62(32)); }

std::string Sha256Hex(absl::string_view s) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

}  // namespace

TeamManagement::TeamManagement(std::unique_ptr<TeamRepository> store,
                               std::string bootstrap_admin_key, time::Clock& clock)
    : store_(std::move(store)),
      bootstrap_admin_key_(std::move(bootstrap_admin_key)),
      clock_(clock) {}

absl::StatusOr<TeamRepository*> TeamManagement::Store() {
  if (!store_) return absl::UnavailableError("team-management has no database in this process");
  return store_.get();
}

absl::StatusOr<Principal> TeamManagement::Caller(const rpc::CallContext& ctx) {
  v1::AuthenticateRequest req;
  req.set_api_key(ctx.ApiKey());
  AIM_ASSIGN_OR_RETURN(v1::AuthenticateResponse resp, Authenticate(ctx, req));
  return std::move(*resp.mutable_principal());
}

absl::StatusOr<v1::Team> TeamManagement::CreateTeam(const rpc::CallContext& ctx,
                                                    const v1::CreateTeamRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  if (!p.bootstrap_admin())
    return Denied("Only the platform admin (the bootstrap key) creates teams.");
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  v1::Team team = req.team();
  AIM_RETURN_IF_ERROR(CheckDisplayName(team.display_name()));
  AIM_RETURN_IF_ERROR(CheckSettings(*team.mutable_settings()));
  std::string id = req.team_id();
  if (id.empty()) {
    id = absl::StrCat("team_", RandomBase62(12));
  } else if (id.size() > 64 || !absl::c_all_of(id, [](char c) {
               return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
             })) {
    return Invalid("id", "A team id has 1 to 64 letters, digits, '-' or '_'.");
  }
  team.set_name(absl::StrCat("teams/", id));
  team.clear_has_webhook_secret();
  team.clear_webhook_secret();
  // A webhook gets its signing secret with it, shown once in this answer.
  if (!team.settings().alert_webhook_url().empty()) team.set_webhook_secret(NewWebhookSecret());
  return store->CreateTeam(team, Audit(p, ctx));
}

absl::StatusOr<v1::Team> TeamManagement::GetTeam(const rpc::CallContext& ctx,
                                                 const v1::GetTeamRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(std::string team_id, TeamIdOf(req.name()));
  AIM_RETURN_IF_ERROR(Authorize(p, team_id, Perm::kReadTeam));
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  return store->GetTeam(team_id);
}

absl::StatusOr<v1::ListTeamsResponse> TeamManagement::ListTeams(const rpc::CallContext& ctx,
                                                                const v1::ListTeamsRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(int limit, PageSize(req.page_size()));
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  const std::string only =
      p.bootstrap_admin() ? "" : std::string(absl::StripPrefix(p.team(), "teams/"));
  AIM_ASSIGN_OR_RETURN(Page<v1::Team> page, store->ListTeams(req.page_token(), limit, only));
  v1::ListTeamsResponse resp;
  for (v1::Team& t : page.items) *resp.add_teams() = std::move(t);
  if (page.has_more)
    resp.set_next_page_token(
        std::string(absl::StripPrefix(resp.teams().rbegin()->name(), "teams/")));
  return resp;
}

absl::StatusOr<v1::Team> TeamManagement::UpdateTeam(const rpc::CallContext& ctx,
                                                    const v1::UpdateTeamRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(std::string team_id, TeamIdOf(req.team().name()));
  AIM_RETURN_IF_ERROR(Authorize(p, team_id, Perm::kUpdateTeam));
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  // Check the new values before touching the row.
  v1::Team change = req.team();
  for (const std::string& path : req.update_mask().paths()) {
    if (path == "display_name") {
      AIM_RETURN_IF_ERROR(CheckDisplayName(change.display_name()));
    } else if (path != "settings" && path != "settings.model_access" &&
               path != "settings.monthly_budget" && path != "settings.cost_center" &&
               path != "settings.budget_alert_percents" && path != "settings.alert_webhook_url" &&
               path != "webhook_secret") {
      common::v1::RateLimits scratch;
      if (!ApplyRatePath(path, "settings.rate_limits", scratch, scratch)) {
        return Invalid(path, absl::StrCat("'", path, "' cannot be changed."));
      }
    }
  }
  AIM_RETURN_IF_ERROR(CheckSettings(*change.mutable_settings()));
  auto mutate = [&](v1::Team& t) -> absl::Status {
    common::v1::TeamSettings& s = *t.mutable_settings();
    const common::v1::TeamSettings& n = change.settings();
    for (const std::string& path : req.update_mask().paths()) {
      if (path == "display_name") t.set_display_name(change.display_name());
      if (path == "settings") s = n;
      if (path == "settings.model_access") *s.mutable_model_access() = n.model_access();
      if (path == "settings.monthly_budget") {
        s.set_monthly_budget_nano_usd(n.monthly_budget_nano_usd());
      }
      ApplyRatePath(path, "settings.rate_limits", n.rate_limits(), *s.mutable_rate_limits());
      if (path == "settings.cost_center") s.set_cost_center(n.cost_center());
      if (path == "settings.budget_alert_percents") {
        *s.mutable_budget_alert_percents() = n.budget_alert_percents();
      }
      if (path == "settings.alert_webhook_url") s.set_alert_webhook_url(n.alert_webhook_url());
    }
    // A new secret when asked ("webhook_secret"), or for a team's first webhook: shown once.
    t.clear_webhook_secret();
    if (absl::c_linear_search(req.update_mask().paths(), "webhook_secret") ||
        (!s.alert_webhook_url().empty() && !t.has_webhook_secret())) {
      t.set_webhook_secret(NewWebhookSecret());
    }
    return absl::OkStatus();
  };
  return store->UpdateTeam(team_id, mutate, Audit(p, ctx));
}

absl::StatusOr<v1::DeleteTeamResponse> TeamManagement::DeleteTeam(
    const rpc::CallContext& ctx, const v1::DeleteTeamRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(std::string team_id, TeamIdOf(req.name()));
  AIM_RETURN_IF_ERROR(Authorize(p, team_id, Perm::kDeleteTeam));
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  AIM_RETURN_IF_ERROR(store->DeleteTeam(team_id, Audit(p, ctx)));
  return v1::DeleteTeamResponse();
}

absl::StatusOr<v1::Member> TeamManagement::CreateMember(const rpc::CallContext& ctx,
                                                        const v1::CreateMemberRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(std::string team_id, TeamIdOf(req.parent()));
  AIM_RETURN_IF_ERROR(Authorize(p, team_id, Perm::kManageMembers));
  AIM_RETURN_IF_ERROR(CheckUserId(req.member().user_id()));
  AIM_RETURN_IF_ERROR(CheckRole(req.member().role()));
  if (req.member().role() == common::v1::ROLE_OWNER && !p.bootstrap_admin() &&
      p.role() != common::v1::ROLE_OWNER) {
    return Denied("Only an owner can add an owner.");
  }
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  return store->CreateMember(team_id, req.member(), Audit(p, ctx));
}

absl::StatusOr<v1::ListMembersResponse> TeamManagement::ListMembers(
    const rpc::CallContext& ctx, const v1::ListMembersRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(std::string team_id, TeamIdOf(req.parent()));
  AIM_RETURN_IF_ERROR(Authorize(p, team_id, Perm::kReadTeam));
  AIM_ASSIGN_OR_RETURN(int limit, PageSize(req.page_size()));
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  if (p.bootstrap_admin()) AIM_RETURN_IF_ERROR(store->GetTeam(team_id).status());
  AIM_ASSIGN_OR_RETURN(Page<v1::Member> page, store->ListMembers(team_id, req.page_token(), limit));
  v1::ListMembersResponse resp;
  for (v1::Member& m : page.items) *resp.add_members() = std::move(m);
  if (page.has_more) resp.set_next_page_token(resp.members().rbegin()->user_id());
  return resp;
}

absl::StatusOr<v1::Member> TeamManagement::UpdateMember(const rpc::CallContext& ctx,
                                                        const v1::UpdateMemberRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(auto ids, ChildOf(req.member().name(), "members"));
  const auto& [team_id, user_id] = ids;
  AIM_RETURN_IF_ERROR(Authorize(p, team_id, Perm::kManageMembers));
  for (const std::string& path : req.update_mask().paths()) {
    if (path != "role")
      return Invalid(path, absl::StrCat("'", path, "' cannot be changed; only role can."));
  }
  const Role role = req.member().role();
  AIM_RETURN_IF_ERROR(CheckRole(role));
  const bool owner_powers = p.bootstrap_admin() || p.role() == common::v1::ROLE_OWNER;
  if (role == common::v1::ROLE_OWNER && !owner_powers)
    return Denied("Only an owner can make someone an owner.");
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  return store->UpdateMember(
      team_id, user_id, role,
      [&](const v1::Member& before) -> absl::Status {
        if (before.role() == common::v1::ROLE_OWNER && !owner_powers)
          return Denied("Only an owner can change an owner.");
        return absl::OkStatus();
      },
      Audit(p, ctx));
}

absl::StatusOr<v1::DeleteMemberResponse> TeamManagement::DeleteMember(
    const rpc::CallContext& ctx, const v1::DeleteMemberRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(auto ids, ChildOf(req.name(), "members"));
  const auto& [team_id, user_id] = ids;
  AIM_RETURN_IF_ERROR(Authorize(p, team_id, Perm::kManageMembers));
  const bool owner_powers = p.bootstrap_admin() || p.role() == common::v1::ROLE_OWNER;
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  AIM_RETURN_IF_ERROR(store->DeleteMember(
      team_id, user_id,
      [&](const v1::Member& before) -> absl::Status {
        if (before.role() == common::v1::ROLE_OWNER && !owner_powers)
          return Denied("Only an owner can remove an owner.");
        return absl::OkStatus();
      },
      Audit(p, ctx)));
  return v1::DeleteMemberResponse();
}

absl::StatusOr<v1::ApiKey> TeamManagement::CreateApiKey(const rpc::CallContext& ctx,
                                                        const v1::CreateApiKeyRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(std::string team_id, TeamIdOf(req.parent()));
  AIM_RETURN_IF_ERROR(Authorize(p, team_id, Perm::kOwnKeys));
  v1::ApiKey key = req.api_key();
  if (key.member().empty()) {
    if (p.bootstrap_admin())
      return Invalid("user_id", "Name the member the key acts as (user_id).");
    key.set_member(p.member());
  }
  AIM_RETURN_IF_ERROR(CheckUserId(key.member()));
  if (!p.bootstrap_admin() && key.member() != p.member() && !RoleAllows(p.role(), Perm::kAllKeys)) {
    return Denied("A member can create keys for themselves only.");
  }
  if (key.display_name().size() > 200 || HasControl(key.display_name())) {
    return Invalid("name", "A key name has at most 200 characters and no control characters.");
  }
  AIM_RETURN_IF_ERROR(CheckKeyLimits(key));
  if ((key.has_limits() && key.limits().ByteSizeLong() > 0) && !p.bootstrap_admin() &&
      !RoleAllows(p.role(), Perm::kAllKeys)) {
    return Denied("Only owners and admins can set a key's limits.");
  }
  if (key.has_expire_time() && google::protobuf::util::TimeUtil::TimestampToMicroseconds(
                                   key.expire_time()) <= absl::ToUnixMicros(clock_.Now())) {
    return Invalid("expires_at", "expires_at must be in the future.");
  }
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  const std::string secret = absl::StrCat(kKeyPrefix, RandomBase62(32));
  key.set_name(absl::StrCat("teams/", team_id, "/apiKeys/key_", RandomBase62(12)));
  key.set_prefix(secret.substr(0, kKeyPrefix.size() + 6));
  key.clear_key();
  key.clear_revoked();
  key.clear_last_use_time();
  key.clear_creator();
  key.clear_creator_key_id();
  AIM_ASSIGN_OR_RETURN(
      v1::ApiKey created,
      store->CreateApiKey(
          team_id, key, Sha256Hex(secret),
          [&](const v1::Member& holder) { return MayIssueKeyFor(p, holder); }, Audit(p, ctx)));
  created.set_key(secret);  // Shown once, in this response only.
  return created;
}

absl::StatusOr<v1::ListApiKeysResponse> TeamManagement::ListApiKeys(
    const rpc::CallContext& ctx, const v1::ListApiKeysRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(std::string team_id, TeamIdOf(req.parent()));
  AIM_RETURN_IF_ERROR(Authorize(p, team_id, Perm::kOwnKeys));
  AIM_ASSIGN_OR_RETURN(int limit, PageSize(req.page_size()));
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  if (p.bootstrap_admin()) AIM_RETURN_IF_ERROR(store->GetTeam(team_id).status());
  const std::string only =
      p.bootstrap_admin() || RoleAllows(p.role(), Perm::kAllKeys) ? "" : p.member();
  AIM_ASSIGN_OR_RETURN(Page<v1::ApiKey> page,
                       store->ListApiKeys(team_id, only, req.page_token(), limit));
  v1::ListApiKeysResponse resp;
  for (v1::ApiKey& k : page.items) *resp.add_api_keys() = std::move(k);
  if (page.has_more) {
    const std::string& last = resp.api_keys().rbegin()->name();
    resp.set_next_page_token(last.substr(last.rfind('/') + 1));
  }
  return resp;
}

absl::StatusOr<v1::ApiKey> TeamManagement::UpdateApiKey(const rpc::CallContext& ctx,
                                                        const v1::UpdateApiKeyRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(auto ids, ChildOf(req.api_key().name(), "apiKeys"));
  const auto& [team_id, key_id] = ids;
  AIM_RETURN_IF_ERROR(Authorize(p, team_id, Perm::kOwnKeys));
  if (!p.bootstrap_admin() && !RoleAllows(p.role(), Perm::kAllKeys)) {
    return Denied("Only owners and admins can change API keys.");
  }
  v1::ApiKey change = req.api_key();
  for (const std::string& path : req.update_mask().paths()) {
    common::v1::RateLimits scratch;
    if (path == "display_name") {
      if (change.display_name().size() > 200 || HasControl(change.display_name())) {
        return Invalid("name", "A key name has at most 200 characters and no control characters.");
      }
    } else if (path != "limits" && path != "limits.monthly_budget" &&
               !ApplyRatePath(path, "limits.rate_limits", scratch, scratch)) {
      return Invalid(path, absl::StrCat("'", path, "' cannot be changed."));
    }
  }
  AIM_RETURN_IF_ERROR(CheckKeyLimits(change));
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  auto mutate = [&](v1::ApiKey& k) -> absl::Status {
    common::v1::KeyLimits& l = *k.mutable_limits();
    const common::v1::KeyLimits& n = change.limits();
    for (const std::string& path : req.update_mask().paths()) {
      if (path == "display_name") k.set_display_name(change.display_name());
      if (path == "limits") l = n;
      if (path == "limits.monthly_budget") {
        l.set_monthly_budget_nano_usd(n.monthly_budget_nano_usd());
      }
      ApplyRatePath(path, "limits.rate_limits", n.rate_limits(), *l.mutable_rate_limits());
    }
    return absl::OkStatus();
  };
  return store->UpdateApiKey(team_id, key_id, mutate, Audit(p, ctx));
}

absl::StatusOr<v1::DeleteApiKeyResponse> TeamManagement::DeleteApiKey(
    const rpc::CallContext& ctx, const v1::DeleteApiKeyRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(auto ids, ChildOf(req.name(), "apiKeys"));
  const auto& [team_id, key_id] = ids;
  AIM_RETURN_IF_ERROR(Authorize(p, team_id, Perm::kOwnKeys));
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  AIM_RETURN_IF_ERROR(store->RevokeApiKey(
      team_id, key_id,
      [&](const v1::ApiKey& before, Role holder) { return MayRevokeKeyOf(p, before, holder); },
      Audit(p, ctx)));
  return v1::DeleteApiKeyResponse();
}

absl::StatusOr<v1::ListAuditEntriesResponse> TeamManagement::ListAuditEntries(
    const rpc::CallContext& ctx, const v1::ListAuditEntriesRequest& req) {
  AIM_ASSIGN_OR_RETURN(Principal p, Caller(ctx));
  AIM_ASSIGN_OR_RETURN(std::string team_id, TeamIdOf(req.parent()));
  AIM_RETURN_IF_ERROR(Authorize(p, team_id, Perm::kReadAudit));
  AIM_ASSIGN_OR_RETURN(int limit, PageSize(req.page_size()));
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  AIM_RETURN_IF_ERROR(store->GetTeam(team_id).status());
  AIM_ASSIGN_OR_RETURN(Page<v1::AuditEntry> page,
                       store->ListAudit(team_id, req.page_token(), limit));
  v1::ListAuditEntriesResponse resp;
  for (v1::AuditEntry& e : page.items) *resp.add_entries() = std::move(e);
  if (page.has_more) resp.set_next_page_token(resp.entries().rbegin()->name());
  return resp;
}

std::optional<Principal> TeamManagement::AuthenticateAtOnce(const std::string& api_key) {
  if (!rpc::SecretEquals(api_key, bootstrap_admin_key_)) return std::nullopt;
  Principal p;
  p.set_bootstrap_admin(true);
  p.set_role(common::v1::ROLE_OWNER);
  p.set_member("bootstrap-admin");
  p.set_key_id("bootstrap");
  return p;
}

absl::StatusOr<v1::AuthenticateResponse> TeamManagement::Authenticate(
    const rpc::CallContext&, const v1::AuthenticateRequest& req) {
  if (req.api_key().empty()) {
    return status::Error(
        absl::StatusCode::kUnauthenticated, status::reason::kMissingApiKey,
        "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.");
  }
  const absl::Status invalid =
      status::Error(absl::StatusCode::kUnauthenticated, status::reason::kInvalidApiKey,
                    "Incorrect API key provided.");
  v1::AuthenticateResponse resp;
  Principal& p = *resp.mutable_principal();
  if (std::optional<Principal> admin = AuthenticateAtOnce(req.api_key())) {
    p = *std::move(admin);
    return resp;
  }
  if (!absl::StartsWith(req.api_key(), kKeyPrefix) || req.api_key().size() > 128) return invalid;
  AIM_ASSIGN_OR_RETURN(TeamRepository * store, Store());
  absl::StatusOr<KeyRecord> key = store->FindKey(Sha256Hex(req.api_key()));
  if (absl::IsNotFound(key.status())) return invalid;
  if (!key.ok()) return key.status();
  // Revoked and expired keys are refused alike, and like unknown ones.
  if (key->revoked || (key->expire_time && *key->expire_time <= clock_.Now())) return invalid;
  p.set_team(absl::StrCat("teams/", key->team_id));
  p.set_key_id(key->key_id);
  p.set_member(key->user_id);
  p.set_role(key->role);
  *p.mutable_settings() = std::move(key->settings);
  if (key->key_limits.ByteSizeLong() > 0) *p.mutable_key_limits() = std::move(key->key_limits);
  p.set_version(key->version);
  if (key->expire_time) {
    *p.mutable_key_expire_time() = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
        absl::ToUnixMicros(*key->expire_time));
  }
  return resp;
}

}  // namespace aimarket::team
