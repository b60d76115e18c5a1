// Usage analytics through the real gateway: aimarketd on Postgres, clients over HTTP. The sums of
// every grouping against the raw events (read back with SQL), who may read what, and CSV exports:
// RFC 4180 that parses, formulas defused, streamed in bounded memory, and clients that stop
// reading or go away.

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <pqxx/pqxx>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/util/gateway.h"
#include "tests/util/pg_test_util.h"
#include "tests/util/process.h"

namespace aimarket::testing {
namespace {

const absl::TimeZone kUtc = absl::UTCTimeZone();

HttpResult Get(const Gateway& gw, const std::string& path, absl::string_view key = kAdminKey,
               std::vector<std::string> headers = {}) {
  headers.push_back(Bearer(key));
  return HttpRequest("GET", gw.Url(path), headers);
}

HttpResult Admin(const Gateway& gw, const std::string& method, const std::string& path,
                 const std::string& body = "") {
  return HttpRequest(method, gw.Url(path), {Bearer(kAdminKey), kJson}, body);
}

std::string Match(const std::string& text, const char* re) {
  std::smatch m;
  EXPECT_TRUE(std::regex_search(text, m, std::regex(re))) << text;
  return m.size() > 1 ? m[1].str() : "";
}

std::string NewTeam(const Gateway& gw, absl::string_view settings = "") {
  static int made = 0;
  HttpResult t =
      Admin(gw, "POST", "/v1/teams",
            absl::StrCat(R"({"name":"usage )", ++made, R"(","settings":{)", settings, "}}"));
  EXPECT_EQ(t.status, 201) << t.body;
  return Match(t.body, R"re("id":"(team_[0-9A-Za-z]+)")re");
}

// A member of `team` with `role`, and a key of theirs.
std::string MemberKey(const Gateway& gw, const std::string& team, const std::string& user,
                      const std::string& role) {
  EXPECT_EQ(Admin(gw, "POST", absl::StrCat("/v1/teams/", team, "/members"),
                  absl::StrCat(R"({"user_id":")", user, R"(","role":")", role, R"("})"))
                .status,
            201);
  HttpResult k = Admin(gw, "POST", absl::StrCat("/v1/teams/", team, "/keys"),
                       absl::StrCat(R"({"user_id":")", user, R"("})"));
  EXPECT_EQ(k.status, 201) << k.body;
  return Match(k.body, R"re("key":"(sk-am-[0-9A-Za-z]+)")re");
}

// Creates the monthly partitions of usage_events from `from` to `to` (SQL seeding may reach
// months usage-metering has not made).
void EnsurePartitions(pqxx::work& tx, absl::CivilMonth from, absl::CivilMonth to) {
  for (absl::CivilMonth m = from; m <= to; ++m) {
    tx.exec0(absl::StrFormat(
        "CREATE TABLE IF NOT EXISTS usage_events_%04d%02d PARTITION OF usage_events FOR VALUES "
        "FROM ('%s') TO ('%s')",
        m.year(), m.month(), absl::FormatTime("%Y-%m-%d", absl::FromCivil(m, kUtc), kUtc),
        absl::FormatTime("%Y-%m-%d", absl::FromCivil(m + 1, kUtc), kUtc)));
  }
}

// `n` events of `team` seeded with SQL, one every `step` seconds from `from`, their dimensions
// varied (and their names awkward for CSV: quotes, commas, newlines, a leading '=').
void Seed(const std::string& dsn, const std::string& team, absl::Time from, int n, int step) {
  pqxx::connection c(dsn);
  pqxx::work tx(c);
  tx.exec0("SET client_min_messages = warning");
  EnsurePartitions(tx, absl::ToCivilMonth(from, kUtc),
                   absl::ToCivilMonth(from + absl::Seconds(int64_t{n} * step), kUtc));
  tx.exec_params0(
      "INSERT INTO usage_events (request_id, start_time, team_id, key_id, member, cost_center, "
      "kind, model, provider, upstream_model, deployment, attempts, experiment, variant, "
      "prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, reasoning_tokens, "
      "cost_nano_usd, reserved_nano_usd, estimated, unpriced, outcome, http_status, latency_us, "
      "ttft_us) "
      "SELECT 'req_seed_' || g, to_timestamp($2::bigint) + g * $4 * interval '1 second', $1, "
      "'key_' || g % 5, (ARRAY['alice@x', 'b\"ob@x', 'carol, c@x'])[g % 3 + 1], "
      "(ARRAY['research', '=HYPERLINK(\"http://evil\",\"x\")', E'multi\\nline, \"cc\"', "
      "'+1', '-2', '@sum'])[g % 6 + 1], "
      "CASE WHEN g % 9 = 0 THEN 'embeddings' ELSE 'chat' END, "
      "(ARRAY['gpt-4o', 'claude-sonnet', 'gemini-flash'])[g % 3 + 1], "
      "(ARRAY['openai', 'anthropic'])[g % 2 + 1], 'upstream', 0, 1, '', '', "
      "10 + g % 100, g % 7, 0, 1 + g % 50, g % 3, 1000 + g * 37, 5000, false, false, "
      "(ARRAY['ok', 'ok', 'ok', 'error', 'cancelled', 'cut'])[g % 6 + 1], 200, "
      "1000 + g % 5000 * 997, 500 + g % 300 * 101 "
      "FROM generate_series(1, $3) g",
      team, absl::ToUnixSeconds(from), n, step);
  tx.commit();
}

struct Sums {
  int64_t requests = 0, errors = 0, prompt = 0, cached = 0, completion = 0, reasoning = 0;
  std::string cost;  // Dollars as the API writes them.
  bool operator==(const Sums&) const = default;
};

std::string Dollars(int64_t nanos) {
  // As money::Usd::ToDecimal: no trailing zeros, "0" for none.
  std::string s = absl::StrFormat("%d.%09d", nanos / 1'000'000'000, nanos % 1'000'000'000);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

const std::map<std::string, std::string>& EventColumn() {
  static const auto* m =
      new std::map<std::string, std::string>{{"day", "(start_time AT TIME ZONE 'UTC')::date::text"},
                                             {"model", "model"},
                                             {"provider", "provider"},
                                             {"key", "key_id"},
                                             {"member", "member"},
                                             {"cost_center", "cost_center"}};
  return *m;
}

// The sums by `dims`, from the raw events.
std::map<std::vector<std::string>, Sums> FromEvents(const std::string& dsn, const std::string& team,
                                                    const std::vector<std::string>& dims,
                                                    absl::Time start, absl::Time end) {
  std::vector<std::string> cols;
  for (const std::string& d : dims) cols.push_back(EventColumn().at(d));
  const std::string select = cols.empty() ? "" : absl::StrCat(absl::StrJoin(cols, ", "), ", ");
  std::string sql = absl::StrCat(
      "SELECT ", select,
      "count(*), count(*) FILTER (WHERE outcome IN ('error', 'cut', 'unsettled')), "
      "sum(prompt_tokens), sum(cached_tokens), sum(completion_tokens), sum(reasoning_tokens), "
      "sum(cost_nano_usd) FROM usage_events WHERE team_id = $1 AND start_time >= to_timestamp($2) "
      "AND start_time < to_timestamp($3)");
  if (!cols.empty()) {
    std::vector<std::string> pos;
    for (size_t i = 1; i <= cols.size(); ++i) pos.push_back(absl::StrCat(i));
    absl::StrAppend(&sql, " GROUP BY ", absl::StrJoin(pos, ", "));
  }
  pqxx::connection c(dsn);
  pqxx::work tx(c);
  std::map<std::vector<std::string>, Sums> out;
  for (const pqxx::row& r :
       tx.exec_params(sql, team, absl::ToUnixSeconds(start), absl::ToUnixSeconds(end))) {
    std::vector<std::string> key;
    for (size_t i = 0; i < cols.size(); ++i) key.push_back(r[static_cast<int>(i)].c_str());
    const int n = static_cast<int>(cols.size());
    if (r[n].as<int64_t>() == 0) continue;  // No group by and no events.
    Sums s{r[n].as<int64_t>(),
           r[n + 1].as<int64_t>(),
           r[n + 2].as<int64_t>(),
           r[n + 3].as<int64_t>(),
           r[n + 4].as<int64_t>(),
           r[n + 5].as<int64_t>(),
           Dollars(r[n + 6].as<int64_t>())};
    out[key] = s;
  }
  return out;
}

// The sums by `dims`, from the API's JSON report.
std::map<std::vector<std::string>, Sums> FromApi(const std::string& body,
                                                 const std::vector<std::string>& dims,
                                                 Sums* total) {
  rapidjson::Document d;
  d.Parse(body.c_str());
  std::map<std::vector<std::string>, Sums> out;
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("data")) {
    ADD_FAILURE() << body.substr(0, 500);
    return out;
  }
  auto sums = [](const rapidjson::Value& v) {
    std::string cost = v["cost_usd"].IsString() ? v["cost_usd"].GetString() : "";
    if (v["cost_usd"].IsNumber()) {
      // The body holds the exact decimal text; rapidjson's double is only to locate it.
      cost = "";
    }
    return Sums{v["requests"].GetInt64(),
                v["errors"].GetInt64(),
                v["prompt_tokens"].GetInt64(),
                v["cached_tokens"].GetInt64(),
                v["completion_tokens"].GetInt64(),
                v["reasoning_tokens"].GetInt64(),
                cost};
  };
  for (const rapidjson::Value& row : d["data"].GetArray()) {
    std::vector<std::string> key;
    for (const std::string& dim : dims) {
      const char* name = dim == "key" ? "key_id" : dim.c_str();
      key.push_back(row[name].GetString());
    }
    out[key] = sums(row);
  }
  *total = sums(d["total"]);
  return out;
}

// The exact "cost_usd" texts of a JSON body, in order (rows, then the total).
std::vector<std::string> CostTexts(const std::string& body) {
  std::vector<std::string> out;
  static const std::regex re(R"re("cost_usd":([0-9.]+))re");
  for (auto it = std::sregex_iterator(body.begin(), body.end(), re); it != std::sregex_iterator();
       ++it) {
    out.push_back((*it)[1].str());
  }
  return out;
}

// RFC 4180: records of fields; false if the text is not well-formed CSV.
bool ParseCsv(const std::string& text, std::vector<std::vector<std::string>>& records) {
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field.push_back(c);
      }
      continue;
    }
    if (c == '"') {
      if (!field.empty() || was_quoted) return false;  // A quote inside an unquoted field.
      quoted = was_quoted = true;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else if (c == '\r') {
      if (i + 1 >= text.size() || text[i + 1] != '\n') return false;
      ++i;
      record.push_back(std::move(field));
      field.clear();
      was_quoted = false;
      records.push_back(std::move(record));
      record.clear();
    } else if (c == '\n') {
      return false;  // A bare LF outside quotes.
    } else {
      if (was_quoted) return false;
      field.push_back(c);
    }
  }
  return !quoted && field.empty() && record.empty();
}

