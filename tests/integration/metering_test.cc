// Every request metered, through the real gateway: aimarketd (one process, or five), its mock
// upstreams speaking five providers' formats, Postgres. Clients over HTTP; the usage events are
// read back with SQL.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "services/usage_metering/usage_metering.h"
#include "tests/util/gateway.h"
#include "tests/util/pg_test_util.h"
#include "tests/util/process.h"
#include "tests/util/tcp_proxy.h"

namespace aimarket::testing {
namespace {

// Each provider's format on the mock, with its own price (dollars per million input / output).
struct Model {
  const char* name;
  const char* provider;
  int64_t input_nanos_per_mtok;
  int64_t output_nanos_per_mtok;
};
constexpr Model kModels[] = {
    {"m-openai", "mock", 150'000'000, 600'000'000},
    {"m-anthropic", "anthropic-mock", 3'000'000'000, 15'000'000'000},
    {"m-gemini", "gemini-mock", 300'000'000, 2'500'000'000},
    {"m-cohere", "cohere-mock", 150'000'000, 600'000'000},
    {"m-ollama", "ollama-mock", 70'000'000, 90'000'000},
};

Gateway::Options Options(std::vector<std::string> topology = {}) {
  Gateway::Options o;
  o.providers =
      "  - {name: anthropic-mock, type: anthropic, base_url: \"http://127.0.0.1:@MOCK_PORT@\"}\n"
      "  - {name: cohere-mock, type: cohere, base_url: \"http://127.0.0.1:@MOCK_PORT@\"}\n"
      "  - {name: ollama-mock, type: ollama, base_url: \"http://127.0.0.1:@MOCK_PORT@\"}\n";
  for (const Model& m : kModels) {
    absl::StrAppend(
        &o.models, "  - {name: ", m.name, ", deployments: [{provider: ", m.provider,
        ", model: \"synthetic?tokens=7&chunks=3\", input_per_mtok: ", m.input_nanos_per_mtok / 1e9,
        ", output_per_mtok: ", m.output_nanos_per_mtok / 1e9, "}]}\n");
  }
  o.topology = std::move(topology);
  return o;
}

// The cost of a request by hand: the exact sum, rounded up once to a nano-dollar.
int64_t ExpectedCost(const Model& m, int64_t prompt, int64_t completion) {
  const __int128 sum = static_cast<__int128>(prompt) * m.input_nanos_per_mtok +
                       static_cast<__int128>(completion) * m.output_nanos_per_mtok;
  return static_cast<int64_t>((sum + 999'999) / 1'000'000);
}

struct Answer {
  long status = 0;
  std::string request_id;
  std::string model;
  int64_t prompt = -1, completion = -1;
  std::string cost_header;  // x-aimarket-cost-usd (plain answers).
  std::string error;        // The body of a refusal.
};

// The usage the client saw: the body's (plain) or the usage chunk's (streamed with include_usage).
void ReadUsage(const std::string& json, Answer& a) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("usage") || !d["usage"].IsObject()) return;
  a.prompt = d["usage"]["prompt_tokens"].GetInt64();
  a.completion = d["usage"]["completion_tokens"].GetInt64();
}

Answer Ask(const Gateway& gw, const std::string& key, const Model& m, bool stream) {
  Answer a;
  a.model = m.name;
  HttpResult r = gw.Chat(
      absl::StrCat(R"({"model":")", m.name, R"(",)", kHi,
                   stream ? R"(,"stream":true,"stream_options":{"include_usage":true})" : "", "}"),
      key);
  a.status = r.status;
  a.request_id = r.headers["x-request-id"];
  if (r.status != 200) {
    a.error = r.body;
    return a;
  }
  if (!stream) {
    a.cost_header = r.headers["x-aimarket-cost-usd"];
    ReadUsage(r.body, a);
    return a;
  }
  for (absl::string_view line : absl::StrSplit(r.body, '\n')) {
    if (absl::ConsumePrefix(&line, "data: ") && line != "[DONE]") ReadUsage(std::string(line), a);
  }
  return a;
}

// "0.0000015" → 1500.
int64_t DecimalNanos(absl::string_view dollars) {
  std::pair<std::string, std::string> parts = absl::StrSplit(dollars, absl::MaxSplits('.', 1));
  parts.second.resize(9, '0');
  int64_t whole = 0, frac = 0;
  if (!absl::SimpleAtoi(parts.first, &whole) || !absl::SimpleAtoi(parts.second, &frac)) return -1;
  return whole * 1'000'000'000 + frac;
}

struct Event {
  int64_t cost = 0, prompt = 0, completion = 0;
  std::string outcome, model, team, kind;
  bool estimated = false;
};

std::map<std::string, Event> Events(const std::string& dsn) {
  pqxx::connection c(dsn);
  pqxx::work tx(c);
  std::map<std::string, Event> events;
  for (const pqxx::row& row :
       tx.exec("SELECT request_id, cost_nano_usd, prompt_tokens, completion_tokens, outcome, "
               "model, team_id, kind, estimated FROM usage_events")) {
    Event& e = events[row[0].as<std::string>()];
    e.cost = row[1].as<int64_t>();
    e.prompt = row[2].as<int64_t>();
    e.completion = row[3].as<int64_t>();
    e.outcome = row[4].as<std::string>();
    e.model = row[5].as<std::string>();
    e.team = row[6].as<std::string>();
    e.kind = row[7].as<std::string>();
    e.estimated = row[8].as<bool>();
  }
  return events;
}

int64_t CountEvents(const std::string& dsn, bool distinct = false) {
  pqxx::connection c(dsn);
  pqxx::work tx(c);
  return tx
      .exec1(distinct ? "SELECT count(DISTINCT request_id) FROM usage_events"
                      : "SELECT count(*) FROM usage_events")[0]
      .as<int64_t>();
}

// Waits (up to a minute) until `n` events are in Postgres; returns how many there are.
int64_t AwaitEvents(const std::string& dsn, int64_t n) {
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  int64_t count = CountEvents(dsn);
  while (count < n && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
    count = CountEvents(dsn);
  }
  absl::SleepFor(absl::Milliseconds(300));  // Anything more would be a duplicate: let it land.
  return CountEvents(dsn);
}

// `per_thread` requests from each of `threads` threads, alternating models and plain / streamed.
std::vector<Answer> Load(const Gateway& gw, const std::string& key, int threads, int per_thread,
                         const std::function<void(int)>& after_each = nullptr) {
  std::vector<Answer> answers(threads * per_thread);
  std::atomic<int> done{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const int n = t * per_thread + i;
        answers[n] = Ask(gw, key, kModels[n % std::size(kModels)], (n / 5) % 2 == 1);
        if (after_each) after_each(done.fetch_add(1) + 1);
      }
    });
  }
  for (std::thread& w : workers) w.join();
  return answers;
}

