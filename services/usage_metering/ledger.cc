#include "services/usage_metering/ledger.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>

#include "absl/algorithm/container.h"
#include "absl/hash/hash.h"
#include "common/time/proto_time.h"

namespace aimarket::usage {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int kMinuteSlices = 60;  // 1 s each.
constexpr int kDaySlices = 288;    // 5 min each.

absl::CivilMonth MonthOf(absl::Time t) { return absl::ToCivilMonth(t, absl::UTCTimeZone()); }

google::protobuf::Duration ToDuration(absl::Duration d) {
  return TimeUtil::NanosecondsToDuration(absl::ToInt64Nanoseconds(d));
}

// The tokens a settlement actually used.
int64_t TokensOf(const v1::Settlement& s) {
  return s.usage().prompt_tokens() + s.usage().completion_tokens();
}

}  // namespace

absl::string_view LimitName(Limit limit) {
  switch (limit) {
    case Limit::kNone:
      return "none";
    case Limit::kMonthlyBudget:
      return "monthly_budget";
    case Limit::kParallelRequests:
      return "max_parallel_requests";
    case Limit::kRequestsPerMinute:
      return "requests_per_minute";
    case Limit::kRequestsPerDay:
      return "requests_per_day";
    case Limit::kTokensPerMinute:
      return "tokens_per_minute";
  }
  return "none";
}

Ledger::Ledger(time::Clock& clock, LedgerOptions options) : clock_(clock), options_(options) {}

Ledger::Shard& Ledger::ShardOf(absl::string_view team) {
  return shards_[absl::Hash<absl::string_view>()(team) % kShards];
}

// The rate windows of `a` whose limit is set (every one when `all`): counting starts when a limit
// does.
void Ledger::Windows(Account& a, bool all) {
  auto make = [all](std::unique_ptr<RateWindow>& w, int64_t limit, absl::Duration length,
                    int slices) {
    if (!w && (limit > 0 || all)) w = std::make_unique<RateWindow>(length, slices);
  };
  make(a.per_minute, a.limits.requests_per_minute, absl::Minutes(1), kMinuteSlices);
  make(a.per_day, a.limits.requests_per_day, absl::Hours(24), kDaySlices);
  make(a.tokens, a.limits.tokens_per_minute, absl::Minutes(1), kMinuteSlices);
}

void Ledger::Roll(Account& a, absl::CivilMonth m) {
  if (m <= a.month) return;
  a.month = m;
  a.spent = 0;
  a.reserved = 0;
}

void Ledger::Reserve(Team& t, const Reservation& r, int64_t delta) {
  if (t.account.month == r.month) t.account.reserved += delta;
  if (r.key_id.empty()) return;
  if (auto it = t.keys.find(r.key_id); it != t.keys.end() && it->second.month == r.month) {
    it->second.reserved += delta;
  }
}

void Ledger::Count(Account& a, absl::Time at, int64_t tokens) {
  if (a.per_minute) a.per_minute->Add(at, 1);
  if (a.per_day) a.per_day->Add(at, 1);
  if (a.tokens) a.tokens->Add(at, tokens);
  ++a.in_flight;
}

bool Ledger::Fits(Account& a, const Ask& ask, absl::Time now, Decision& d) const {
  const int64_t budget = a.limits.monthly_budget_nanos;
  if (budget > 0) {
    const int64_t available = budget - a.spent - a.reserved;
    if (ask.reserve_nanos > available) {
      d.refused = Limit::kMonthlyBudget;
      d.budget_nanos = budget;
      d.remaining_nanos = std::max<int64_t>(available, 0);
      d.requested = ask.reserve_nanos;
      return false;
    }
  }
  const Limits& rates = a.limits;
  if (rates.max_parallel_requests > 0 && a.in_flight + 1 > rates.max_parallel_requests) {
    d.refused = Limit::kParallelRequests;
    d.limit = rates.max_parallel_requests;
    d.used = a.in_flight;
    d.requested = 1;
    d.retry_after = absl::Seconds(1);  // Unknowable: when one in flight ends.
    return false;
  }
  auto check = [&](RateWindow* w, int64_t limit, int64_t n, Limit which) {
    if (limit <= 0 || w == nullptr) return true;
    const int64_t used = w->Count(now);
    if (used + n <= limit) return true;
    d.refused = which;
    d.limit = limit;
    d.used = used;
    d.requested = n;
    d.retry_after = w->UntilFits(now, n, limit);
    return false;
  };
  return check(a.per_minute.get(), rates.requests_per_minute, 1, Limit::kRequestsPerMinute) &&
         check(a.per_day.get(), rates.requests_per_day, 1, Limit::kRequestsPerDay) &&
         check(a.tokens.get(), rates.tokens_per_minute, ask.tokens, Limit::kTokensPerMinute);
}

