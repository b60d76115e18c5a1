#include "services/usage_metering/ledger.h"

#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/time/fake_clock.h"

namespace aimarket::usage {
namespace {

using google::protobuf::util::TimeUtil;

// 2026-12-06 12:00:00 UTC.
const absl::Time kStart = absl::FromUnixSeconds(1796558400);

class LedgerTest : public ::testing::Test {
 protected:
  Ledger::Ask AskFor(absl::string_view key = "key_a", int64_t reserve = 0, int64_t tokens = 0) {
    Ledger::Ask ask;
    ask.reservation_id = absl::StrCat("req_", ++next_);
    ask.team = "teams/t";
    ask.key_id = std::string(key);
    ask.team_limits = Limits::Of(team_.monthly_budget_nano_usd(), team_.rate_limits());
    if (auto it = keys_.find(ask.key_id); it != keys_.end()) {
      ask.key_limits = Limits::Of(it->second.monthly_budget_nano_usd(), it->second.rate_limits());
    }
    ask.reserve_nanos = reserve;
    ask.tokens = tokens;
    ask.start_time = clock_.Now();
    ask.kind = "chat";
    ask.model = "m";
    return ask;
  }
  // The settlement of `ask` at `cost` nano-dollars and `tokens`.
  static v1::Settlement SettlementOf(const Ledger::Ask& ask, int64_t cost, int64_t tokens = 0) {
    v1::Settlement s;
    s.set_request_id(ask.reservation_id);
    s.set_reservation_id(ask.reservation_id);
    s.set_team(ask.team);
    s.set_key_id(ask.key_id);
    *s.mutable_start_time() = TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(ask.start_time));
    s.mutable_usage()->set_prompt_tokens(tokens);
    s.mutable_usage()->set_cost_nano_usd(cost);
    s.set_reserved_nano_usd(ask.reserve_nanos);
    return s;
  }
  // Admits `n` asks; returns how many were admitted.
  int AdmitMany(int n, absl::string_view key = "key_a", int64_t reserve = 0, int64_t tokens = 0) {
    int admitted = 0;
    for (int i = 0; i < n; ++i) {
      Ledger::Ask ask = AskFor(key, reserve, tokens);
      if (ledger_.Admit(ask).refused == Limit::kNone) {
        ++admitted;
        asks_.push_back(ask);
      }
    }
    return admitted;
  }
  // Settles and records every admitted ask at `cost` each.
  void SettleAll(int64_t cost, int64_t tokens = 0) {
    for (const Ledger::Ask& ask : asks_) {
      const v1::Settlement s = SettlementOf(ask, cost, tokens);
      ledger_.Settling(s);
      ledger_.Recorded(s, /*inserted=*/true);
    }
    asks_.clear();
  }

