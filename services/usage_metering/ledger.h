#pragma once

// usage-metering's counters, in memory, one owner per team: each team's and each of its keys'
// month (spend committed, reservations open), rate windows and requests in flight. Pure logic on
// a clock, no I/O; UsageMetering feeds it from Admit, Settle, Sync and the events it writes.
//
// The rule it keeps, for a team and for a key alike: at every admission,
//   spent this month + open reservations + this request's worst case <= monthly budget
// so spend passes a budget only when a request's actual cost exceeds its reservation (booked in
// full, and counted). A reservation is held from Admit until the request's event is recorded:
// when the settlement arrives its amount becomes the actual cost; once the event is committed
// the cost joins the spend (only if the event was new) and the reservation goes. A reservation
// with no settlement within its time is charged at its reserved amount as an "unsettled" event.
//
// Rate limits: requests per minute and per day, tokens per minute in RateWindows (sliding,
// conservative: never more than the limit in any window), and requests in flight. Tokens are the
// request's estimate at admission, corrected to the actual usage at settlement.
//
// Sharded by team: one mutex per shard, so teams do not contend. The API is in terms of one
// team's counters, so that a later issue can place teams on replicas and hand routers leases.

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "aimarket/common/v1/principal.pb.h"
#include "aimarket/usage/v1/metering_service.pb.h"
#include "common/time/clock.h"
#include "services/usage_metering/metering_api.h"
#include "services/usage_metering/rate_window.h"

namespace aimarket::usage {

struct LedgerOptions {
  // A reservation is charged at its reserved amount (an "unsettled" event) once its router has
  // not been heard from (Heard) for this long, counted from its start at the earliest: the router
  // died with it. A live router's reservations never expire, however long its streams run.
  absl::Duration reservation_ttl = absl::Minutes(2);
};

// Which of the ledger's checks refused a request; kNone when admitted.
enum class Limit {
  kNone,
  kMonthlyBudget,
  kParallelRequests,
  kRequestsPerMinute,
  kRequestsPerDay,
  kTokensPerMinute,
};
absl::string_view LimitName(Limit limit);  // "monthly_budget", "requests_per_minute", ...

class Ledger {
 public:
  explicit Ledger(time::Clock& clock, LedgerOptions options = {});

  // One request asking to start.
  struct Ask {
    std::string reservation_id;
    std::string team;  // "teams/{id}"; empty for the bootstrap admin.
    std::string key_id;
    Limits team_limits;
    Limits key_limits;
    int64_t reserve_nanos = 0;  // Worst-case cost.
    int64_t tokens = 0;         // Worst-case tokens.
    absl::Time start_time;      // The month it belongs to.
    std::string router;         // The router holding it.
    // For the event written if the reservation expires.
    std::string kind, model, member, cost_center;
    // The team's budget alerts (percentages of its budget), as its settings say now.
    std::vector<int32_t> alert_percents;
  };
  struct Decision {
    Limit refused = Limit::kNone;
    bool by_key = false;  // The key's own limit refused (else the team's).
    // Refused by a rate limit: when a retry can succeed (InfiniteDuration: never, the request is
    // larger than the limit).
    absl::Duration retry_after;
    // Refused by a budget: the budget, and what remains of it.
    int64_t budget_nanos = 0;
    int64_t remaining_nanos = 0;
    int64_t limit = 0;      // Refused by a rate limit: the limit,
    int64_t used = 0;       // what the window holds,
    int64_t requested = 0;  // and what the request asked for.
    // Where the caller stands (this request counted when admitted).
    common::v1::RateLimitStatus status;
  };
  // Admits (holding the reservation and counting the request) or refuses (changing nothing).
  Decision Admit(Ask ask);

  // A reservation `router` re-sends (Sync): held and counted unless already known.
  void Hold(const v1::HeldReservation& held, absl::string_view router);
  // `router` is alive (its heartbeat): its reservations do not expire.
  void Heard(absl::string_view router);

  // A settlement has arrived: the reservation now holds its actual cost, tokens per minute are
  // corrected, and it no longer counts as in flight. Idempotent. True when the actual cost
  // exceeds what was reserved.
  bool Settling(const v1::Settlement& s);
  // The settlement's event is in Postgres: when `inserted` (new), its cost joins its month's
  // spend; either way its reservation is released.
  void Recorded(const v1::Settlement& s, bool inserted);