const Model& ModelNamed(const std::string& name) {
  for (const Model& m : kModels) {
    if (name == m.name) return m;
  }
  return kModels[0];
}

TEST(MeteringTest, TwoHundredConcurrentRequestsLeaveTwoHundredCorrectlyPricedEvents) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options());
  std::string team_id;
  const std::string key = gw->TeamKey("[]", &team_id);

  std::vector<Answer> answers = Load(*gw, key, 20, 10);
  int64_t expected_sum = 0;
  for (const Answer& a : answers) {
    ASSERT_EQ(a.status, 200) << a.model;
    ASSERT_GT(a.prompt, 0) << a.model << " reported no usage";
    expected_sum += ExpectedCost(ModelNamed(a.model), a.prompt, a.completion);
  }
  ASSERT_EQ(AwaitEvents(db.dsn(), 200), 200);
  std::map<std::string, Event> events = Events(db.dsn());
  int64_t sum = 0;
  for (const Answer& a : answers) {
    auto it = events.find(a.request_id);
    ASSERT_NE(it, events.end()) << "no event for " << a.request_id;
    const Event& e = it->second;
    EXPECT_EQ(e.model, a.model);
    EXPECT_EQ(e.team, team_id);
    EXPECT_EQ(e.outcome, "ok");
    EXPECT_EQ(e.kind, "chat");
    EXPECT_FALSE(e.estimated);
    EXPECT_EQ(e.prompt, a.prompt);
    EXPECT_EQ(e.completion, a.completion);
    EXPECT_EQ(e.cost, ExpectedCost(ModelNamed(a.model), a.prompt, a.completion)) << a.model;
    if (!a.cost_header.empty()) {
      EXPECT_EQ(DecimalNanos(a.cost_header), e.cost) << a.cost_header;  // Decimal dollars.
    }
    sum += e.cost;
  }
  EXPECT_EQ(sum, expected_sum);
  int plain_with_header = 0;
  for (const Answer& a : answers) plain_with_header += a.cost_header.empty() ? 0 : 1;
  EXPECT_EQ(plain_with_header, 100);
}