absl::Time MonthStart(absl::Time t) { return absl::FromCivil(absl::ToCivilMonth(t, kUtc), kUtc); }
std::string Date(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, kUtc); }

// Sums of every grouping of the report against the raw events, over a month (and partition)
// boundary, for events written by the gateway and events seeded with SQL; the CSV of a grouping
// says the same as its JSON.
TEST(UsageApiTest, EveryGroupingSumsExactlyWhatTheEventsHold) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  const std::string team = NewTeam(*gw, R"("cost_center":"=cc, \"one\"")");
  const std::string key = MemberKey(*gw, team, "m@x", "member");
  // Around the first of this month (events may lie ahead of today: they are data).
  const absl::Time boundary = MonthStart(absl::Now());
  Seed(db.dsn(), team, boundary - absl::Hours(48), 3000, 115);
  for (int i = 0; i < 6; ++i) {
    HttpResult r = gw->Chat(absl::StrCat(R"({"model":"demo",)", kHi, "}"), key);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  const absl::Time start = boundary - absl::Hours(48);
  const absl::Time end = std::max(boundary + absl::Hours(96),
                                  absl::FromCivil(absl::ToCivilDay(absl::Now(), kUtc) + 1, kUtc));
  // The gateway's own events are committed before their answers only as settlements; wait for
  // them (usage-metering writes within milliseconds).
  for (int i = 0; i < 200; ++i) {
    if (FromEvents(db.dsn(), team, {"model"}, start, end).count({"demo"})) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  absl::SleepFor(absl::Milliseconds(300));
  const std::vector<std::string> all = {"day", "model", "provider", "key", "member", "cost_center"};
  for (int mask = 0; mask < 64; ++mask) {
    std::vector<std::string> dims;
    for (int i = 0; i < 6; ++i) {
      if (mask & (1 << i)) dims.push_back(all[i]);
    }
    const std::string path =
        absl::StrCat("/v1/teams/", team, "/usage?start=", Date(start), "&end=", Date(end),
                     "&group_by=", absl::StrJoin(dims, ","));
    HttpResult r = Get(*gw, path, key);
    ASSERT_EQ(r.status, 200) << path << " " << r.body;
    Sums total;
    std::map<std::vector<std::string>, Sums> api = FromApi(r.body, dims, &total);
    std::map<std::vector<std::string>, Sums> events = FromEvents(db.dsn(), team, dims, start, end);
    // Costs compared as the exact decimal texts of the body.
    std::vector<std::string> costs = CostTexts(r.body);
    ASSERT_EQ(costs.size(), api.size() + 1) << path;
    {
      rapidjson::Document d;
      d.Parse(r.body.c_str());
      size_t i = 0;
      for (const rapidjson::Value& row : d["data"].GetArray()) {
        std::vector<std::string> k;
        for (const std::string& dim : dims) {
          k.push_back(row[dim == "key" ? "key_id" : dim.c_str()].GetString());
        }
        api[k].cost = costs[i++];
      }
      total.cost = costs.back();
    }
    ASSERT_EQ(api.size(), events.size()) << path;
    for (const auto& [k, sums] : events) {
      ASSERT_TRUE(api.count(k)) << path << " " << absl::StrJoin(k, "|");
      EXPECT_TRUE(api[k] == sums) << path << " " << absl::StrJoin(k, "|") << ": requests "
                                  << api[k].requests << " vs " << sums.requests << ", cost "
                                  << api[k].cost << " vs " << sums.cost;
    }
    const Sums all_events = FromEvents(db.dsn(), team, {}, start, end).begin()->second;
    EXPECT_TRUE(total == all_events) << path;
    if (mask == 0) {
      EXPECT_EQ(total.requests, 3006);
    }
  }

  // The CSV of day × cost_center: the same rows and sums, its names escaped and defused.
  HttpResult csv = Get(*gw,
                       absl::StrCat("/v1/teams/", team, "/usage?start=", Date(start),
                                    "&end=", Date(end), "&group_by=day,cost_center&format=csv"),
                       key);
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_EQ(csv.headers["content-type"], "text/csv; charset=utf-8");
  std::vector<std::vector<std::string>> records;
  ASSERT_TRUE(ParseCsv(csv.body, records)) << csv.body.substr(0, 2000);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(absl::StrJoin(records[0], ","),
            "day,cost_center,requests,errors,cancelled,prompt_tokens,cached_tokens,"
            "cache_write_tokens,completion_tokens,reasoning_tokens,cost_usd,avg_latency_ms,"
            "avg_ttft_ms");
  std::map<std::vector<std::string>, Sums> events =
      FromEvents(db.dsn(), team, {"day", "cost_center"}, start, end);
  ASSERT_EQ(records.size(), events.size() + 1);
  for (size_t i = 1; i < records.size(); ++i) {
    const std::vector<std::string>& f = records[i];
    ASSERT_EQ(f.size(), 13u);
    // A cell a spreadsheet would run is prefixed with a quote; the stored name is otherwise
    // intact.
    std::string cc = f[1];
    if (!cc.empty() && cc[0] == '\'') {
      cc.erase(0, 1);
      EXPECT_TRUE(cc[0] == '=' || cc[0] == '+' || cc[0] == '-' || cc[0] == '@') << f[1];
    } else {
      EXPECT_FALSE(!cc.empty() && (cc[0] == '=' || cc[0] == '+' || cc[0] == '-' || cc[0] == '@'))
          << cc;
    }
    ASSERT_TRUE(events.count({f[0], cc})) << f[0] << " " << cc;
    const Sums& s = events[{f[0], cc}];
    EXPECT_EQ(f[2], absl::StrCat(s.requests));
    EXPECT_EQ(f[3], absl::StrCat(s.errors));
    EXPECT_EQ(f[10], s.cost);
  }

  // Bad parameters are 400s naming them, and change nothing.
  for (const auto& [query, param] :
       std::vector<std::pair<std::string, std::string>>{{"group_by=day,nope", "group_by"},
                                                        {"group_by=day,day", "group_by"},
                                                        {"group_by=team", "group_by"},
                                                        {"group_by=day,,model", "group_by"},
                                                        {"start=yesterday", "start"},
                                                        {"start=2026-11-01T10:00:00Z", "start"},
                                                        {"end=2026-13-01", "end"},
                                                        {"start=2026-11-02&end=2026-11-01", "end"},
                                                        {"start=2020-01-01&end=2026-01-01", "end"},
                                                        {"format=xml", "format"}}) {
    HttpResult bad = Get(*gw, absl::StrCat("/v1/teams/", team, "/usage?", query), key);
    EXPECT_EQ(bad.status, 400) << query << " " << bad.body;
    EXPECT_NE(bad.body.find(absl::StrCat(R"("param":")", param, "\"")), std::string::npos)
        << query << " " << bad.body;
  }
  HttpResult bad = Get(*gw, absl::StrCat("/v1/teams/", team, "/usage/events?limit=500"), key);
  EXPECT_EQ(bad.status, 400) << bad.body;
  bad = Get(*gw, absl::StrCat("/v1/teams/", team, "/usage/events?after=req_nothing"), key);
  EXPECT_EQ(bad.status, 400) << bad.body;
}

