// The teams REST API (team_routes.h) over team-management on an in-memory store: the JSON shapes
// of docs/teams.md, strict bodies naming the field at fault, pages, 404 for paths that name
// nothing, 405 naming the methods. The same routes over Postgres run end to end in teams.test.mjs.

#include "services/edge/team_routes.h"

#include <rapidjson/document.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/time/fake_clock.h"
#include "gtest/gtest.h"
#include "services/team_management/team_management.h"
#include "tests/fakes/in_memory_team_store.h"

namespace aimarket::edge {
namespace {

constexpr char kAdminKey[] = "bootstrap-secret";

class TeamRoutesTest : public ::testing::Test {
 protected:
  TeamRoutesTest()
      : clock_(absl::FromUnixSeconds(1'800'000'000)),
        team_(std::make_unique<team::InMemoryTeamStore>(clock_), kAdminKey, clock_) {
    ctx_.authorization = absl::StrCat("Bearer ", kAdminKey);
    ctx_.request_id = "req_test";
    AddTeamRoutes(routes_, team_);
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "") {
    HttpRequest req;
    req.method = method;
    req.target = target;
    req.body = body;
    return routes_.RespondNow(req, ctx_);
  }

  // The body of a successful answer with `status`, parsed.
  rapidjson::Document Expect(int status, const HttpResponse& r) {
    EXPECT_EQ(r.status, status) << r.body;
    rapidjson::Document d;
    d.Parse(r.body.data(), r.body.size());
    EXPECT_FALSE(d.HasParseError()) << r.body;
    return d;
  }

  // The `param` and `code` of an error answer with `status`.
  std::pair<std::string, std::string> Error(int status, const HttpResponse& r) {
    rapidjson::Document d = Expect(status, r);
    if (!d.IsObject() || !d.HasMember("error")) {
      ADD_FAILURE() << "not an error: " << r.body;
      return {};
    }
    const rapidjson::Value& e = d["error"];
    return {e["param"].IsString() ? e["param"].GetString() : "",
            e["code"].IsString() ? e["code"].GetString() : ""};
  }

  void CreateTeam(const std::string& id) {
    Expect(201, Call("POST", "/v1/teams",
                     absl::StrCat(R"({"id":")", id, R"(","name":"Team )", id, R"("})")));
  }

  time::FakeClock clock_;
  team::TeamManagement team_;
  rpc::CallContext ctx_;
  RouteTable routes_;
};

TEST_F(TeamRoutesTest, CreatesAndShowsATeam) {
  rapidjson::Document t =
      Expect(201, Call("POST", "/v1/teams",
                       R"({"id":"research","name":"Research","settings":{"model_access":["gpt-4o"],
                    "monthly_budget":12.5,"rate_limits":{"requests_per_minute":60},
                    "cost_center":"cc-7"}})"));
  EXPECT_STREQ(t["id"].GetString(), "research");
  EXPECT_STREQ(t["object"].GetString(), "team");
  EXPECT_STREQ(t["name"].GetString(), "Research");
  EXPECT_EQ(t["created_at"].GetInt64(), 1'800'000'000);
  const rapidjson::Value& s = t["settings"];
  ASSERT_EQ(s["model_access"].Size(), 1u);
  EXPECT_STREQ(s["model_access"][0].GetString(), "gpt-4o");
  EXPECT_DOUBLE_EQ(s["monthly_budget"].GetDouble(), 12.5);
  EXPECT_EQ(s["rate_limits"]["requests_per_minute"].GetInt64(), 60);
  EXPECT_EQ(s["rate_limits"]["requests_per_day"].GetInt64(), 0);
  EXPECT_STREQ(s["cost_center"].GetString(), "cc-7");

  rapidjson::Document got = Expect(200, Call("GET", "/v1/teams/research"));
  EXPECT_STREQ(got["name"].GetString(), "Research");

  clock_.Advance(absl::Seconds(5));
  rapidjson::Document patched =
      Expect(200, Call("PATCH", "/v1/teams/research", R"({"settings":{"cost_center":"cc-8"}})"));
  EXPECT_STREQ(patched["settings"]["cost_center"].GetString(), "cc-8");
  // Only the field sent changes.
  EXPECT_DOUBLE_EQ(patched["settings"]["monthly_budget"].GetDouble(), 12.5);
  EXPECT_EQ(patched["updated_at"].GetInt64(), 1'800'000'005);

  rapidjson::Document deleted = Expect(200, Call("DELETE", "/v1/teams/research"));
  EXPECT_STREQ(deleted["id"].GetString(), "research");
  EXPECT_STREQ(deleted["object"].GetString(), "team.deleted");
  EXPECT_TRUE(deleted["deleted"].GetBool());
  EXPECT_EQ(Error(404, Call("GET", "/v1/teams/research")).first, "");
}

TEST_F(TeamRoutesTest, BodiesAreStrictAndNameTheFieldAtFault) {
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(Error(400, Call("POST", "/v1/teams", R"({"name":"x","colour":"red"})")),
            P("colour", "invalid_value"));
  EXPECT_EQ(Error(400, Call("POST", "/v1/teams", R"({"id":"x"})")).first, "name");
  EXPECT_EQ(Error(400, Call("POST", "/v1/teams", R"({"name":7})")).first, "name");
  EXPECT_EQ(Error(400, Call("POST", "/v1/teams", R"({"name":"x","id":""})")).first, "id");
  EXPECT_EQ(Error(400, Call("POST", "/v1/teams", R"({"name":"x","settings":{"budget":1}})")).first,
            "settings.budget");
  EXPECT_EQ(
      Error(400, Call("POST", "/v1/teams",
                      R"({"name":"x","settings":{"rate_limits":{"requests_per_minute":-1}}})"))
          .first,
      "settings.rate_limits.requests_per_minute");
  EXPECT_EQ(Error(400, Call("POST", "/v1/teams", R"({"name":"x","settings":{"model_access":[1]}})"))
                .first,
            "settings.model_access");
  EXPECT_EQ(Error(400, Call("POST", "/v1/teams", "[1]")).second, "invalid_json");
  EXPECT_EQ(Error(400, Call("POST", "/v1/teams", "{")).first, "");
  // Nothing was created by any of them.
  rapidjson::Document list = Expect(200, Call("GET", "/v1/teams"));
  EXPECT_EQ(list["data"].Size(), 0u);

  CreateTeam("t1");
  EXPECT_EQ(Error(400, Call("PATCH", "/v1/teams/t1", "{}")).first, "");
  EXPECT_EQ(
      Error(400, Call("POST", "/v1/teams/t1/members", R"({"user_id":"a","role":"boss"})")).first,
      "role");
  EXPECT_EQ(
      Error(400, Call("POST", "/v1/teams/t1/keys", R"({"user_id":"a","expires_at":"tomorrow"})"))
          .first,
      "expires_at");
}

TEST_F(TeamRoutesTest, ListsPageLikeOpenAi) {
  for (const char* id : {"a", "b", "c"}) {
    CreateTeam(id);
    clock_.Advance(absl::Seconds(1));
  }
  rapidjson::Document p1 = Expect(200, Call("GET", "/v1/teams?limit=2"));
  EXPECT_STREQ(p1["object"].GetString(), "list");
  ASSERT_EQ(p1["data"].Size(), 2u);
  EXPECT_STREQ(p1["first_id"].GetString(), "a");
  EXPECT_STREQ(p1["last_id"].GetString(), "b");
  EXPECT_TRUE(p1["has_more"].GetBool());
  rapidjson::Document p2 = Expect(200, Call("GET", "/v1/teams?limit=2&after=b"));
  ASSERT_EQ(p2["data"].Size(), 1u);
  EXPECT_STREQ(p2["data"][0]["id"].GetString(), "c");
  EXPECT_FALSE(p2["has_more"].GetBool());
  EXPECT_EQ(Error(400, Call("GET", "/v1/teams?limit=0")).first, "limit");
  EXPECT_EQ(Error(400, Call("GET", "/v1/teams?limit=101")).first, "limit");
  EXPECT_EQ(Error(400, Call("GET", "/v1/teams?limit=two")).first, "limit");
}

TEST_F(TeamRoutesTest, MembersKeysAndTheAuditLog) {
  CreateTeam("t1");
  rapidjson::Document m =
      Expect(201, Call("POST", "/v1/teams/t1/members", R"({"user_id":"ann@x","role":"owner"})"));
  EXPECT_STREQ(m["object"].GetString(), "team.member");
  EXPECT_STREQ(m["role"].GetString(), "owner");
  Expect(201, Call("POST", "/v1/teams/t1/members", R"({"user_id":"bob@x","role":"member"})"));
  rapidjson::Document changed =
      Expect(200, Call("PATCH", "/v1/teams/t1/members/bob@x", R"({"role":"viewer"})"));
  EXPECT_STREQ(changed["role"].GetString(), "viewer");
  EXPECT_EQ(Expect(200, Call("GET", "/v1/teams/t1/members"))["data"].Size(), 2u);

  rapidjson::Document k =
      Expect(201, Call("POST", "/v1/teams/t1/keys",
                       R"({"name":"ci","user_id":"ann@x","expires_at":1900000000})"));
  EXPECT_STREQ(k["object"].GetString(), "team.api_key");
  EXPECT_STREQ(k["name"].GetString(), "ci");
  EXPECT_EQ(k["expires_at"].GetInt64(), 1'900'000'000);
  EXPECT_TRUE(k["last_used_at"].IsNull());
  ASSERT_TRUE(k.HasMember("key")) << "the secret is shown once, at creation";
  const std::string secret = k["key"].GetString();
  EXPECT_EQ(secret.rfind(k["prefix"].GetString(), 0), 0u);
  const std::string key_id = k["id"].GetString();
  // Listed without its secret.
  rapidjson::Document keys = Expect(200, Call("GET", "/v1/teams/t1/keys"));
  ASSERT_EQ(keys["data"].Size(), 1u);
  EXPECT_FALSE(keys["data"][0].HasMember("key"));

  rapidjson::Document revoked = Expect(200, Call("DELETE", "/v1/teams/t1/keys/" + key_id));
  EXPECT_STREQ(revoked["object"].GetString(), "team.api_key.deleted");
  EXPECT_STREQ(revoked["id"].GetString(), key_id.c_str());
  rapidjson::Document gone = Expect(200, Call("DELETE", "/v1/teams/t1/members/bob@x"));
  EXPECT_STREQ(gone["object"].GetString(), "team.member.deleted");

  // Every change above, audited in the API's own shapes.
  rapidjson::Document audit = Expect(200, Call("GET", "/v1/teams/t1/audit?limit=100"));
  ASSERT_GE(audit["data"].Size(), 6u);
  bool saw_member_update = false;
  for (const rapidjson::Value& e : audit["data"].GetArray()) {
    EXPECT_STREQ(e["object"].GetString(), "team.audit_entry");
    EXPECT_STREQ(e["request_id"].GetString(), "req_test");
    if (std::string(e["action"].GetString()) == "member.update") {
      saw_member_update = true;
      EXPECT_STREQ(e["before"]["role"].GetString(), "member");
      EXPECT_STREQ(e["after"]["role"].GetString(), "viewer");
    }
  }
  EXPECT_TRUE(saw_member_update);
}

TEST_F(TeamRoutesTest, PathsThatNameNothingAre404AndOtherMethods405) {
  CreateTeam("t1");
  for (const char* path :
       {"/v1/teams/t1/", "/v1/teams//members", "/v1/teams/t1/bots", "/v1/teams/t1/keys/k/x",
        "/v1/teams/t1/audit/1", "/v1/teams/%00", "/v1/teams/a%2Fb"}) {
    const HttpResponse r = Call("GET", path);
    EXPECT_EQ(r.status, 404) << path << ": " << r.body;
  }
  struct Case {
    const char* method;
    const char* path;
    const char* allow;
  };
  for (const Case& c :
       {Case{"PUT", "/v1/teams", "GET, POST"}, Case{"POST", "/v1/teams/t1", "GET, PATCH, DELETE"},
        Case{"DELETE", "/v1/teams/t1/members", "GET, POST"},
        Case{"GET", "/v1/teams/t1/members/ann", "PATCH, DELETE"},
        Case{"GET", "/v1/teams/t1/keys/k1", "PATCH, DELETE"},
        Case{"POST", "/v1/teams/t1/audit", "GET"}}) {
    const HttpResponse r = Call(c.method, c.path, "{}");
    EXPECT_EQ(r.status, 405) << c.method << " " << c.path;
    std::string allow;
    for (const auto& [k, v] : r.headers)
      if (k == "allow") allow = v;
    EXPECT_EQ(allow, c.allow) << c.method << " " << c.path;
  }
  // A HEAD is the GET it stands for (the server drops the body), never another method's branch.
  for (const char* path : {"/v1/teams", "/v1/teams/t1", "/v1/teams/t1/members", "/v1/teams/t1/keys",
                           "/v1/teams/t1/audit"}) {
    const HttpResponse head = Call("HEAD", path);
    const HttpResponse get = Call("GET", path);
    EXPECT_EQ(head.status, 200) << path << ": " << head.body;
    EXPECT_EQ(head.body, get.body) << path;
  }
}

TEST_F(TeamRoutesTest, TheCallersRoleIsTeamManagementsToCheck) {
  CreateTeam("t1");
  ctx_.authorization = "Bearer not-a-key";
  EXPECT_EQ(Call("GET", "/v1/teams/t1").status, 401);
  ctx_.authorization.clear();
  EXPECT_EQ(Call("POST", "/v1/teams", R"({"name":"x"})").status, 401);
}

TEST_F(TeamRoutesTest, AKeyCarriesItsOwnLimitsAndPatchChangesOnlyWhatItNames) {
  CreateTeam("t1");
  Expect(201, Call("POST", "/v1/teams/t1/members", R"({"user_id":"ann","role":"member"})"));
  rapidjson::Document k = Expect(
      201,
      Call(
          "POST", "/v1/teams/t1/keys",
          R"({"user_id":"ann","monthly_budget":2.5,"rate_limits":{"requests_per_minute":30,"max_parallel_requests":2}})"));
  EXPECT_EQ(k["monthly_budget"].GetDouble(), 2.5);
  EXPECT_EQ(k["rate_limits"]["requests_per_minute"].GetInt64(), 30);
  EXPECT_EQ(k["rate_limits"]["max_parallel_requests"].GetInt64(), 2);
  const std::string path = absl::StrCat("/v1/teams/t1/keys/", k["id"].GetString());

  rapidjson::Document p =
      Expect(200, Call("PATCH", path, R"({"rate_limits":{"tokens_per_minute":1000},"name":"ci"})"));
  EXPECT_STREQ(p["name"].GetString(), "ci");
  EXPECT_EQ(p["rate_limits"]["tokens_per_minute"].GetInt64(), 1000);
  EXPECT_EQ(p["rate_limits"]["requests_per_minute"].GetInt64(), 30);  // Not named: kept.
  EXPECT_EQ(p["monthly_budget"].GetDouble(), 2.5);
  p = Expect(200, Call("PATCH", path, R"({"monthly_budget":null,"rate_limits":null})"));
  EXPECT_EQ(p["monthly_budget"].GetDouble(), 0);
  EXPECT_EQ(p["rate_limits"]["requests_per_minute"].GetInt64(), 0);

  // Strict bodies: the field at fault is named, and nothing changes.
  EXPECT_EQ(Error(400, Call("PATCH", path, R"({"rate_limits":{"requests_per_hour":1}})")).first,
            "rate_limits.requests_per_hour");
  EXPECT_EQ(
      Error(400, Call("PATCH", path, R"({"rate_limits":{"max_parallel_requests":-1}})")).first,
      "rate_limits.max_parallel_requests");
  EXPECT_EQ(Error(400, Call("PATCH", path, R"({"monthly_budget":"5"})")).first, "monthly_budget");
  EXPECT_EQ(Error(400, Call("PATCH", path, R"({"member":"bob"})")).first, "member");
  EXPECT_EQ(Error(400, Call("PATCH", path, "{}")).second, "invalid_value");
  EXPECT_EQ(Error(404, Call("PATCH", "/v1/teams/t1/keys/key_nope", R"({"name":"x"})")).second,
            "api_key_not_found");
  rapidjson::Document list = Expect(200, Call("GET", "/v1/teams/t1/keys"));
  EXPECT_STREQ(list["data"][0]["name"].GetString(), "ci");
}

TEST_F(TeamRoutesTest, BudgetAlertsAndTheirWebhookSecretShownOnceNeverAudited) {
  CreateTeam("t1");
  EXPECT_EQ(
      Error(400, Call("PATCH", "/v1/teams/t1", R"({"settings":{"budget_alerts":[0]}})")).first,
      "settings.budget_alerts");
  EXPECT_EQ(
      Error(400, Call("PATCH", "/v1/teams/t1", R"({"settings":{"budget_alerts":"50"}})")).first,
      "settings.budget_alerts");
  for (const char* url :
       {"ftp://x/y", "http://", "https://user:pw@hooks.example/x", "http://hooks.example/a b"}) {
    EXPECT_EQ(Error(400, Call("PATCH", "/v1/teams/t1",
                              absl::StrCat(R"({"settings":{"alert_webhook_url":")", url, R"("}})")))
                  .first,
              "settings.alert_webhook_url")
        << url;
  }
  rapidjson::Document t = Expect(
      200,
      Call(
          "PATCH", "/v1/teams/t1",
          R"({"settings":{"budget_alerts":[100,50,80,50],"alert_webhook_url":"https://hooks.example/aim"}})"));
  ASSERT_TRUE(t.HasMember("webhook_secret"));
  const std::string first = t["webhook_secret"].GetString();
  EXPECT_EQ(first.rfind("whsec_", 0), 0u);
  EXPECT_EQ(t["settings"]["budget_alerts"].Size(), 3u);  // Sorted, once each.
  EXPECT_EQ(t["settings"]["budget_alerts"][0].GetInt(), 50);
  // The URL's path may be a secret of its own (Slack's are): reads show its origin only.
  EXPECT_STREQ(t["settings"]["alert_webhook_url"].GetString(), "https://hooks.example/…");
  // Later answers only say that one exists.
  rapidjson::Document again = Expect(200, Call("PATCH", "/v1/teams/t1", R"({"name":"T one"})"));
  EXPECT_FALSE(again.HasMember("webhook_secret"));
  EXPECT_TRUE(again["webhook_secret_set"].GetBool());
  rapidjson::Document rotated = Expect(200, Call("POST", "/v1/teams/t1/webhook_secret"));
  ASSERT_TRUE(rotated.HasMember("webhook_secret"));
  EXPECT_NE(std::string(rotated["webhook_secret"].GetString()), first);
  const HttpResponse audit = Call("GET", "/v1/teams/t1/audit?limit=100");
  EXPECT_EQ(audit.status, 200);
  EXPECT_EQ(audit.body.find(first), std::string::npos);
  EXPECT_EQ(audit.body.find(rotated["webhook_secret"].GetString()), std::string::npos);
}

}  // namespace
}  // namespace aimarket::edge