  time::FakeClock clock_{kStart};
  Ledger ledger_{clock_};
  common::v1::KeyLimits team_;
  absl::flat_hash_map<std::string, common::v1::KeyLimits> keys_;
  std::vector<Ledger::Ask> asks_;
  int next_ = 0;
};

TEST_F(LedgerTest, NoLimitsAdmitsEverything) {
  EXPECT_EQ(AdmitMany(1000, "key_a", 1'000'000'000, 100000), 1000);
  const Ledger::Decision d = ledger_.Admit(AskFor());
  EXPECT_EQ(d.refused, Limit::kNone);
  EXPECT_EQ(d.status.limit_requests(), 0);  // No trio when no limit applies.
  EXPECT_EQ(d.status.limit_tokens(), 0);
}

TEST_F(LedgerTest, BudgetHoldsReservationsUntilRecorded) {
  team_.set_monthly_budget_nano_usd(1000);
  EXPECT_EQ(AdmitMany(20, "key_a", 100), 10);  // Exactly ten worst cases fit.
  Ledger::Decision d = ledger_.Admit(AskFor("key_a", 100));
  EXPECT_EQ(d.refused, Limit::kMonthlyBudget);
  EXPECT_FALSE(d.by_key);
  EXPECT_EQ(d.budget_nanos, 1000);
  EXPECT_EQ(d.remaining_nanos, 0);
  // Settled far below the worst case: the difference is free again once recorded.
  SettleAll(10);
  v1::GetBalanceResponse b = ledger_.Balance("teams/t");
  EXPECT_EQ(b.team().spent_nano_usd(), 100);
  EXPECT_EQ(b.team().reserved_nano_usd(), 0);
  EXPECT_EQ(b.team().remaining_nano_usd(), 900);
  EXPECT_EQ(b.month(), "2026-12");
  EXPECT_EQ(AdmitMany(20, "key_a", 100), 9);
}

TEST_F(LedgerTest, SettlingHoldsTheActualCostUntilRecorded) {
  team_.set_monthly_budget_nano_usd(1000);
  ASSERT_EQ(AdmitMany(1, "key_a", 600), 1);
  const v1::Settlement s = SettlementOf(asks_[0], 300);
  EXPECT_FALSE(ledger_.Settling(s));
  EXPECT_TRUE(!ledger_.Settling(s));  // Twice changes nothing.
  // Not yet written: the actual cost is still held, so 700 remains, not 1000 nor 400.
  EXPECT_EQ(ledger_.Balance("teams/t").team().reserved_nano_usd(), 300);
  EXPECT_EQ(AdmitMany(1, "key_a", 701), 0);
  ledger_.Recorded(s, true);
  ledger_.Recorded(s, false);  // A retried settlement already written: nothing more.
  EXPECT_EQ(ledger_.Balance("teams/t").team().spent_nano_usd(), 300);
  EXPECT_EQ(ledger_.Balance("teams/t").team().reserved_nano_usd(), 0);
}

TEST_F(LedgerTest, CostAboveItsReservationIsBookedInFull) {
  team_.set_monthly_budget_nano_usd(1000);
  ASSERT_EQ(AdmitMany(1, "key_a", 100), 1);
  const v1::Settlement s = SettlementOf(asks_[0], 1500);
  EXPECT_TRUE(ledger_.Settling(s));
  ledger_.Recorded(s, true);
  const v1::GetBalanceResponse b = ledger_.Balance("teams/t");
  EXPECT_EQ(b.team().spent_nano_usd(), 1500);
  EXPECT_EQ(b.team().remaining_nano_usd(), 0);
  // Past its budget, a team gets nothing more this month, not even a free request.
  EXPECT_EQ(AdmitMany(1, "key_a", 0), 0);
}

TEST_F(LedgerTest, KeyBudgetAndTeamBudgetBothApply) {
  team_.set_monthly_budget_nano_usd(1000);
  keys_["key_a"].set_monthly_budget_nano_usd(300);
  EXPECT_EQ(AdmitMany(10, "key_a", 100), 3);
  Ledger::Decision d = ledger_.Admit(AskFor("key_a", 100));
  EXPECT_EQ(d.refused, Limit::kMonthlyBudget);
  EXPECT_TRUE(d.by_key);
  EXPECT_EQ(d.budget_nanos, 300);
  // The other key has only the team's left: 700.
  EXPECT_EQ(AdmitMany(10, "key_b", 100), 7);
  d = ledger_.Admit(AskFor("key_b", 100));
  EXPECT_FALSE(d.by_key);
  const v1::GetBalanceResponse b = ledger_.Balance("teams/t");
  ASSERT_EQ(b.keys_size(), 2);
  for (const v1::Balance& k : b.keys()) {
    EXPECT_EQ(k.reserved_nano_usd(), k.key_id() == "key_a" ? 300 : 700);
  }
}

TEST_F(LedgerTest, ANewMonthStartsFromZero) {
  team_.set_monthly_budget_nano_usd(1000);
  clock_.SetTime(absl::FromCivil(absl::CivilSecond(2026, 12, 31, 23, 59, 0), absl::UTCTimeZone()));
  EXPECT_EQ(AdmitMany(20, "key_a", 100), 10);
  const std::vector<Ledger::Ask> december = asks_;
  clock_.Advance(absl::Minutes(2));  // 2027-01-01 00:01.
  asks_.clear();
  EXPECT_EQ(AdmitMany(20, "key_a", 100), 10);
  // December's requests settle late: their cost is December's, not January's.
  asks_ = december;
  SettleAll(100);
  const v1::GetBalanceResponse b = ledger_.Balance("teams/t");
  EXPECT_EQ(b.month(), "2027-01");
  EXPECT_EQ(b.team().spent_nano_usd(), 0);
  EXPECT_EQ(b.team().reserved_nano_usd(), 1000);
}

TEST_F(LedgerTest, RequestsPerMinuteSlidesWithoutABoundaryBurst) {
  team_.mutable_rate_limits()->set_requests_per_minute(5);
  clock_.Advance(absl::Milliseconds(59'500));  // Late in a minute: a fixed window would reset.
  EXPECT_EQ(AdmitMany(10), 5);
  Ledger::Decision d = ledger_.Admit(AskFor());
  EXPECT_EQ(d.refused, Limit::kRequestsPerMinute);
  EXPECT_EQ(d.limit, 5);
  EXPECT_EQ(d.used, 5);
  // The slice of those five leaves the count a minute after it ends: at most a slice late.
  EXPECT_GT(d.retry_after, absl::Seconds(60));
  EXPECT_LE(d.retry_after, absl::Seconds(61));
  clock_.Advance(absl::Seconds(1));  // Past the minute's boundary: still none.
  EXPECT_EQ(AdmitMany(10), 0);
  clock_.Advance(d.retry_after - absl::Seconds(1) - absl::Milliseconds(1));
  EXPECT_EQ(AdmitMany(1), 0);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(AdmitMany(10), 5);
}

TEST_F(LedgerTest, ExactlyTheLimitInEverySlidingMinute) {
  team_.mutable_rate_limits()->set_requests_per_minute(7);
  // Demand far above the limit, every 250 ms for five minutes: every minute-long window holds at
  // most seven admissions, and the limit is used (at least seven in every window of 61 s).
  std::vector<absl::Time> admitted;
  for (int i = 0; i < 5 * 240; ++i) {
    for (int j = 0; j < 3; ++j) {
      if (AdmitMany(1) == 1) admitted.push_back(clock_.Now());
    }
    clock_.Advance(absl::Milliseconds(250));
  }
  ASSERT_EQ(asks_.size(), admitted.size());
  for (size_t i = 0; i < admitted.size(); ++i) {
    size_t in_minute = 0;
    for (size_t j = i; j < admitted.size() && admitted[j] < admitted[i] + absl::Minutes(1); ++j) {
      ++in_minute;
    }
    EXPECT_LE(in_minute, 7u) << "window from admission " << i;
  }
  EXPECT_GE(admitted.size(), 7u * 4);
}

TEST_F(LedgerTest, RequestsPerDay) {
  team_.mutable_rate_limits()->set_requests_per_day(3);
  EXPECT_EQ(AdmitMany(5), 3);
  clock_.Advance(absl::Hours(23));
  EXPECT_EQ(AdmitMany(5), 0);
  const Ledger::Decision d = ledger_.Admit(AskFor());
  EXPECT_EQ(d.refused, Limit::kRequestsPerDay);
  EXPECT_LE(d.retry_after, absl::Hours(1) + absl::Minutes(5));
  clock_.Advance(d.retry_after);
  EXPECT_EQ(AdmitMany(5), 3);
}

TEST_F(LedgerTest, TokensPerMinuteAreCorrectedBySettlement) {
  team_.mutable_rate_limits()->set_tokens_per_minute(1000);
  EXPECT_EQ(AdmitMany(5, "key_a", 0, 300), 3);  // 900 of 1000 estimated.
  Ledger::Decision d = ledger_.Admit(AskFor("key_a", 0, 300));
  EXPECT_EQ(d.refused, Limit::kTokensPerMinute);
  EXPECT_EQ(d.used, 900);
  EXPECT_EQ(d.requested, 300);
  // They used 50 each: 850 are free again at once.
  SettleAll(0, 50);
  EXPECT_EQ(AdmitMany(5, "key_a", 0, 300), 2);  // 150 + 600 = 750; a third would be 1050.
  // Larger than the limit itself: never, and said so.
  d = ledger_.Admit(AskFor("key_a", 0, 1001));
  EXPECT_EQ(d.refused, Limit::kTokensPerMinute);
  EXPECT_EQ(d.retry_after, absl::InfiniteDuration());
}

TEST_F(LedgerTest, ParallelRequestsReleasedAtSettlement) {
  keys_["key_a"].mutable_rate_limits()->set_max_parallel_requests(2);
  EXPECT_EQ(AdmitMany(5), 2);
  const Ledger::Decision d = ledger_.Admit(AskFor());
  EXPECT_EQ(d.refused, Limit::kParallelRequests);
  EXPECT_TRUE(d.by_key);
  EXPECT_EQ(AdmitMany(5, "key_b"), 5);  // Another key of the team is not held back.
  ledger_.Settling(SettlementOf(asks_[0], 0));
  EXPECT_EQ(AdmitMany(5), 1);
}

TEST_F(LedgerTest, HeadersShowTheStrictestLimit) {
  team_.mutable_rate_limits()->set_requests_per_minute(10);
  team_.mutable_rate_limits()->set_tokens_per_minute(5000);
  keys_["key_a"].mutable_rate_limits()->set_requests_per_minute(4);
  for (int i = 3; i >= 0; --i) {
    const Ledger::Decision d = ledger_.Admit(AskFor("key_a", 0, 100));
    ASSERT_EQ(d.refused, Limit::kNone);
    EXPECT_EQ(d.status.limit_requests(), 4);
    EXPECT_EQ(d.status.remaining_requests(), i);  // Counts down, this request counted.
    EXPECT_EQ(d.status.limit_tokens(), 5000);
    EXPECT_EQ(d.status.remaining_tokens(), 5000 - 100 * (4 - i));
    EXPECT_GT(TimeUtil::DurationToSeconds(d.status.reset_requests()), 59);
  }
  const Ledger::Decision refused = ledger_.Admit(AskFor("key_a", 0, 100));
  EXPECT_EQ(refused.refused, Limit::kRequestsPerMinute);
  EXPECT_EQ(refused.status.remaining_requests(), 0);
  // key_b has the team's 10, of which 4 are used.
  const Ledger::Decision b = ledger_.Admit(AskFor("key_b", 0, 100));
  EXPECT_EQ(b.status.limit_requests(), 10);
  EXPECT_EQ(b.status.remaining_requests(), 5);
}

TEST_F(LedgerTest, ReservationsOfASilentRouterAreChargedOnce) {
  Ledger ledger(clock_, {.reservation_ttl = absl::Minutes(2)});
  team_.set_monthly_budget_nano_usd(1000);
  Ledger::Ask ask = AskFor("key_a", 400);
  ask.member = "alice";
  ask.router = "router-1";
  Ledger::Ask other = AskFor("key_a", 100);
  other.router = "router-2";
  ASSERT_EQ(ledger.Admit(ask).refused, Limit::kNone);
  ASSERT_EQ(ledger.Admit(other).refused, Limit::kNone);
  // router-1 keeps beating for an hour (a long stream): its reservation stays.
  for (int i = 0; i < 60; ++i) {
    clock_.Advance(absl::Minutes(1));
    ledger.Heard("router-1");
    std::vector<v1::Settlement> expired = ledger.Expire();
    if (i == 1) {
      ASSERT_EQ(expired.size(), 1u);  // router-2 never beat: two minutes after its start.
      EXPECT_EQ(expired[0].request_id(), other.reservation_id);
    } else {
      EXPECT_TRUE(expired.empty()) << "minute " << i;
    }
  }
  // Then it dies.
  clock_.Advance(absl::Minutes(2) - absl::Seconds(1));
  EXPECT_TRUE(ledger.Expire().empty());
  clock_.Advance(absl::Seconds(1));
  std::vector<v1::Settlement> expired = ledger.Expire();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_TRUE(ledger.Expire().empty());
  EXPECT_EQ(expired[0].outcome(), "unsettled");
  EXPECT_EQ(expired[0].usage().cost_nano_usd(), 400);
  EXPECT_EQ(expired[0].request_id(), ask.reservation_id);
  EXPECT_EQ(expired[0].member(), "alice");
  EXPECT_EQ(TimeUtil::TimestampToMicroseconds(expired[0].start_time()),
            absl::ToUnixMicros(ask.start_time));
  ledger.Recorded(expired[0], true);
  // The router's settlement comes after all: its event conflicts with the unsettled one.
  const v1::Settlement late = SettlementOf(ask, 50);
  ledger.Settling(late);
  ledger.Recorded(late, false);
  EXPECT_EQ(ledger.Balance("teams/t").team().spent_nano_usd(), 400);
  EXPECT_EQ(ledger.open_reservations(), 1);  // router-2's, written by nobody in this test.
}

TEST_F(LedgerTest, HeldReservationsCountAfterARestart) {
  team_.set_monthly_budget_nano_usd(1000);
  team_.mutable_rate_limits()->set_max_parallel_requests(3);
  ledger_.AddSpend("teams/t", "key_a", absl::CivilMonth(2026, 12), 500);
  ledger_.AddSpend("teams/t", "key_a", absl::CivilMonth(2026, 11), 9999);  // Last month's.
  v1::HeldReservation held;
  held.set_reservation_id("req_old");
  held.set_team("teams/t");
  held.set_key_id("key_a");
  held.set_reserve_nano_usd(300);
  *held.mutable_start_time() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(clock_.Now() - absl::Seconds(5)));
  ledger_.Hold(held, "router-1");
  ledger_.Hold(held, "router-1");  // Sent again: once.
  v1::HeldReservation ended = held;
  ended.set_reservation_id("req_ended");
  ended.set_reserve_nano_usd(100);
  ended.set_ended(true);
  ledger_.Hold(ended, "router-1");
  // 1000 − 500 spent − 400 held: one request of 100 fits, and two in flight remain possible.
  EXPECT_EQ(AdmitMany(5, "key_a", 100), 1);
  const v1::GetBalanceResponse b = ledger_.Balance("teams/t");
  EXPECT_EQ(b.team().spent_nano_usd(), 500);
  EXPECT_EQ(b.team().reserved_nano_usd(), 500);
  EXPECT_EQ(b.team().requests_in_flight(), 2);
}

TEST_F(LedgerTest, RefusalChangesNothing) {
  team_.set_monthly_budget_nano_usd(1000);
  team_.mutable_rate_limits()->set_requests_per_minute(100);
  ASSERT_EQ(AdmitMany(1, "key_a", 600), 1);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(AdmitMany(1, "key_a", 500), 0);
  const Ledger::Decision d = ledger_.Admit(AskFor("key_a", 0));
  EXPECT_EQ(d.status.remaining_requests(), 98);  // Only the two admissions counted.
  EXPECT_EQ(ledger_.Balance("teams/t").team().reserved_nano_usd(), 600);
}

TEST_F(LedgerTest, EachBudgetAlertIsDueOnceAMonthWhenItsThresholdIsReached) {
  team_.set_monthly_budget_nano_usd(1000);
  auto admit = [&](int64_t cost) {
    Ledger::Ask ask = AskFor("key_a", cost);
    ask.alert_percents = {50, 80, 100};
    ASSERT_EQ(ledger_.Admit(ask).refused, Limit::kNone);
    asks_.push_back(ask);
    SettleAll(cost);
  };
  admit(400);
  EXPECT_TRUE(ledger_.DueAlerts().empty());  // 40%.
  admit(100);                                // 50%, exactly.
  std::array<int64_t, 4> past{};
  std::vector<Ledger::Alert> due = ledger_.DueAlerts(&past);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].percent, 50);
  EXPECT_EQ(due[0].spent_nanos, 500);
  EXPECT_EQ(due[0].budget_nanos, 1000);
  EXPECT_EQ(due[0].month, absl::CivilMonth(2026, 12));
  EXPECT_EQ(past, (std::array<int64_t, 4>{1, 0, 0, 0}));  // Past 50%, not 80, 90 or 100.
  // Due until recorded; then never again this month.
  EXPECT_EQ(ledger_.DueAlerts().size(), 1u);
  ledger_.AlertFired("teams/t", due[0].month, 50);
  EXPECT_TRUE(ledger_.DueAlerts().empty());
  admit(500);  // 100% at once: both the others.
  due = ledger_.DueAlerts();
  ASSERT_EQ(due.size(), 2u);
  for (const Ledger::Alert& a : due) ledger_.AlertFired(a.team, a.month, a.percent);
  EXPECT_TRUE(ledger_.DueAlerts().empty());
  // A new month: nothing spent, nothing due; the same thresholds fire again when reached.
  clock_.SetTime(absl::FromCivil(absl::CivilDay(2027, 1, 1), absl::UTCTimeZone()));
  EXPECT_TRUE(ledger_.DueAlerts().empty());
  admit(600);
  due = ledger_.DueAlerts();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].percent, 50);
  EXPECT_EQ(due[0].month, absl::CivilMonth(2027, 1));
}

}  // namespace
}  // namespace aimarket::usage