// Events newest first, paged like the other lists; the report's month and balance.
TEST(UsageApiTest, EventsPageNewestFirstAndTheReportShowsTheMonth) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  const std::string team = NewTeam(*gw, R"("monthly_budget":100)");
  const std::string key = MemberKey(*gw, team, "m@x", "viewer");
  const absl::Time from = absl::Now() - absl::Hours(1);
  Seed(db.dsn(), team, from, 45, 60);
  std::vector<std::string> ids;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    HttpResult r = Get(*gw,
                       absl::StrCat("/v1/teams/", team, "/usage/events?limit=20&start=", Date(from),
                                    after.empty() ? "" : "&after=", after),
                       key);
    ASSERT_EQ(r.status, 200) << r.body;
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    for (const rapidjson::Value& e : d["data"].GetArray()) {
      ids.push_back(e["id"].GetString());
      EXPECT_STREQ(e["object"].GetString(), "usage.event");
      EXPECT_STREQ(e["team_id"].GetString(), team.c_str());
    }
    if (!d["has_more"].GetBool()) break;
    after = d["last_id"].GetString();
  }
  ASSERT_EQ(ids.size(), 45u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], absl::StrCat("req_seed_", 45 - i));

  HttpResult report = Get(*gw, absl::StrCat("/v1/teams/", team, "/usage"), key);
  ASSERT_EQ(report.status, 200) << report.body;
  rapidjson::Document d;
  d.Parse(report.body.c_str());
  ASSERT_TRUE(d.HasMember("month")) << report.body;
  EXPECT_TRUE(d["month"]["remaining_usd"].IsNumber()) << report.body;
  EXPECT_EQ(d["month"]["month"].GetString(), absl::FormatTime("%Y-%m", absl::Now(), kUtc));
  EXPECT_STREQ(d["object"].GetString(), "usage.report");
}