TEST(MeteringTest, EmbeddingsAndTheBootstrapAdminAreMeteredToo) {
  AIM_PG_TEST_DATABASE(db);
  Gateway::Options o = Options();
  absl::StrAppend(&o.models,
                  "  - {name: emb, deployments: [{provider: mock, model: synthetic-embedding, "
                  "input_per_mtok: 0.02, output_per_mtok: 0}]}\n");
  auto gw = Gateway::Start(db, o);
  HttpResult r = HttpRequest("POST", gw->Url("/v1/embeddings"), {Bearer(kAdminKey), kJson},
                             R"({"model":"emb","input":["hello","world"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(r.headers["x-aimarket-cost-usd"].empty());
  ASSERT_EQ(gw->Chat(absl::StrCat(R"({"model":"m-openai",)", kHi, "}")).status, 200);
  ASSERT_EQ(AwaitEvents(db.dsn(), 2), 2);
  std::map<std::string, Event> events = Events(db.dsn());
  const Event& embed = events[r.headers["x-request-id"]];
  EXPECT_EQ(embed.kind, "embeddings");
  EXPECT_EQ(embed.team, "");  // The bootstrap admin belongs to no team.
  EXPECT_GT(embed.prompt, 0);
}

TEST(MeteringTest, ACancelledStreamIsRecordedOnceAsEstimated) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options());
  // A stream of 2,000 chunks, 20 ms apart; the client reads a little and goes.
  const int fd = ConnectLoopback(gw->http_port());
  ASSERT_GE(fd, 0);
  const std::string body =
      R"({"model":"endless","stream":true,"messages":[{"role":"user","content":"hi"}]})";
  const std::string req =
      absl::StrCat("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n", Bearer(kAdminKey), "\r\n",
                   kJson, "\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  while (got.find("data: ") == std::string::npos || got.size() < 2000) {
    const ssize_t n = read(fd, buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, n);
  }
  close(fd);
  ASSERT_EQ(AwaitEvents(db.dsn(), 1), 1);
  const Event e = Events(db.dsn()).begin()->second;
  EXPECT_EQ(e.outcome, "cancelled");
  EXPECT_TRUE(e.estimated);
  EXPECT_GT(e.completion, 0);
  EXPECT_GT(e.cost, 0);
}

// Five processes; usage-metering killed with SIGKILL in the middle of the load and started again a
// moment later. While it is down, admission fails closed (503); every request it admitted (every
// 200) has exactly one event afterwards, and nothing else is there.
TEST(MeteringTest, KillingUsageMeteringLosesNothingAcknowledgedAndDoublesNothing) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(
      db, Options({"edge", "router", "provider-adapter", "team-management", "usage-metering"}));
  const std::string key = gw->TeamKey("[]");
  std::atomic<bool> killed{false};
  std::thread killer;
  std::vector<Answer> answers = Load(*gw, key, 8, 40, [&](int done) {
    if (done == 100 && !killed.exchange(true)) {
      killer = std::thread([&] {
        gw->process(4).Signal(SIGKILL);
        gw->process(4).Wait(absl::Seconds(10));
        absl::SleepFor(absl::Seconds(1));  // Unreachable for a while.
        gw->Restart(4);
      });
    }
  });
  if (killer.joinable()) killer.join();
  int ok = 0;
  for (const Answer& a : answers) {
    EXPECT_TRUE(a.status == 200 || a.status == 503) << a.status;
    if (a.status == 503) {
      EXPECT_THAT(a.error, ::testing::HasSubstr("metering_unavailable"));
    }
    ok += a.status == 200 ? 1 : 0;
  }
  EXPECT_GT(ok, 100);
  EXPECT_LT(ok, static_cast<int>(answers.size()));  // Some were refused while it was down.
  ASSERT_EQ(AwaitEvents(db.dsn(), ok), ok);
  EXPECT_EQ(CountEvents(db.dsn(), /*distinct=*/true), ok);
  std::map<std::string, Event> events = Events(db.dsn());
  for (const Answer& a : answers) {
    if (a.status == 200) {
      EXPECT_TRUE(events.contains(a.request_id)) << a.request_id;
    }
  }
}