namespace {

// The strictest of the accounts' windows: the one with the fewest left.
struct Strictest {
  int64_t limit = 0;
  int64_t remaining = 0;
  absl::Duration reset;
  void Consider(RateWindow* w, int64_t limit_of, absl::Time now) {
    if (limit_of <= 0 || w == nullptr) return;
    const int64_t left = std::max<int64_t>(limit_of - w->Count(now), 0);
    if (limit == 0 || left < remaining || (left == remaining && limit_of < limit)) {
      limit = limit_of;
      remaining = left;
      reset = w->UntilEmpty(now);
    }
  }
};

}  // namespace

Ledger::Decision Ledger::Admit(Ask ask) {
  const absl::Time now = clock_.Now();
  Decision d;
  Shard& shard = ShardOf(ask.team);
  absl::MutexLock lock(&shard.mu);
  Team& team = shard.teams[ask.team];
  Account* key = ask.key_id.empty() ? nullptr : &team.keys[ask.key_id];
  std::vector<Account*> accounts = {&team.account};
  if (key) accounts.push_back(key);
  team.account.limits = ask.team_limits;
  if (key) key->limits = ask.key_limits;
  if (team.alert_percents != ask.alert_percents)
    team.alert_percents = std::move(ask.alert_percents);

  // A request counts against the latest month any of its accounts has seen.
  absl::CivilMonth month = MonthOf(ask.start_time);
  for (Account* a : accounts) month = std::max(month, a->month);
  for (Account* a : accounts) {
    Roll(*a, month);
    Windows(*a, /*all=*/false);
  }

  auto status = [&] {
    Strictest requests, tokens;
    for (Account* a : accounts) {
      requests.Consider(a->per_minute.get(), a->limits.requests_per_minute, now);
      requests.Consider(a->per_day.get(), a->limits.requests_per_day, now);
      tokens.Consider(a->tokens.get(), a->limits.tokens_per_minute, now);
    }
    if (requests.limit > 0) {
      d.status.set_limit_requests(requests.limit);
      d.status.set_remaining_requests(requests.remaining);
      *d.status.mutable_reset_requests() = ToDuration(requests.reset);
    }
    if (tokens.limit > 0) {
      d.status.set_limit_tokens(tokens.limit);
      d.status.set_remaining_tokens(tokens.remaining);
      *d.status.mutable_reset_tokens() = ToDuration(tokens.reset);
    }
  };

  // The key's own limits first: they are the more specific.
  if (key && !Fits(*key, ask, now, d)) {
    d.by_key = true;
    status();
    return d;
  }
  if (!Fits(team.account, ask, now, d)) {
    status();
    return d;
  }
  if (!shard.reservations.contains(ask.reservation_id)) {  // Else an Admit sent twice.
    Reservation r;
    r.key_id = ask.key_id;
    r.amount = ask.reserve_nanos;
    r.tokens = ask.tokens;
    r.month = month;
    r.counted_at = now;
    r.start_time = ask.start_time;
    r.kind = std::move(ask.kind);
    r.model = std::move(ask.model);
    r.member = std::move(ask.member);
    r.cost_center = std::move(ask.cost_center);
    r.router = std::move(ask.router);
    for (Account* a : accounts) Count(*a, now, ask.tokens);
    Reserve(team, r, r.amount);
    shard.reservations.emplace(std::move(ask.reservation_id),
                               std::make_pair(std::move(ask.team), std::move(r)));
  }
  status();
  return d;
}

void Ledger::Heard(absl::string_view router) {
  if (router.empty()) return;
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&routers_mu_);
  routers_.insert_or_assign(router, now);
  // Routers restart with new ids: forget those silent for long.
  absl::erase_if(routers_, [&](const auto& r) {
    return now - r.second > std::max(options_.reservation_ttl * 10, absl::Hours(1));
  });
}