// Every role of a team reads its own usage; another team's is a 404 for every role; only the
// platform admin reads across teams; a removed member's key reads nothing.
TEST(UsageApiTest, WhoMayReadWhat) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  const std::string a = NewTeam(*gw);
  const std::string b = NewTeam(*gw);
  const absl::Time from = absl::Now() - absl::Hours(2);
  Seed(db.dsn(), a, from, 10, 60);
  const std::string since = absl::StrCat("start=", Date(from));
  std::map<std::string, std::string> keys;
  for (const char* role : {"owner", "admin", "member", "viewer"}) {
    keys[absl::StrCat("a.", role)] = MemberKey(*gw, a, absl::StrCat(role, "@a"), role);
    keys[absl::StrCat("b.", role)] = MemberKey(*gw, b, absl::StrCat(role, "@b"), role);
  }
  const std::vector<std::string> team_paths = {
      absl::StrCat("/usage?", since), absl::StrCat("/usage?group_by=day,model&", since),
      absl::StrCat("/usage?format=csv&", since), absl::StrCat("/usage/events?", since),
      absl::StrCat("/usage/events?format=csv&", since)};
  for (const auto& [who, key] : keys) {
    for (const std::string& p : team_paths) {
      HttpResult r = Get(*gw, absl::StrCat("/v1/teams/", a, p), key);
      EXPECT_EQ(r.status, who[0] == 'a' ? 200 : 404) << who << " " << p << " " << r.body;
      if (who[0] == 'b') {
        EXPECT_EQ(r.body.find("req_seed_"), std::string::npos);
      }
      if (who[0] == 'a' && p.find("events") != std::string::npos) {
        EXPECT_NE(r.body.find("req_seed_10"), std::string::npos) << p;
      }
    }
    HttpResult across = Get(*gw, "/v1/usage?group_by=team,cost_center", key);
    EXPECT_EQ(across.status, 403) << who << " " << across.body;
  }
  for (const std::string& p : team_paths) {
    EXPECT_EQ(Get(*gw, absl::StrCat("/v1/teams/", a, p)).status, 200) << p;
    EXPECT_EQ(Get(*gw, absl::StrCat("/v1/teams/", a, p), "sk-am-not-a-key").status, 401) << p;
    EXPECT_EQ(HttpRequest("GET", gw->Url(absl::StrCat("/v1/teams/", a, p))).status, 401) << p;
    EXPECT_EQ(Get(*gw, absl::StrCat("/v1/teams/team_nope", p)).status, 404) << p;
  }
  HttpResult across = Get(*gw, "/v1/usage?group_by=team,cost_center");
  ASSERT_EQ(across.status, 200) << across.body;
  EXPECT_NE(across.body.find(absl::StrCat(R"("team_id":")", a, "\"")), std::string::npos);
  // Methods other than GET are 405s naming it.
  HttpResult post = HttpRequest("POST", gw->Url(absl::StrCat("/v1/teams/", a, "/usage")),
                                {Bearer(kAdminKey), kJson}, "{}");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers["allow"], "GET");
  // A removed member's keys are revoked: 401 from then on.
  ASSERT_EQ(Admin(*gw, "DELETE", absl::StrCat("/v1/teams/", a, "/members/viewer@a")).status, 200);
  EXPECT_EQ(Get(*gw, absl::StrCat("/v1/teams/", a, "/usage"), keys["a.viewer"]).status, 401);
  EXPECT_EQ(Get(*gw, absl::StrCat("/v1/teams/", a, "/usage"), keys["a.member"]).status, 200);
}

