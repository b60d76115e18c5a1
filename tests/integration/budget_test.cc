// Budgets and rate limits through the real gateway, as clients meet them: aimarketd (one process,
// or several), the mock upstream, Postgres. Hundreds of concurrent requests from one team; what
// was spent is read back from the usage events with SQL and must never pass the budget.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <pqxx/pqxx>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/util/gateway.h"
#include "tests/util/pg_test_util.h"
#include "tests/util/process.h"

namespace aimarket::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A request of `kAsk` is estimated at 5 prompt tokens ("hi": one token per two bytes, plus four
// for the message) and allows 20 output tokens: at $1 / $2 per million tokens its worst case is
// 5 × 1,000 + 20 × 2,000 = 45,000 nano-dollars.
constexpr int64_t kWorstCase = 45'000;
// Each model's mock answers with a given usage: "exact" uses exactly the worst case, "cheap" far
// less (1 prompt and 2 completion tokens: 5,000 nano-dollars), "slow" is "exact" streamed over
// about three seconds.
constexpr int64_t kCheapCost = 5'000;

Gateway::Options Options(absl::string_view metering_yaml = "recovery_grace: 0s",
                         std::vector<std::string> topology = {}) {
  Gateway::Options o;
  o.models =
      "  - {name: exact, deployments: [{provider: mock, model: "
      "\"synthetic?tokens=20&chunks=4&prompt_tokens=5\", input_per_mtok: 1, output_per_mtok: 2}]}\n"
      "  - {name: cheap, deployments: [{provider: mock, model: "
      "\"synthetic?tokens=2&chunks=2&prompt_tokens=1\", input_per_mtok: 1, output_per_mtok: 2}]}\n"
      "  - {name: b-slow, deployments: [{provider: mock, model: "
      "\"synthetic?tokens=20&chunks=10&delay_ms=300&prompt_tokens=5\", input_per_mtok: 1, "
      "output_per_mtok: 2}]}\n";
  o.models +=
      "  - {name: b-long, deployments: [{provider: mock, model: "
      "\"synthetic?tokens=20&chunks=20&delay_ms=500&prompt_tokens=5\", input_per_mtok: 1, "
      "output_per_mtok: 2}]}\n";
  o.yaml = absl::StrCat("metering: {", metering_yaml, "}\n");
  o.topology = std::move(topology);
  return o;
}

std::string AskBody(absl::string_view model, bool stream) {
  return absl::StrCat(R"({"model":")", model, R"(","max_tokens":20,)", kHi,
                      stream ? R"(,"stream":true,"stream_options":{"include_usage":true})" : "",
                      "}");
}

struct Answer {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
};

// `n` requests at once (alternately plain and streamed), each from its own thread.
std::vector<Answer> Burst(const Gateway& gw, const std::vector<std::string>& keys,
                          absl::string_view model, int n) {
  std::vector<Answer> answers(n);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < n) std::this_thread::yield();  // As close to together as threads go.
      HttpResult r = gw.Chat(AskBody(model, i % 2 == 1), keys[i % keys.size()]);
      answers[i] = {r.status, r.body, r.headers};
    });
  }
  for (std::thread& t : threads) t.join();
  return answers;
}

// Counts the 200s; every other answer must be the budget's 429.
int Admitted(const std::vector<Answer>& answers, absl::string_view whose = "") {
  int ok = 0;
  for (const Answer& a : answers) {
    if (a.status == 200) {
      ++ok;
      continue;
    }
    EXPECT_EQ(a.status, 429) << a.body;
    EXPECT_THAT(a.body, HasSubstr(R"("type":"insufficient_quota")"));
    EXPECT_THAT(a.body, HasSubstr(R"("code":"budget_exceeded")"));
    EXPECT_THAT(a.body, HasSubstr("remains this month"));
    if (!whose.empty()) {
      EXPECT_THAT(a.body, HasSubstr(whose));
    }
  }
  return ok;
}

HttpResult Admin(const Gateway& gw, const std::string& method, const std::string& path,
                 const std::string& body = "") {
  return HttpRequest(method, gw.Url(path), {Bearer(kAdminKey), kJson}, body);
}

