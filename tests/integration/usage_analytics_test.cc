// Usage analytics: the daily rollups (usage_daily) against the raw events they sum, whoever wrote
// the events (usage-metering's writers, or SQL), over a month and a partition boundary.

#include <array>
#include <atomic>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/time/fake_clock.h"
#include "gtest/gtest.h"
#include "services/usage_metering/usage_metering.h"
#include "tests/util/pg_test_util.h"

namespace aimarket::testing {
namespace {

// The histogram's upper bounds (exclusive), as migration 0009 documents them.
constexpr int64_t kBoundsUs[] = {25'000,     50'000,     100'000,    250'000,
                                 500'000,    1'000'000,  2'500'000,  5'000'000,
                                 10'000'000, 30'000'000, 60'000'000, 120'000'000};
constexpr int kBuckets = 13;

int Bucket(int64_t us) {
  int i = 0;
  while (i < kBuckets - 1 && us >= kBoundsUs[i]) ++i;
  return i;
}

// One rollup row's key and sums, computed here from the events (independently of the SQL that
// maintains usage_daily) or read from usage_daily. Squares as text: Postgres numerics.
using Key = std::array<std::string, 9>;
struct Sums {
  int64_t requests = 0, errors = 0, cancelled = 0, estimated = 0, unpriced = 0;
  int64_t prompt = 0, cached = 0, cache_write = 0, completion = 0, reasoning = 0;
  __int128 completion_sq = 0;
  int64_t cost = 0;
  __int128 cost_sq = 0;
  int64_t latency = 0;
  __int128 latency_sq = 0;
  int64_t ttft_requests = 0, ttft = 0;
  __int128 ttft_sq = 0;
  std::array<int64_t, kBuckets> latency_hist{}, ttft_hist{};
  bool operator==(const Sums&) const = default;
};

__int128 Numeric(const pqxx::field& f) {
  __int128 v = 0;
  for (char c : std::string(f.c_str())) v = v * 10 + (c - '0');
  return v;
}

std::array<int64_t, kBuckets> Histogram(const pqxx::field& f) {
  std::array<int64_t, kBuckets> out{};
  std::string text = f.c_str();  // "{1,0,...}"
  int i = 0;
  int64_t n = 0;
  for (char c : text.substr(1)) {
    if (c == ',' || c == '}') {
      if (i < kBuckets) out[i] = n;
      ++i;
      n = 0;
    } else {
      n = n * 10 + (c - '0');
    }
  }
  EXPECT_EQ(i, kBuckets) << text;
  return out;
}

constexpr char kKeyColumns[] =
    "team_id, day::text, model, provider, key_id, member, cost_center, experiment, variant";

std::map<Key, Sums> FromEvents(pqxx::work& tx) {
  std::map<Key, Sums> out;
  for (const pqxx::row& r : tx.exec(absl::StrCat(
           "SELECT team_id, (start_time AT TIME ZONE 'UTC')::date::text, model, provider, key_id, "
           "member, cost_center, experiment, variant, outcome, estimated, unpriced, prompt_tokens, "
           "cached_tokens, cache_write_tokens, completion_tokens, reasoning_tokens, "
           "cost_nano_usd, latency_us, ttft_us FROM usage_events"))) {
    Key k;
    for (int i = 0; i < 9; ++i) k[i] = r[i].c_str();
    Sums& s = out[k];
    const std::string outcome = r[9].c_str();
    ++s.requests;
    s.errors += outcome == "error" || outcome == "cut" || outcome == "unsettled";
    s.cancelled += outcome == "cancelled";
    s.estimated += r[10].as<bool>();
    s.unpriced += r[11].as<bool>();
    s.prompt += r[12].as<int64_t>();
    s.cached += r[13].as<int64_t>();
    s.cache_write += r[14].as<int64_t>();
    const int64_t completion = r[15].as<int64_t>();
    s.completion += completion;
    s.completion_sq += static_cast<__int128>(completion) * completion;
    s.reasoning += r[16].as<int64_t>();
    const int64_t cost = r[17].as<int64_t>();
    s.cost += cost;
    s.cost_sq += static_cast<__int128>(cost) * cost;
    const int64_t latency = r[18].as<int64_t>();
    s.latency += latency;
    s.latency_sq += static_cast<__int128>(latency) * latency;
    ++s.latency_hist[Bucket(latency)];
    if (const int64_t ttft = r[19].as<int64_t>(); ttft > 0) {
      ++s.ttft_requests;
      s.ttft += ttft;
      s.ttft_sq += static_cast<__int128>(ttft) * ttft;
      ++s.ttft_hist[Bucket(ttft)];
    }
  }
  return out;
}

std::map<Key, Sums> FromRollups(pqxx::work& tx) {
  std::map<Key, Sums> out;
  for (const pqxx::row& r : tx.exec(absl::StrCat(
           "SELECT ", kKeyColumns,
           ", requests, errors, cancelled, estimated, unpriced, prompt_tokens, cached_tokens, "
           "cache_write_tokens, completion_tokens, reasoning_tokens, completion_tokens_sq::text, "
           "cost_nano_usd, cost_sq::text, latency_us, latency_us_sq::text, ttft_requests, ttft_us, "
           "ttft_us_sq::text, latency_histogram::text, ttft_histogram::text FROM usage_daily"))) {
    Key k;
    for (int i = 0; i < 9; ++i) k[i] = r[i].c_str();
    Sums s;
    s.requests = r[9].as<int64_t>();
    s.errors = r[10].as<int64_t>();
    s.cancelled = r[11].as<int64_t>();
    s.estimated = r[12].as<int64_t>();
    s.unpriced = r[13].as<int64_t>();
    s.prompt = r[14].as<int64_t>();
    s.cached = r[15].as<int64_t>();
    s.cache_write = r[16].as<int64_t>();
    s.completion = r[17].as<int64_t>();
    s.reasoning = r[18].as<int64_t>();
    s.completion_sq = Numeric(r[19]);
    s.cost = r[20].as<int64_t>();
    s.cost_sq = Numeric(r[21]);
    s.latency = r[22].as<int64_t>();
    s.latency_sq = Numeric(r[23]);
    s.ttft_requests = r[24].as<int64_t>();
    s.ttft = r[25].as<int64_t>();
    s.ttft_sq = Numeric(r[26]);
    s.latency_hist = Histogram(r[27]);
    s.ttft_hist = Histogram(r[28]);
    EXPECT_TRUE(out.emplace(k, s).second);
  }
  return out;
}

void ExpectRollupsMatchEvents(const std::string& dsn) {
  pqxx::connection c(dsn);
  pqxx::work tx(c);
  const std::map<Key, Sums> events = FromEvents(tx);
  const std::map<Key, Sums> rollups = FromRollups(tx);
  ASSERT_FALSE(events.empty());
  ASSERT_EQ(rollups.size(), events.size());
  for (const auto& [key, sums] : events) {
    auto it = rollups.find(key);
    ASSERT_NE(it, rollups.end()) << key[0] << " " << key[1] << " " << key[2];
    EXPECT_TRUE(it->second == sums) << key[0] << " " << key[1] << " " << key[2] << ": "
                                    << it->second.requests << " vs " << sums.requests;
  }
}

absl::Status Settle(usage::UsageMetering& metering, const usage::v1::SettleRequest& req) {
  absl::Notification done;
  absl::Status status;
  metering.Settle({}, req, [&](absl::StatusOr<usage::v1::SettleResponse> r) {
    status = r.status();
    done.Notify();
  });
  done.WaitForNotification();
  return status;
}

// `n` settlements of varied shape from `start`, one every `step`.
usage::v1::SettleRequest Settlements(absl::string_view prefix, int n, absl::Time start,
                                     absl::Duration step) {
  static constexpr const char* kOutcomes[] = {"ok", "ok", "ok", "error", "cancelled", "cut"};
  static constexpr const char* kModels[] = {"gpt-4o", "claude", "gemini"};
  usage::v1::SettleRequest req;
  for (int i = 0; i < n; ++i) {
    usage::v1::Settlement& s = *req.add_settlements();
    s.set_request_id(absl::StrCat(prefix, i));
    const absl::Time t = start + i * step;
    s.mutable_start_time()->set_seconds(absl::ToUnixSeconds(t));
    s.set_kind(i % 7 == 0 ? "embeddings" : "chat");
    s.set_team(absl::StrCat("teams/team_", i % 2));
    s.set_key_id(absl::StrCat("key_", i % 3));
    s.set_member(absl::StrCat("user", i % 3, "@example.com"));
    s.set_cost_center(i % 5 == 0 ? "=cc \"quoted\", new\nline" : "research");
    s.set_model(kModels[i % 3]);
    s.set_provider(i % 4 == 0 ? "anthropic" : "openai");
    s.set_outcome(kOutcomes[i % 6]);
    s.set_experiment(i % 2 ? "exp1" : "");
    s.set_variant(i % 2 ? (i % 4 == 1 ? "a" : "b") : "");
    s.set_estimated(i % 11 == 0);
    s.set_unpriced(i % 13 == 0);
    // Each bucket's bounds exactly (and one below), then spread over every bucket.
    s.set_latency_us(i < 24 ? kBoundsUs[i / 2] - i % 2 : 1'000 + i * 104'729LL % 150'000'000);
    s.set_time_to_first_token_us(i % 6 == 3 ? 0
                                 : i < 48   ? kBoundsUs[i / 2 % 12] - i % 2
                                            : 500 + i * 7'919LL % 30'000'000);
    common::v1::Usage& u = *s.mutable_usage();
    u.set_prompt_tokens(100 + i);
    u.set_cached_tokens(i % 4);
    u.set_cache_write_tokens(i % 5);
    u.set_completion_tokens(7 * i);
    u.set_reasoning_tokens(i % 9);
    // Large enough that a square overflows 64 bits.
    u.set_cost_nano_usd(i % 10 == 0 ? 9'000'000'000'000LL + i : 1'000 + i);
  }
  return req;
}

TEST(UsageRollupTest, RollupsEqualTheirEventsWhoeverWritesThem) {
  AIM_PG_TEST_DATABASE(db);
  auto pool = db::ConnectionPool::Create({.dsn = db.dsn(), .size = 3});
  ASSERT_TRUE(pool.ok());
  ASSERT_TRUE(db::ApplyMigrations(**pool, db::EmbeddedMigrations()).ok());
  usage::UsageMetering metering(*std::move(pool));
  // Across a month (and partition) boundary: November's last hours and December's first.
  const absl::Time boundary = absl::FromCivil(absl::CivilDay(2026, 12, 1), absl::UTCTimeZone());
  usage::v1::SettleRequest req =
      Settlements("req_a", 600, boundary - absl::Hours(3), absl::Seconds(37));
  ASSERT_TRUE(Settle(metering, req).ok());
  // A router retrying a batch (some of it already written): nothing counted twice.
  usage::v1::SettleRequest retry =
      Settlements("req_a", 50, boundary - absl::Hours(3), absl::Seconds(37));
  *retry.add_settlements() = Settlements("req_b", 1, boundary, absl::Seconds(1)).settlements(0);
  ASSERT_TRUE(Settle(metering, retry).ok());
  ExpectRollupsMatchEvents(db.dsn());

  // Events inserted by SQL (a bulk load, the benchmark's seeding) are rolled up too.
  {
    pqxx::connection c(db.dsn());
    pqxx::work tx(c);
    tx.exec0(
        "INSERT INTO usage_events (request_id, start_time, team_id, key_id, member, cost_center, "
        "kind, model, provider, upstream_model, deployment, attempts, experiment, variant, "
        "prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, reasoning_tokens, "
        "cost_nano_usd, reserved_nano_usd, estimated, unpriced, outcome, http_status, latency_us, "
        "ttft_us) SELECT 'req_sql' || g, timestamptz '2026-11-30 20:00Z' + g * interval '1 min', "
        "'team_' || g % 2, 'key_' || g % 3, 'user@example.com', 'research', 'chat', 'gpt-4o', "
        "'openai', 'gpt-4o', 0, 1, '', '', g, 0, 0, 2 * g, 0, 1000 * g, 0, false, false, 'ok', "
        "200, 1000 * g, 500 * g FROM generate_series(1, 500) g");
    tx.commit();
  }
  ExpectRollupsMatchEvents(db.dsn());
}

// The rollups' lag is nil: under a load of concurrent writers, every snapshot of the database
// holds as many requests (and as much cost) in usage_daily as in usage_events.
TEST(UsageRollupTest, UnderLoadEverySnapshotHasItsRollupsCurrent) {
  AIM_PG_TEST_DATABASE(db);
  auto pool = db::ConnectionPool::Create({.dsn = db.dsn(), .size = 4});
  ASSERT_TRUE(pool.ok());
  ASSERT_TRUE(db::ApplyMigrations(**pool, db::EmbeddedMigrations()).ok());
  usage::UsageMetering metering(*std::move(pool));
  std::atomic<bool> done{false};
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&, p] {
      for (int b = 0; b < 40; ++b) {
        // Every batch on the same few rollup rows as the others: the writers contend.
        EXPECT_TRUE(Settle(metering, Settlements(absl::StrCat("req_", p, "_", b, "_"), 250,
                                                 absl::Now() - absl::Minutes(5), absl::Seconds(1)))
                        .ok());
      }
    });
  }
  int snapshots = 0;
  std::thread checker([&] {
    pqxx::connection c(db.dsn());
    while (!done.load()) {
      pqxx::transaction<pqxx::isolation_level::repeatable_read> tx(c);
      const pqxx::row r = tx.exec1(
          "SELECT (SELECT count(*) FROM usage_events), (SELECT coalesce(sum(requests), 0) FROM "
          "usage_daily), (SELECT coalesce(sum(cost_nano_usd), 0) FROM usage_events), "
          "(SELECT coalesce(sum(cost_nano_usd), 0) FROM usage_daily)");
      EXPECT_EQ(r[0].as<int64_t>(), r[1].as<int64_t>());
      EXPECT_EQ(r[2].as<std::string>(), r[3].as<std::string>());
      ++snapshots;
    }
  });
  for (std::thread& t : producers) t.join();
  done = true;
  checker.join();
  EXPECT_GT(snapshots, 0);
  ExpectRollupsMatchEvents(db.dsn());
  pqxx::connection c(db.dsn());
  pqxx::work tx(c);
  EXPECT_EQ(tx.exec1("SELECT sum(requests) FROM usage_daily")[0].as<int64_t>(), 4 * 40 * 250);
}

TEST(UsageRollupTest, RollupsOutliveTheirEventsForTheirOwnRetention) {
  AIM_PG_TEST_DATABASE(db);
  {
    // One event in each month from February to June 2026 (all within the default retention).
    auto pool = db::ConnectionPool::Create({.dsn = db.dsn(), .size = 3});
    ASSERT_TRUE(pool.ok());
    ASSERT_TRUE(db::ApplyMigrations(**pool, db::EmbeddedMigrations()).ok());
    usage::UsageMetering metering(*std::move(pool));
    for (int m = 2; m <= 6; ++m) {
      const absl::Time t = absl::FromCivil(absl::CivilDay(2026, m, 10), absl::UTCTimeZone());
      ASSERT_TRUE(
          Settle(metering, Settlements(absl::StrCat("req_", m), 1, t, absl::Seconds(1))).ok());
    }
  }
  // In June, keeping two months of events and four of rollups: the maintenance pass at start
  // drops February to April's events and February's rollups.
  auto pool = db::ConnectionPool::Create({.dsn = db.dsn(), .size = 3});
  ASSERT_TRUE(pool.ok());
  time::FakeClock clock(absl::FromCivil(absl::CivilDay(2026, 6, 15), absl::UTCTimeZone()));
  usage::UsageMetering::Options options;
  options.retention_months = 2;
  options.rollup_retention_months = 4;
  usage::UsageMetering metering(*std::move(pool), options, clock);
  pqxx::connection c(db.dsn());
  std::string events, rollups;
  for (int i = 0; i < 200 && (events != "05,06" || rollups != "03,04,05,06"); ++i) {
    absl::SleepFor(absl::Milliseconds(50));
    pqxx::work tx(c);
    events = tx.exec1(
                   "SELECT coalesce(string_agg(to_char(start_time, 'MM'), ',' ORDER BY "
                   "start_time), '') FROM usage_events")[0]
                 .as<std::string>();
    rollups = tx.exec1(
                    "SELECT coalesce(string_agg(to_char(day, 'MM'), ',' ORDER BY day), '') "
                    "FROM usage_daily")[0]
                  .as<std::string>();
  }
  EXPECT_EQ(events, "05,06");
  EXPECT_EQ(rollups, "03,04,05,06");
}

}  // namespace
}  // namespace aimarket::testing