// The acknowledgement follows the commit, deterministically: with Postgres hung, usage-metering
// takes settlements but can commit none, so it acknowledges none and the routers keep them; killed
// then and started again once Postgres is back, it receives them again and writes each once. (A
// metering that acknowledged before committing loses every one of them here.)
TEST(MeteringTest, NothingIsAcknowledgedBeforeItIsCommitted) {
  AIM_PG_TEST_DATABASE(db);
  std::smatch pm;
  const std::string admin_dsn = PgAdminDsn();
  ASSERT_TRUE(std::regex_search(admin_dsn, pm, std::regex("port=([0-9]+)")));
  TcpProxy proxy(std::stoi(pm[1].str()));
  Gateway::Options o =
      Options({"edge", "router", "provider-adapter", "team-management", "usage-metering"});
  o.dsn_port = proxy.port();
  auto gw = Gateway::Start(db, o);
  const std::string key = gw->TeamKey("[]");
  ASSERT_EQ(Ask(*gw, key, kModels[0], false).status, 200);  // The key is cached now.
  ASSERT_EQ(AwaitEvents(db.dsn(), 1), 1);

  proxy.Freeze();
  std::vector<Answer> answers = Load(*gw, key, 4, 5);
  for (const Answer& a : answers) ASSERT_EQ(a.status, 200) << a.error;
  absl::SleepFor(absl::Seconds(1));  // Settled, sent, stuck in usage-metering's writers.
  gw->process(4).Signal(SIGKILL);
  gw->process(4).Wait(absl::Seconds(10));
  proxy.Thaw();
  gw->Restart(4);
  EXPECT_EQ(AwaitEvents(db.dsn(), 21), 21);
  std::map<std::string, Event> events = Events(db.dsn());
  for (const Answer& a : answers) EXPECT_TRUE(events.contains(a.request_id)) << a.request_id;
}

// Settlements held by the router (a batch that never fills, a long max_delay) reach Postgres when
// the router's process is stopped with SIGTERM.
TEST(MeteringTest, SigtermOfTheRoutersProcessFlushesItsSettlements) {
  AIM_PG_TEST_DATABASE(db);
  Gateway::Options o =
      Options({"edge", "router,provider-adapter", "team-management,usage-metering"});
  o.yaml = "metering: {settle_max_batch: 1000, settle_max_delay: 1h}\n";
  auto gw = Gateway::Start(db, o);
  const std::string key = gw->TeamKey("[]");
  std::vector<Answer> answers = Load(*gw, key, 4, 5);
  for (const Answer& a : answers) ASSERT_EQ(a.status, 200);
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(CountEvents(db.dsn()), 0);  // Held by the router.
  gw->process(1).Signal(SIGTERM);
  EXPECT_EQ(gw->process(1).Wait(absl::Seconds(30)), 0) << gw->process(1).output();
  EXPECT_EQ(AwaitEvents(db.dsn(), 20), 20);
  gw->Restart(1);  // For the gateway's own orderly stop.
}

// usage-metering on its own: text that COPY must escape arrives intact, a settlement sent twice
// is one event, and a malformed one is skipped without holding the others back.
TEST(MeteringTest, EventsAreWrittenExactlyOnceWithTheirTextIntact) {
  AIM_PG_TEST_DATABASE(db);
  auto pool = db::ConnectionPool::Create({.dsn = db.dsn(), .size = 2});
  ASSERT_TRUE(pool.ok());
  ASSERT_TRUE(db::ApplyMigrations(**pool, db::EmbeddedMigrations()).ok());
  usage::UsageMetering metering(*std::move(pool));
  auto settle = [&](const usage::v1::SettleRequest& req) {
    absl::Notification done;
    absl::Status status;
    metering.Settle({}, req, [&](absl::StatusOr<usage::v1::SettleResponse> r) {
      status = r.status();
      done.Notify();
    });
    done.WaitForNotification();
    return status;
  };
  usage::v1::SettleRequest req;
  usage::v1::Settlement& s = *req.add_settlements();
  s.set_request_id("req_awkward");
  s.mutable_start_time()->set_seconds(1'800'000'000);
  s.mutable_start_time()->set_nanos(123'456'000);
  s.set_kind("chat");
  s.set_outcome("ok");
  s.set_team("teams/team_x");
  s.set_cost_center("tab\there, back\\slash, new\nline, ünïcödé");
  s.mutable_usage()->set_cost_nano_usd(1'500);
  usage::v1::Settlement& bad = *req.add_settlements();
  bad = s;
  bad.set_request_id("req_bad");
  bad.set_outcome("exploded");
  ASSERT_TRUE(settle(req).ok());
  ASSERT_TRUE(settle(req).ok());  // Again, as a router retrying after a lost answer.

  pqxx::connection c(db.dsn());
  pqxx::work tx(c);
  pqxx::result r = tx.exec(
      "SELECT request_id, cost_center, team_id, cost_nano_usd, "
      "extract(epoch FROM start_time)::numeric(20,6)::text FROM usage_events");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0][0].as<std::string>(), "req_awkward");
  EXPECT_EQ(r[0][1].as<std::string>(), s.cost_center());
  EXPECT_EQ(r[0][2].as<std::string>(), "team_x");
  EXPECT_EQ(r[0][3].as<int64_t>(), 1'500);
  EXPECT_EQ(r[0][4].as<std::string>(), "1800000000.123456");
}

}  // namespace
}  // namespace aimarket::testing