// A team with `budget` dollars a month and settings JSON `more`, its member, and `keys` keys of
// that member (each with the key fields `key_json`, e.g. `"monthly_budget":0.001`).
struct Team {
  std::string id;
  std::vector<std::string> keys;
};
Team MakeTeam(const Gateway& gw, absl::string_view settings, int keys = 1,
              absl::string_view key_json = "") {
  static std::atomic<int> made{0};
  Team t;
  HttpResult team = Admin(gw, "POST", "/v1/teams",
                          absl::StrCat(R"({"name":"budgeted )", made.fetch_add(1),
                                       R"(","settings":{)", settings, "}}"));
  EXPECT_EQ(team.status, 201) << team.body;
  std::smatch m;
  EXPECT_TRUE(std::regex_search(team.body, m, std::regex(R"re("id":"(team_[0-9A-Za-z]+)")re")));
  t.id = m[1].str();
  EXPECT_EQ(Admin(gw, "POST", absl::StrCat("/v1/teams/", t.id, "/members"),
                  R"({"user_id":"m@x","role":"member"})")
                .status,
            201);
  for (int i = 0; i < keys; ++i) {
    HttpResult key =
        Admin(gw, "POST", absl::StrCat("/v1/teams/", t.id, "/keys"),
              absl::StrCat(R"({"user_id":"m@x")", key_json.empty() ? "" : ",", key_json, "}"));
    EXPECT_EQ(key.status, 201) << key.body;
    std::smatch k;
    EXPECT_TRUE(std::regex_search(key.body, k, std::regex(R"re("key":"(sk-am-[0-9A-Za-z]+)")re")));
    t.keys.push_back(k[1].str());
  }
  return t;
}

struct Spend {
  int64_t events = 0;
  int64_t nanos = 0;
};

// The team's (or one key's) events and what they cost, once `events` are written (or a minute).
Spend Recorded(const std::string& dsn, const std::string& team_id, int64_t events,
               const std::string& key_id = "") {
  auto read = [&] {
    pqxx::connection c(dsn);
    pqxx::work tx(c);
    pqxx::row r = tx.exec_params1(
        "SELECT count(*), coalesce(sum(cost_nano_usd), 0)::bigint FROM usage_events "
        "WHERE team_id = $1 AND ($2 = '' OR key_id = $2)",
        team_id, key_id);
    return Spend{r[0].as<int64_t>(), r[1].as<int64_t>()};
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  Spend s = read();
  while (s.events < events && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(100));
    s = read();
  }
  absl::SleepFor(absl::Milliseconds(300));  // Anything more would be an extra: let it land.
  return read();
}

// The id ("key_...") of the key that `secret` is, from the team's key list.
std::string KeyIdOf(const Gateway& gw, const std::string& team_id, const std::string& secret) {
  HttpResult list = Admin(gw, "GET", absl::StrCat("/v1/teams/", team_id, "/keys?limit=100"));
  std::smatch m;
  const std::string prefix = secret.substr(0, 12);
  const std::regex re(
      absl::StrCat(R"re("id":"(key_[0-9A-Za-z]+)"[^}]*"prefix":")re", prefix, "\""));
  EXPECT_TRUE(std::regex_search(list.body, m, re)) << list.body;
  return m[1].str();
}

TEST(BudgetTest, TwoHundredConcurrentRequestsNeverSpendPastTheBudget) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options());
  // Exactly fifty worst cases fit.
  const Team team = MakeTeam(*gw, R"("monthly_budget":0.00225)");
  const int ok = Admitted(Burst(*gw, team.keys, "exact", 200), "the team's monthly budget");
  // The usage equals the estimate: nothing is freed by settling, so exactly fifty.
  EXPECT_EQ(ok, 50);
  const Spend spent = Recorded(db.dsn(), team.id, ok);
  EXPECT_EQ(spent.events, ok);
  EXPECT_EQ(spent.nanos, 50 * kWorstCase);
  EXPECT_LE(spent.nanos, 2'250'000);
  // The month's usage as the team's owner sees it.
  HttpResult t = Admin(*gw, "GET", absl::StrCat("/v1/teams/", team.id));
  EXPECT_THAT(t.body, HasSubstr(R"("spent_usd":0.00225,"reserved_usd":0,"remaining_usd":0)"));
}

