// metering-ingest: how fast usage-metering writes usage events, on its own. Producers play
// routers: each sends batches of settlements to UsageMetering::Settle (in process, as in the
// all-in-one topology), at most 4 batches in flight each, for a fixed time; the writer threads
// COPY them into Postgres. Prints one line:
//   INGEST events=N seconds=S rate=R batch=B producers=P rows_per_write=W
//
//   AIMARKET_PG_DSN=... metering-ingest [--seconds=10] [--batch=500] [--producers=2]

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "services/usage_metering/usage_metering.h"

namespace aimarket {
namespace {

int Flag(int argc, char** argv, const char* name, int fallback) {
  const std::string prefix = absl::StrCat("--", name, "=");
  for (int i = 1; i < argc; ++i) {
    int v = 0;
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0 &&
        absl::SimpleAtoi(argv[i] + prefix.size(), &v)) {
      return v;
    }
  }
  return fallback;
}

usage::v1::Settlement Settlement(const std::string& id, absl::Time start) {
  usage::v1::Settlement s;
  s.set_request_id(id);
  s.set_kind("chat");
  s.set_team("teams/team_bench");
  s.set_key_id("key_bench");
  s.set_member("bench@example.com");
  s.set_model("bench");
  s.set_provider("mock");
  s.set_upstream_model("synthetic");
  s.set_outcome("ok");
  s.set_http_status(200);
  s.set_attempts(1);
  s.set_latency_us(1200);
  s.set_time_to_first_token_us(800);
  s.mutable_start_time()->set_seconds(absl::ToUnixSeconds(start));
  common::v1::Usage& u = *s.mutable_usage();
  u.set_prompt_tokens(120);
  u.set_completion_tokens(8);
  u.set_total_tokens(128);
  u.set_cost_nano_usd(136'000);
  return s;
}

int Main(int argc, char** argv) {
  const char* dsn = std::getenv("AIMARKET_PG_DSN");
  if (dsn == nullptr) {
    std::fprintf(stderr, "set AIMARKET_PG_DSN\n");
    return 2;
  }
  const int seconds = Flag(argc, argv, "seconds", 10);
  const int batch = Flag(argc, argv, "batch", 500);
  const int producers = Flag(argc, argv, "producers", 2);
  auto pool = db::ConnectionPool::Create({.dsn = dsn, .size = 4});
  if (!pool.ok() || !db::ApplyMigrations(**pool, db::EmbeddedMigrations()).ok()) {
    std::fprintf(stderr, "cannot reach or migrate the database\n");
    return 1;
  }
  usage::UsageMetering metering(*std::move(pool));

  std::atomic<int64_t> acknowledged{0};
  std::atomic<int64_t> failed{0};
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(seconds);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      absl::Mutex mu;
      int in_flight = 0;
      int64_t n = 0;
      while (absl::Now() < end) {
        {
          absl::MutexLock lock(&mu);
          auto room = [&in_flight]() { return in_flight < 4; };
          mu.Await(absl::Condition(&room));
          ++in_flight;
        }
        auto req = std::make_shared<usage::v1::SettleRequest>();
        for (int i = 0; i < batch; ++i) {
          *req->add_settlements() = Settlement(absl::StrCat("req_bench_", p, "_", n++), start);
        }
        metering.Settle({}, *req, [&, req](absl::StatusOr<usage::v1::SettleResponse> r) {
          (r.ok() ? acknowledged : failed).fetch_add(req->settlements_size());
          absl::MutexLock lock(&mu);
          --in_flight;
        });
      }
      absl::MutexLock lock(&mu);
      auto idle = [&in_flight]() { return in_flight == 0; };
      mu.Await(absl::Condition(&idle));
    });
  }
  for (std::thread& t : threads) t.join();
  const double took = absl::ToDoubleSeconds(absl::Now() - start);
  pqxx::connection c(dsn);
  pqxx::work tx(c);
  const int64_t rows = tx.exec1("SELECT count(*) FROM usage_events")[0].as<int64_t>();
  std::printf("INGEST events=%lld seconds=%.2f rate=%.0f batch=%d producers=%d failed=%lld rows=%lld\n",
              static_cast<long long>(acknowledged.load()), took, acknowledged.load() / took, batch,
              producers, static_cast<long long>(failed.load()), static_cast<long long>(rows));
  return rows == acknowledged.load() ? 0 : 1;
}

}  // namespace
}  // namespace aimarket

int main(int argc, char** argv) { return aimarket::Main(argc, argv); }