int64_t PeakRssKb(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    int64_t kb = 0;
    if (line.rfind("VmHWM:", 0) == 0 &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::StripSuffix(line.substr(6), "kB")),
                         &kb)) {
      return kb;
    }
  }
  return -1;
}

// The gateway's metric `name` (a series without labels).
double Metric(const Gateway& gw, const std::string& name) {
  HttpResult m = HttpRequest("GET", gw.Url("/metrics"));
  for (absl::string_view line : absl::StrSplit(m.body, '\n')) {
    if (absl::ConsumePrefix(&line, name) && absl::ConsumePrefix(&line, " ")) {
      double v = 0;
      if (absl::SimpleAtod(line, &v)) return v;
    }
  }
  return -1;
}

// A connection that sends `request` and then reads nothing (a receive buffer of 4 KiB): a client
// that stops reading.
int SendAndStopReading(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  return fd;
}

// 200,000 events seeded with SQL: their CSV parses, row for row, its awkward names intact and
// defused, streamed in bounded memory. A client that stops reading, and one that goes away, end
// their exports and give back their connections; exports go on working after them.
TEST(UsageApiTest, ACsvExportOfTwoHundredThousandEventsStreamsInBoundedMemory) {
  AIM_PG_TEST_DATABASE(db);
  Gateway::Options options;
  options.yaml = "metering: {export_stall_timeout: 5s}\n";
  // AddressSanitizer keeps freed memory in quarantine (256 MB by default), which would count as
  // held: a small one leaves the process's own peak.
  const char* asan = std::getenv("ASAN_OPTIONS");
  options.env["ASAN_OPTIONS"] =
      absl::StrCat(asan != nullptr ? asan : "", asan != nullptr ? ":" : "", "quarantine_size_mb=2");
  auto gw = Gateway::Start(db, options);
  const std::string team = NewTeam(*gw);
  const absl::Time from = absl::Now() - absl::Hours(24);
  constexpr int kEvents = 200'000;
  Seed(db.dsn(), team, from, kEvents, 0);  // All at one instant: ordered by request id.

  const int64_t rss_before = PeakRssKb(gw->process().pid());
  const std::string since = absl::StrCat("start=", Date(from));
  HttpResult csv = Get(*gw, absl::StrCat("/v1/teams/", team, "/usage/events?", since), kAdminKey,
                       {"Accept: text/csv"});
  ASSERT_EQ(csv.status, 200) << csv.body.substr(0, 500);
  const int64_t rss_after = PeakRssKb(gw->process().pid());
  std::vector<std::vector<std::string>> records;
  ASSERT_TRUE(ParseCsv(csv.body, records));
  ASSERT_EQ(records.size(), kEvents + 1u);
  EXPECT_EQ(records[0][0], "request_id");
  ASSERT_EQ(records[0][5], "cost_center");
  ASSERT_EQ(records[0][4], "member");
  std::map<std::string, int> cost_centers, members;
  for (size_t i = 1; i < records.size(); ++i) {
    ASSERT_EQ(records[i].size(), records[0].size()) << i;
    ++cost_centers[records[i][5]];
    ++members[records[i][4]];
  }
  EXPECT_EQ(cost_centers.size(), 6u);
  EXPECT_TRUE(cost_centers.count("'=HYPERLINK(\"http://evil\",\"x\")"));
  EXPECT_TRUE(cost_centers.count("multi\nline, \"cc\""));
  EXPECT_TRUE(cost_centers.count("'+1"));
  EXPECT_TRUE(cost_centers.count("'-2"));
  EXPECT_TRUE(cost_centers.count("'@sum"));
  EXPECT_TRUE(members.count("b\"ob@x"));
  EXPECT_TRUE(members.count("carol, c@x"));
  // The export is ~50 MB of CSV: held whole, it would raise the peak by more than that.
  EXPECT_LT(rss_after - rss_before, static_cast<int64_t>(csv.body.size() / 1024 / 2))
      << "peak RSS " << rss_before << " -> " << rss_after << " kB for " << csv.body.size()
      << " bytes of CSV";
  EXPECT_EQ(Metric(*gw, "aimarket_metering_exports_running"), 0);

  // A client that reads nothing after its request: its export ends at the stall timeout.
  const std::string request =
      absl::StrCat("GET /v1/teams/", team, "/usage/events?format=csv&", since,
                   " HTTP/1.1\r\nHost: x\r\n", Bearer(kAdminKey), "\r\n\r\n");
  auto connect = [&] { return SendAndStopReading(gw->http_port(), request); };
  auto wait_for_no_exports = [&] {
    double running = -1;
    for (int i = 0; i < 400 && running != 0; ++i) {
      absl::SleepFor(absl::Milliseconds(50));
      running = Metric(*gw, "aimarket_metering_exports_running");
    }
    return running;
  };
  const int stalled = connect();
  double running = 0;
  for (int i = 0; i < 100 && running != 1; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    running = Metric(*gw, "aimarket_metering_exports_running");
  }
  EXPECT_EQ(running, 1);
  EXPECT_EQ(wait_for_no_exports(), 0);  // Past the 5 s stall timeout.
  close(stalled);
  // One that goes away mid-export.
  const int gone = connect();
  char buf[4096];
  EXPECT_GT(read(gone, buf, sizeof(buf)), 0);
  close(gone);
  EXPECT_EQ(wait_for_no_exports(), 0);
  // Their connections are back: nothing of theirs is left in Postgres.
  {
    pqxx::connection c(db.dsn());
    pqxx::work tx(c);
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND query LIKE '%usage_export%' "
                       "AND state <> 'idle' AND pid <> pg_backend_pid()")[0]
                  .as<int>(),
              0);
  }
  // And exports still work, as many as the threads allow and more, one after another.
  for (int i = 0; i < 3; ++i) {
    HttpResult again = Get(
        *gw, absl::StrCat("/v1/teams/", team, "/usage?group_by=day&format=csv&", since), kAdminKey);
    EXPECT_EQ(again.status, 200);
    EXPECT_NE(again.body.find(absl::StrCat(",", kEvents, ",")), std::string::npos) << again.body;
  }
}