TEST(BudgetTest, UsageBelowTheEstimateAdmitsMoreAndStillNeverOvershoots) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options());
  const int64_t budget = 2'250'000;
  const Team team = MakeTeam(*gw, R"("monthly_budget":0.00225)");
  // Bursts until one is refused whole: each request holds its worst case until it is settled at
  // a ninth of it, so the settled ones make room for more.
  int ok = 0;
  for (int wave = 0; wave < 20; ++wave) {
    const int admitted = Admitted(Burst(*gw, team.keys, "cheap", 100));
    ok += admitted;
    if (admitted == 0) break;
    absl::SleepFor(absl::Milliseconds(200));  // Let the wave's events be written.
  }
  EXPECT_GT(ok, 50);
  const Spend spent = Recorded(db.dsn(), team.id, ok);
  EXPECT_EQ(spent.events, ok);
  EXPECT_EQ(spent.nanos, ok * kCheapCost);
  EXPECT_LE(spent.nanos, budget);
  // And the budget was used: a refusal came only once a worst case no longer fit.
  EXPECT_GT(spent.nanos, budget - kWorstCase);
}

TEST(BudgetTest, AKeysOwnBudgetBelowTheTeamsHolds) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options());
  // The team could pay for 22 requests; the key for 10.
  const Team team = MakeTeam(*gw, R"("monthly_budget":1)", 1, R"("monthly_budget":0.00045)");
  const int ok = Admitted(Burst(*gw, team.keys, "exact", 100), "this API key's monthly budget");
  EXPECT_EQ(ok, 10);
  const std::string key_id = KeyIdOf(*gw, team.id, team.keys[0]);
  const Spend spent = Recorded(db.dsn(), team.id, ok, key_id);
  EXPECT_EQ(spent.events, 10);
  EXPECT_EQ(spent.nanos, 10 * kWorstCase);
  // The key's object shows its month.
  HttpResult keys = Admin(*gw, "GET", absl::StrCat("/v1/teams/", team.id, "/keys"));
  EXPECT_THAT(keys.body, HasSubstr(R"("monthly_budget":0.00045)"));
  EXPECT_THAT(keys.body, HasSubstr(R"("spent_usd":0.00045,"reserved_usd":0,"remaining_usd":0)"));
}

TEST(BudgetTest, TwoKeysShareTheTeamsBudget) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options());
  const Team team = MakeTeam(*gw, R"("monthly_budget":0.00225)", 2);
  const int ok = Admitted(Burst(*gw, team.keys, "exact", 200), "the team's monthly budget");
  EXPECT_EQ(ok, 50);
  const Spend spent = Recorded(db.dsn(), team.id, ok);
  EXPECT_EQ(spent.nanos, 50 * kWorstCase);
}

TEST(BudgetTest, AModelWithNoKnownPriceIsRefusedForABudget) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options());
  const Team budgeted = MakeTeam(*gw, R"("monthly_budget":1)");
  const Team free = MakeTeam(*gw, R"("model_access":[])");
  // Routed by its prefix to the OpenAI-type mock; the price table does not know it.
  const std::string body = absl::StrCat(R"({"model":"gpt-unpriced-test",)", kHi, "}");
  HttpResult r = gw->Chat(body, budgeted.keys[0]);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("code":"model_price_unknown")"));
  EXPECT_THAT(r.body, HasSubstr("gpt-unpriced-test"));
  EXPECT_EQ(gw->Chat(body, free.keys[0]).status, 200);
}

TEST(RateLimitTest, RequestsPerMinuteCountDownInTheHeadersThenRefuse) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options());
  const Team team =
      MakeTeam(*gw, R"("rate_limits":{"requests_per_minute":5,"tokens_per_minute":1000})");
  for (int i = 0; i < 5; ++i) {
    HttpResult r = gw->Chat(AskBody("exact", i % 2 == 1), team.keys[0]);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers["x-ratelimit-limit-requests"], "5");
    EXPECT_EQ(r.headers["x-ratelimit-remaining-requests"], absl::StrCat(4 - i));
    EXPECT_FALSE(r.headers["x-ratelimit-reset-requests"].empty());
    EXPECT_EQ(r.headers["x-ratelimit-limit-tokens"], "1000");
    // Each request's estimate (5 + 20) is counted at admission.
    EXPECT_LE(std::stoll(r.headers["x-ratelimit-remaining-tokens"]), 1000 - 25 * (i + 1));
  }
  HttpResult refused = gw->Chat(AskBody("exact", false), team.keys[0]);
  EXPECT_EQ(refused.status, 429);
  EXPECT_THAT(refused.body, HasSubstr(R"("code":"rate_limit_exceeded")"));
  EXPECT_THAT(refused.body, HasSubstr(R"("type":"requests")"));
  EXPECT_THAT(refused.body, HasSubstr("requests per minute (the team's limit): limit 5, used 5"));
  EXPECT_FALSE(refused.headers["retry-after"].empty());
  EXPECT_EQ(refused.headers["x-ratelimit-remaining-requests"], "0");
  // A refusal is not a request: nothing was recorded for it.
  EXPECT_EQ(Recorded(db.dsn(), team.id, 5).events, 5);
}