void Ledger::Hold(const v1::HeldReservation& held, absl::string_view router) {
  Heard(router);
  Shard& shard = ShardOf(held.team());
  absl::MutexLock lock(&shard.mu);
  if (shard.reservations.contains(held.reservation_id())) return;
  Team& team = shard.teams[held.team()];
  Account* key = held.key_id().empty() ? nullptr : &team.keys[held.key_id()];
  Reservation r;
  r.key_id = held.key_id();
  r.amount = held.reserve_nano_usd();
  r.tokens = held.tokens();
  r.start_time = time::FromProto(held.start_time());
  // Counted when it was admitted (the windows of the metering that admitted it are gone).
  r.counted_at = r.start_time;
  r.settling = held.ended();
  r.router = std::string(router);
  r.month = std::max(MonthOf(r.start_time), team.account.month);
  if (key) r.month = std::max(r.month, key->month);
  for (Account* a : {&team.account, key}) {
    if (a == nullptr) continue;
    Roll(*a, r.month);
    // Every window: the limits are not known until the next admission brings them.
    Windows(*a, /*all=*/true);
    Count(*a, r.counted_at, r.tokens);
    if (r.settling) --a->in_flight;
  }
  Reserve(team, r, r.amount);
  shard.reservations.emplace(held.reservation_id(), std::make_pair(held.team(), std::move(r)));
}

bool Ledger::Settling(const v1::Settlement& s) {
  Shard& shard = ShardOf(s.team());
  absl::MutexLock lock(&shard.mu);
  auto it = shard.reservations.find(s.reservation_id());
  if (it == shard.reservations.end() || it->second.second.settling) return false;
  Reservation& r = it->second.second;
  r.settling = true;
  Team& team = shard.teams[s.team()];
  Account* key = r.key_id.empty() ? nullptr : &team.keys[r.key_id];
  const int64_t tokens = TokensOf(s);
  for (Account* a : {&team.account, key}) {
    if (a == nullptr) continue;
    a->in_flight = std::max<int64_t>(a->in_flight - 1, 0);
    if (a->tokens && tokens != r.tokens) a->tokens->Add(r.counted_at, tokens - r.tokens);
  }
  r.tokens = tokens;
  const int64_t cost = s.usage().cost_nano_usd();
  const bool over = cost > r.amount;
  Reserve(team, r, cost - r.amount);
  r.amount = cost;
  return over;
}

void Ledger::Recorded(const v1::Settlement& s, bool inserted) {
  Shard& shard = ShardOf(s.team());
  absl::MutexLock lock(&shard.mu);
  Team& team = shard.teams[s.team()];
  if (inserted) {
    const absl::CivilMonth month = MonthOf(time::FromProto(s.start_time()));
    Account* key = s.key_id().empty() ? nullptr : &team.keys[s.key_id()];
    for (Account* a : {&team.account, key}) {
      if (a == nullptr) continue;
      Roll(*a, month);
      if (a->month == month) a->spent += s.usage().cost_nano_usd();
    }
  }
  auto it = shard.reservations.find(s.reservation_id());
  if (it == shard.reservations.end()) return;
  Reserve(team, it->second.second, -it->second.second.amount);
  shard.reservations.erase(it);
}

std::vector<v1::Settlement> Ledger::Expire() {
  const absl::Time now = clock_.Now();
  absl::flat_hash_map<std::string, absl::Time> routers;
  {
    absl::MutexLock lock(&routers_mu_);
    routers = routers_;
  }
  std::vector<v1::Settlement> expired;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    for (auto& [id, entry] : shard.reservations) {
      Reservation& r = entry.second;
      if (r.settling) continue;
      absl::Time heard = r.start_time;
      if (auto it = routers.find(r.router); it != routers.end())
        heard = std::max(heard, it->second);
      if (now - heard < options_.reservation_ttl) continue;
      r.settling = true;
      Team& team = shard.teams[entry.first];
      Account* key = r.key_id.empty() ? nullptr : &team.keys[r.key_id];
      for (Account* a : {&team.account, key}) {
        if (a != nullptr) a->in_flight = std::max<int64_t>(a->in_flight - 1, 0);
      }
      v1::Settlement& s = expired.emplace_back();
      s.set_request_id(id);
      s.set_reservation_id(id);
      s.set_team(entry.first);
      s.set_key_id(r.key_id);
      s.set_member(r.member);
      s.set_cost_center(r.cost_center);
      s.set_model(r.model);
      s.set_kind(r.kind.empty() ? "chat" : r.kind);
      *s.mutable_start_time() = time::ToProto(r.start_time);
      s.set_outcome("unsettled");
      s.set_deployment(-1);
      s.mutable_usage()->set_cost_nano_usd(r.amount);
      s.set_reserved_nano_usd(r.amount);
    }
  }
  return expired;
}