// The chart's topology: the edge apart from team-management and usage-metering, every analytics
// call crossing gRPC. Reports and events answer the same; an export streams through the gRPC
// stream's flow control, and a client that stops reading still ends its export on the metering
// side.
TEST(UsageApiTest, OverGrpcReportsEventsAndExportsBehaveTheSame) {
  AIM_PG_TEST_DATABASE(db);
  Gateway::Options options;
  options.yaml = "metering: {export_stall_timeout: 5s}\n";
  options.topology = {"edge,router,provider-adapter", "team-management,usage-metering"};
  auto gw = Gateway::Start(db, options);
  const std::string team = NewTeam(*gw);
  const std::string key = MemberKey(*gw, team, "v@x", "viewer");
  const absl::Time from = absl::Now() - absl::Hours(24);
  constexpr int kEvents = 100'000;
  Seed(db.dsn(), team, from, kEvents, 0);
  const std::string since = absl::StrCat("start=", Date(from));

  HttpResult report =
      Get(*gw, absl::StrCat("/v1/teams/", team, "/usage?group_by=model&", since), key);
  ASSERT_EQ(report.status, 200) << report.body;
  Sums total;
  std::map<std::vector<std::string>, Sums> api = FromApi(report.body, {"model"}, &total);
  EXPECT_EQ(api.size(), 3u);
  EXPECT_EQ(total.requests, kEvents);
  HttpResult events =
      Get(*gw, absl::StrCat("/v1/teams/", team, "/usage/events?limit=3&", since), key);
  ASSERT_EQ(events.status, 200) << events.body;
  EXPECT_NE(events.body.find("\"has_more\":true"), std::string::npos);
  EXPECT_EQ(Get(*gw, absl::StrCat("/v1/teams/", team, "/usage?", since), "sk-am-nope").status, 401);

  HttpResult csv =
      Get(*gw, absl::StrCat("/v1/teams/", team, "/usage/events?format=csv&", since), key);
  ASSERT_EQ(csv.status, 200);
  std::vector<std::vector<std::string>> records;
  ASSERT_TRUE(ParseCsv(csv.body, records));
  EXPECT_EQ(records.size(), kEvents + 1u);

  // A client that reads nothing: the export's transaction waits on its cursor ("idle in
  // transaction") until the stall timeout ends it.
  auto exporting = [&] {
    pqxx::connection c(db.dsn());
    pqxx::work tx(c);
    return tx
        .exec1(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query "
            "LIKE '%usage_export%' AND "
            "state <> 'idle' AND pid <> pg_backend_pid()")[0]
        .as<int>();
  };
  const std::string request =
      absl::StrCat("GET /v1/teams/", team, "/usage/events?format=csv&", since,
                   " HTTP/1.1\r\nHost: x\r\n", Bearer(key), "\r\n\r\n");
  const int fd = SendAndStopReading(gw->http_port(), request);
  int seen = 0;
  for (int i = 0; i < 100 && seen == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    seen = exporting();
  }
  EXPECT_EQ(seen, 1);
  for (int i = 0; i < 400 && seen != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
    seen = exporting();
  }
  EXPECT_EQ(seen, 0);
  close(fd);
}

}  // namespace
}  // namespace aimarket::testing