TEST(RateLimitTest, ParallelRequestsOfAKey) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options());
  const Team team =
      MakeTeam(*gw, R"("model_access":[])", 1, R"("rate_limits":{"max_parallel_requests":3})");
  std::vector<Answer> answers(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      HttpResult r = gw->Chat(AskBody("b-slow", true), team.keys[0]);
      answers[i] = {r.status, r.body, r.headers};
    });
  }
  for (std::thread& t : threads) t.join();
  int ok = 0;
  for (const Answer& a : answers) {
    if (a.status == 200) {
      ++ok;
    } else {
      EXPECT_EQ(a.status, 429);
      EXPECT_THAT(a.body, HasSubstr("parallel requests (this API key's limit): limit 3"));
    }
  }
  EXPECT_EQ(ok, 3);  // Each stream takes three seconds: none ended before the others asked.
}

// The data plane in one process, usage-metering in another.
const std::vector<std::string> kApart = {"edge,router,provider-adapter,team-management",
                                         "usage-metering"};

// `n` streams of b-long (ten seconds each) started from threads of their own.
std::vector<std::thread> LongStreams(const Gateway& gw, const std::string& key, int n,
                                     std::vector<Answer>& answers) {
  answers.resize(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&gw, &key, &answers, i] {
      HttpResult r = gw.Chat(AskBody("b-long", true), key);
      answers[i] = {r.status, r.body, r.headers};
    });
  }
  return threads;
}

// usage-metering killed while ten streams hold the whole budget, and started again: it refuses
// the team during its grace period, learns the ten reservations from the router, and so refuses
// the team's requests after it too (its events hold no spend yet: the streams run on). Nothing is
// charged twice.
TEST(BudgetRestartTest, AMeteringRestartKeepsTheRule) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options("recovery_grace: 2s", kApart));
  const Team team = MakeTeam(*gw, R"("monthly_budget":0.00045)");  // Ten worst cases.
  absl::SleepFor(absl::Seconds(2));                                // The grace of the first start.
  std::vector<Answer> streams;
  std::vector<std::thread> threads = LongStreams(*gw, team.keys[0], 10, streams);
  // All ten admitted and streaming (the eleventh is refused), then metering dies.
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!absl::StrContains(Admin(*gw, "GET", absl::StrCat("/v1/teams/", team.id)).body,
                            R"("requests_in_flight":10)") &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(gw->Chat(AskBody("exact", false), team.keys[0]).status, 429);
  gw->process(1).Signal(SIGKILL);
  gw->process(1).Wait(absl::Seconds(10));
  gw->Restart(1);
  // Through the grace period and well past it, while the streams still run.
  int recovering = 0, over_budget = 0, admitted = 0;
  deadline = absl::Now() + absl::Seconds(4);
  while (absl::Now() < deadline) {
    HttpResult r = gw->Chat(AskBody("exact", false), team.keys[0]);
    if (r.status == 200) ++admitted;
    if (r.status == 503 && absl::StrContains(r.body, "metering_recovering")) ++recovering;
    if (r.status == 429 && absl::StrContains(r.body, "budget_exceeded")) ++over_budget;
    absl::SleepFor(absl::Milliseconds(100));
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(admitted, 0);
  EXPECT_GT(recovering, 0);
  EXPECT_GT(over_budget, 0);  // After the grace: the re-sent reservations hold the budget.
  for (const Answer& a : streams) EXPECT_EQ(a.status, 200) << a.body;
  const Spend spent = Recorded(db.dsn(), team.id, 10);
  EXPECT_EQ(spent.events, 10);
  EXPECT_EQ(spent.nanos, 10 * kWorstCase);
}