std::vector<Ledger::Alert> Ledger::DueAlerts(std::array<int64_t, 4>* teams_past) {
  const absl::CivilMonth now = MonthOf(clock_.Now());
  if (teams_past) teams_past->fill(0);
  // spent / budget >= percent / 100, in integers that cannot overflow.
  auto reached = [](int64_t spent, int64_t budget, int32_t percent) {
    return static_cast<__int128>(spent) * 100 >= static_cast<__int128>(budget) * percent;
  };
  std::vector<Alert> due;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    for (auto& [name, team] : shard.teams) {
      const Account& a = team.account;
      const int64_t budget = a.limits.monthly_budget_nanos;
      if (budget <= 0 || a.month != now) continue;
      if (teams_past) {
        for (size_t i = 0; i < kAlertGauges.size(); ++i) {
          if (reached(a.spent, budget, kAlertGauges[i])) ++(*teams_past)[i];
        }
      }
      for (int32_t percent : team.alert_percents) {
        if (!reached(a.spent, budget, percent)) continue;
        if (team.fired_month == now && absl::c_linear_search(team.fired, percent)) continue;
        due.push_back(Alert{name, now, percent, a.spent, budget});
      }
    }
  }
  return due;
}

void Ledger::AlertFired(absl::string_view team_name, absl::CivilMonth month, int32_t percent) {
  Shard& shard = ShardOf(team_name);
  absl::MutexLock lock(&shard.mu);
  Team& team = shard.teams[team_name];
  if (month < team.fired_month) return;
  if (month > team.fired_month) {
    team.fired_month = month;
    team.fired.clear();
  }
  if (!absl::c_linear_search(team.fired, percent)) team.fired.push_back(percent);
}

void Ledger::AddHistory(absl::string_view team_name, absl::string_view key_id, absl::Time at,
                        int64_t requests, int64_t tokens, bool minute) {
  Shard& shard = ShardOf(team_name);
  absl::MutexLock lock(&shard.mu);
  Team& team = shard.teams[team_name];
  Account* key = key_id.empty() ? nullptr : &team.keys[key_id];
  for (Account* a : {&team.account, key}) {
    if (a == nullptr) continue;
    // The limits are not known until an admission brings them: every window counts.
    Windows(*a, /*all=*/true);
    if (minute) {
      a->per_minute->Add(at, requests);
      a->tokens->Add(at, tokens);
    } else {
      a->per_day->Add(at, requests);
    }
  }
}

void Ledger::AddSpend(absl::string_view team_name, absl::string_view key_id, absl::CivilMonth month,
                      int64_t nanos) {
  Shard& shard = ShardOf(team_name);
  absl::MutexLock lock(&shard.mu);
  Team& team = shard.teams[team_name];
  Account* key = key_id.empty() ? nullptr : &team.keys[key_id];
  for (Account* a : {&team.account, key}) {
    if (a == nullptr) continue;
    Roll(*a, month);
    if (a->month == month) a->spent += nanos;
  }
}

v1::GetBalanceResponse Ledger::Balance(absl::string_view team_name) {
  const absl::CivilMonth month = MonthOf(clock_.Now());
  v1::GetBalanceResponse resp;
  resp.set_month(absl::FormatCivilTime(month));
  auto fill = [month](const Account& a, v1::Balance& b) {
    b.set_monthly_budget_nano_usd(a.limits.monthly_budget_nanos);
    b.set_requests_in_flight(a.in_flight);
    if (a.month != month) return;  // Nothing yet this month.
    b.set_spent_nano_usd(a.spent);
    b.set_reserved_nano_usd(a.reserved);
    if (a.limits.monthly_budget_nanos > 0) {
      b.set_remaining_nano_usd(
          std::max<int64_t>(a.limits.monthly_budget_nanos - a.spent - a.reserved, 0));
    }
  };
  Shard& shard = ShardOf(team_name);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.teams.find(team_name);
  if (it == shard.teams.end()) return resp;
  fill(it->second.account, *resp.mutable_team());
  for (const auto& [key_id, account] : it->second.keys) {
    v1::Balance& b = *resp.add_keys();
    b.set_key_id(key_id);
    fill(account, b);
  }
  return resp;
}

int64_t Ledger::open_reservations() {
  int64_t open = 0;
  for (Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    open += static_cast<int64_t>(shard.reservations.size());
  }
  return open;
}

}  // namespace aimarket::usage