  // Reservations whose router has been silent for reservation_ttl, as the "unsettled" settlements
  // to write (charged at their reserved amount); each is returned once.
  std::vector<v1::Settlement> Expire();

  // A budget alert due: the team's spend this month has reached `percent` of its budget.
  struct Alert {
    std::string team;
    absl::CivilMonth month;
    int32_t percent = 0;
    int64_t spent_nanos = 0;
    int64_t budget_nanos = 0;
  };
  // The alerts due and not yet fired (AlertFired) this month, and how many teams' spend has
  // reached each of kAlertGauges percent of their budget.
  static constexpr std::array<int32_t, 4> kAlertGauges = {50, 80, 90, 100};
  std::vector<Alert> DueAlerts(std::array<int64_t, 4>* teams_past = nullptr);
  // The alert is recorded: it does not fire again this month.
  void AlertFired(absl::string_view team, absl::CivilMonth month, int32_t percent);

  // Requests and tokens already in the events (at start), counted in the rate windows: `minute`
  // for the last minute's (requests per minute, tokens per minute), else the last day's.
  void AddHistory(absl::string_view team, absl::string_view key_id, absl::Time at, int64_t requests,
                  int64_t tokens, bool minute);

  // The spend of a month already in the events (at start).
  void AddSpend(absl::string_view team, absl::string_view key_id, absl::CivilMonth month,
                int64_t nanos);

  v1::GetBalanceResponse Balance(absl::string_view team);
  int64_t open_reservations();

 private:
  struct Account {
    Limits limits;  // As last admitted.
    absl::CivilMonth month;
    int64_t spent = 0;     // Of `month`.
    int64_t reserved = 0;  // Open reservations of `month`.
    int64_t in_flight = 0;
    std::unique_ptr<RateWindow> per_minute, per_day, tokens;
  };
  struct Team {
    Account account;
    absl::flat_hash_map<std::string, Account> keys;
    std::vector<int32_t> alert_percents;
    absl::CivilMonth fired_month;  // Of `fired`.
    std::vector<int32_t> fired;    // The percents fired in fired_month.
  };
  struct Reservation {
    std::string key_id;
    int64_t amount = 0;  // Worst case; the actual cost once settling.
    int64_t tokens = 0;
    absl::CivilMonth month;  // Whose reserved counts it.
    absl::Time counted_at;   // The rate windows' time of it.
    absl::Time start_time;
    bool settling = false;
    std::string kind, model, member, cost_center;
    std::string router;
  };
  struct Shard {
    absl::Mutex mu;
    absl::flat_hash_map<std::string, Team> teams ABSL_GUARDED_BY(mu);
    // By reservation id, across the shard's teams.
    absl::flat_hash_map<std::string, std::pair<std::string, Reservation>> reservations
        ABSL_GUARDED_BY(mu);
  };
  static constexpr int kShards = 16;

  Shard& ShardOf(absl::string_view team);
  // The month `m` of `a`: a later month starts from zero.
  static void Roll(Account& a, absl::CivilMonth m);
  // Adds `delta` to the reserved amount of `month` on the team's and the key's accounts.
  static void Reserve(Team& t, const Reservation& r, int64_t delta);
  // Makes the rate windows of `a` whose limit is set (every one when `all`): counting starts when
  // a limit does.
  static void Windows(Account& a, bool all);
  // Counts a request (tokens, in flight) on `a` at `at`.
  static void Count(Account& a, absl::Time at, int64_t tokens);
  // Checks `a` against its limits; fills `d` and returns false on a refusal.
  bool Fits(Account& a, const Ask& ask, absl::Time now, Decision& d) const;

  time::Clock& clock_;
  const LedgerOptions options_;
  std::array<Shard, kShards> shards_;
  absl::Mutex routers_mu_;
  absl::flat_hash_map<std::string, absl::Time> routers_
      ABSL_GUARDED_BY(routers_mu_);  // Last heard.
};

}  // namespace aimarket::usage