// The router's process killed in the middle of five streams: usage-metering hears no more from
// it and, once reservation_ttl has passed, charges each reservation at its reserved amount as an
// "unsettled" event.
TEST(BudgetRestartTest, ADeadRoutersReservationsAreChargedWhenTheyExpire) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options("recovery_grace: 0s, reservation_ttl: 3s", kApart));
  const Team team = MakeTeam(*gw, R"("monthly_budget":1)");
  std::vector<Answer> streams;
  std::vector<std::thread> threads = LongStreams(*gw, team.keys[0], 5, streams);
  absl::SleepFor(absl::Seconds(2));  // Admitted, streaming.
  gw->process(0).Signal(SIGKILL);
  for (std::thread& t : threads) t.join();
  const Spend spent = Recorded(db.dsn(), team.id, 5);
  EXPECT_EQ(spent.events, 5);
  EXPECT_EQ(spent.nanos, 5 * kWorstCase);
  pqxx::connection c(db.dsn());
  pqxx::work tx(c);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM usage_events WHERE outcome = 'unsettled' AND "
                     "cost_nano_usd = reserved_nano_usd")[0]
                .as<int64_t>(),
            5)
      << gw->process(1).output();
}

// The rate windows are rebuilt from the events too: a restart forgets no request of the day.
TEST(BudgetRestartTest, RequestsOfTheDaySurviveAMeteringRestart) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options("recovery_grace: 0s", kApart));
  const Team team = MakeTeam(*gw, R"("rate_limits":{"requests_per_day":4})");
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(gw->Chat(AskBody("exact", false), team.keys[0]).status, 200);
  ASSERT_EQ(Recorded(db.dsn(), team.id, 3).events, 3);
  gw->process(1).Signal(SIGKILL);
  gw->process(1).Wait(absl::Seconds(10));
  gw->Restart(1);
  // Metering answers again once its gRPC port does; then one more of the day's four fits, and
  // the fifth is refused, where a forgetful metering would admit four more.
  HttpResult r;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    r = gw->Chat(AskBody("exact", false), team.keys[0]);
  } while (r.status == 503 && absl::Now() < deadline);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-ratelimit-remaining-requests"], "0");
  r = gw->Chat(AskBody("exact", false), team.keys[0]);
  EXPECT_EQ(r.status, 429);
  EXPECT_THAT(r.body, HasSubstr("requests per day (the team's limit): limit 4, used 4"));
}

// HMAC-SHA256 of `text` under `key`, in hex: computed here, apart from the gateway's code.
std::string HmacHex(const std::string& key, const std::string& text) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppend(&hex, absl::Hex(mac[i], absl::kZeroPad2));
  return hex;
}

// The requests the mock's webhook sink received.
std::vector<rapidjson::Document> Hooks(const Gateway& gw) {
  std::vector<rapidjson::Document> hooks;
  rapidjson::Document all;
  const std::string body = gw.MockRequests();
  all.Parse(body.data(), body.size());
  if (!all.IsArray()) return hooks;
  for (const rapidjson::Value& r : all.GetArray()) {
    if (!absl::StartsWith(r["path"].GetString(), "/__mock/sink")) continue;
    rapidjson::Document d;
    d.CopyFrom(r, d.GetAllocator());
    hooks.push_back(std::move(d));
  }
  return hooks;
}

std::string Field(const std::string& json, const std::string& name) {
  std::smatch m;
  return std::regex_search(json, m, std::regex(absl::StrCat("\"", name, "\":\"([^\"]*)\"")))
             ? m[1].str()
             : "";
}

TEST(BudgetAlertTest, EachThresholdFiresOnceWithASignedWebhook) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db, Options());
  HttpResult created =
      Admin(*gw, "POST", "/v1/teams",
            absl::StrCat(R"({"name":"alerted","settings":{"monthly_budget":0.00045,)",
                         R"("budget_alerts":[100,50],"alert_webhook_url":"http://127.0.0.1:)",
                         gw->mock_port(), R"(/__mock/sink/budget"}})"));
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string team_id = Field(created.body, "id");
  const std::string secret = Field(created.body, "webhook_secret");  // Shown once, here.
  ASSERT_TRUE(absl::StartsWith(secret, "whsec_")) << created.body;
  EXPECT_THAT(created.body, HasSubstr(R"("budget_alerts":[50,100])"));
  HttpResult read = Admin(*gw, "GET", absl::StrCat("/v1/teams/", team_id));
  EXPECT_THAT(read.body, Not(HasSubstr(secret)));
  EXPECT_THAT(read.body, HasSubstr(R"("webhook_secret_set":true)"));
  ASSERT_EQ(Admin(*gw, "POST", absl::StrCat("/v1/teams/", team_id, "/members"),
                  R"({"user_id":"m@x","role":"member"})")
                .status,
            201);
  const std::string key = Field(
      Admin(*gw, "POST", absl::StrCat("/v1/teams/", team_id, "/keys"), R"({"user_id":"m@x"})").body,
      "key");
  gw->ClearMock();
  // Ten worst cases spend the budget: 50% after the fifth, 100% after the tenth.
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(gw->Chat(AskBody("exact", i % 2 == 1), key).status, 200);
    absl::SleepFor(absl::Milliseconds(i == 4 ? 1500 : 0));  // The 50% alert alone first.
  }
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (Hooks(*gw).size() < 2 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(100));
  absl::SleepFor(absl::Seconds(2));  // Sweeps that could fire again, if anything could.
  std::vector<rapidjson::Document> hooks = Hooks(*gw);
  ASSERT_EQ(hooks.size(), 2u);
  std::vector<int> thresholds;
  for (const rapidjson::Document& h : hooks) {
    const std::string body = h["body"].GetString();
    const std::string signature = h["headers"]["x-aimarket-signature"].GetString();
    std::smatch m;
    ASSERT_TRUE(std::regex_match(signature, m, std::regex("t=([0-9]+),v1=([0-9a-f]{64})")));
    EXPECT_EQ(m[2].str(), HmacHex(secret, absl::StrCat(m[1].str(), ".", body))) << body;
    EXPECT_EQ(std::string(h["headers"]["x-aimarket-event"].GetString()),
              "budget.threshold_reached");
    rapidjson::Document b;
    b.Parse(body.data(), body.size());
    EXPECT_EQ(std::string(b["team_id"].GetString()), team_id);
    EXPECT_EQ(b["budget_usd"].GetDouble(), 0.00045);
    thresholds.push_back(b["threshold_percent"].GetInt());
    EXPECT_GE(b["spent_usd"].GetDouble(), 0.00045 * b["threshold_percent"].GetInt() / 100);
  }
  EXPECT_THAT(thresholds, ::testing::ElementsAre(50, 100));
  pqxx::connection c(db.dsn());
  pqxx::work tx(c);
  EXPECT_EQ(
      tx.exec1("SELECT count(*) FROM budget_alerts WHERE delivery = 'delivered'")[0].as<int64_t>(),
      2);
  EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM audit_log WHERE team_id = $1 AND action = "
                            "'budget.alert'",
                            team_id)[0]
                .as<int64_t>(),
            2);
}

TEST(BudgetAlertTest, ADeadWebhookIsRetriedWithoutHoldingBackRequests) {
  AIM_PG_TEST_DATABASE(db);
  // A webhook that takes the connection and never answers.
  const int dead = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(dead, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(dead, 64), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(dead, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto gw = Gateway::Start(
      db, Options("recovery_grace: 0s, webhook_timeout: 1s, webhook_min_backoff: 1s"));
  const Team team =
      MakeTeam(*gw, absl::StrCat(R"("monthly_budget":1,"budget_alerts":[1],"alert_webhook_url":)",
                                 R"("http://127.0.0.1:)", ntohs(addr.sin_port), R"(/hook")"));
  // $0.01 (one percent) in 223 requests; then more, while the deliveries time out and retry.
  for (int i = 0; i < 260; ++i) {
    ASSERT_EQ(gw->Chat(AskBody("exact", false), team.keys[0]).status, 200) << i;
  }
  pqxx::connection c(db.dsn());
  auto attempts = [&] {
    pqxx::work tx(c);
    return tx.exec1("SELECT coalesce(max(attempts), 0) FROM budget_alerts")[0].as<int64_t>();
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (attempts() < 2 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(200));
  EXPECT_GE(attempts(), 2);
  pqxx::work tx(c);
  pqxx::row r = tx.exec1("SELECT delivery, last_error, count(*) OVER () FROM budget_alerts");
  EXPECT_EQ(r[0].as<std::string>(), "pending");
  EXPECT_FALSE(r[1].as<std::string>().empty());
  EXPECT_EQ(r[2].as<int64_t>(), 1);
  close(dead);
}

}  // namespace
}  // namespace aimarket::testing
