// The edge's route table: literal paths and templates with captures, order, methods (405 naming
// those the path takes), and captures that must be clean parameters.

#include "services/edge/route_table.h"

#include "gtest/gtest.h"

namespace aimarket::edge {
namespace {

Route Named(std::string pattern, std::string name, std::string method = "GET") {
  return {.pattern = std::move(pattern),
          .method = std::move(method),
          .name = std::move(name),
          .respond = [](const Call&) { return HttpResponse{}; }};
}

// The route's name and its captures ("name a=1 b=2"), "404", or "405 <allow>".
std::string Find(const RouteTable& t, absl::string_view path, absl::string_view method = "GET",
                 std::initializer_list<const char*> captures = {}) {
  const RouteTable::Found f = t.Find(method, path);
  if (f.route == nullptr) return f.allow.empty() ? "404" : absl::StrCat("405 ", f.allow);
  std::string out = f.route->name;
  for (const char* c : captures) absl::StrAppend(&out, " ", c, "=", f.params[c]);
  return out;
}

TEST(RouteTableTest, LiteralRoutesMatchOnlyTheirPath) {
  RouteTable t;
  t.Add(Named("/v1/chat/completions", "chat", "POST"));
  EXPECT_EQ(Find(t, "/v1/chat/completions", "POST"), "chat");
  EXPECT_EQ(Find(t, "/v1/chat/completions/", "POST"), "404");
  EXPECT_EQ(Find(t, "/v1/chat/completions/x", "POST"), "404");
  EXPECT_EQ(Find(t, "/v1/chat/completionsx", "POST"), "404");
  EXPECT_EQ(Find(t, "/v1/chat", "POST"), "404");
  EXPECT_EQ(Find(t, "", "POST"), "404");
  EXPECT_EQ(Find(t, "v1/chat/completions", "POST"), "404");
}

TEST(RouteTableTest, TemplatesCaptureDecodedSegments) {
  RouteTable t;
  t.Add(Named("/v1/teams/{team_id}/usage", "usage"));
  t.Add(Named("/v1/teams/{team_id}/keys/{key_id}", "key", "DELETE"));
  EXPECT_EQ(Find(t, "/v1/teams/t1/usage", "GET", {"team_id"}), "usage team_id=t1");
  EXPECT_EQ(Find(t, "/v1/teams/a%20b/usage", "GET", {"team_id"}), "usage team_id=a b");
  EXPECT_EQ(Find(t, "/v1/teams/t1/keys/k9", "DELETE", {"team_id", "key_id"}),
            "key team_id=t1 key_id=k9");
  // An unknown capture name reads as "".
  EXPECT_EQ(Find(t, "/v1/teams/t1/usage", "GET", {"nope"}), "usage nope=");
  // A capture is one non-empty, clean segment: else the path names nothing.
  EXPECT_EQ(Find(t, "/v1/teams//usage"), "404");
  EXPECT_EQ(Find(t, "/v1/teams/a%2Fb/usage"), "404");
  EXPECT_EQ(Find(t, "/v1/teams/a%00b/usage"), "404");
  EXPECT_EQ(Find(t, "/v1/teams/a%0Ab/usage"), "404");
  EXPECT_EQ(Find(t, absl::StrCat("/v1/teams/", std::string(257, 'x'), "/usage")), "404");
  EXPECT_EQ(Find(t, "/v1/teams/t1/usage/x"), "404");
  EXPECT_EQ(Find(t, "/v1/teams/t1"), "404");
}

TEST(RouteTableTest, ARestCaptureTakesTheRestOfThePath) {
  RouteTable t;
  t.Add(Named("/v1/models", "list"));
  t.Add(Named("/v1/models/{model...}", "one"));
  EXPECT_EQ(Find(t, "/v1/models", "GET", {"model"}), "list model=");
  EXPECT_EQ(Find(t, "/v1/models/gpt-4o", "GET", {"model"}), "one model=gpt-4o");
  EXPECT_EQ(Find(t, "/v1/models/meta-llama/Llama-3.1-8B", "GET", {"model"}),
            "one model=meta-llama/Llama-3.1-8B");
  EXPECT_EQ(Find(t, "/v1/models/"), "404");
  EXPECT_EQ(Find(t, "/v1/models/a//b"), "404");
}

TEST(RouteTableTest, TheFirstRouteAddedWins) {
  RouteTable t;
  t.Add(Named("/v1/teams/special", "special"));
  t.Add(Named("/v1/teams/{team_id}", "team"));
  t.Add(Named("/v1/teams/shadowed", "shadowed"));
  EXPECT_EQ(Find(t, "/v1/teams/special"), "special");
  EXPECT_EQ(Find(t, "/v1/teams/t1"), "team");
  EXPECT_EQ(Find(t, "/v1/teams/shadowed"), "team");
}

TEST(RouteTableTest, AnotherMethodIsA405NamingThoseThePathTakes) {
  RouteTable t;
  t.Add(Named("/v1/teams/{team_id}", "get", "GET"));
  t.Add(Named("/v1/teams/{team_id}", "patch", "PATCH"));
  t.Add(Named("/v1/teams/{team_id}", "delete", "DELETE"));
  t.Add(Named("/p", "p", "POST"));
  EXPECT_EQ(Find(t, "/v1/teams/t1", "PATCH"), "patch");
  // GET takes HEAD; nothing else takes another method, and method names are case-sensitive.
  EXPECT_EQ(Find(t, "/v1/teams/t1", "HEAD"), "get");
  EXPECT_EQ(Find(t, "/v1/teams/t1", "POST"), "405 GET, PATCH, DELETE");
  EXPECT_EQ(Find(t, "/p", "GET"), "405 POST");
  EXPECT_EQ(Find(t, "/p", "HEAD"), "405 POST");
  EXPECT_EQ(Find(t, "/p", "post"), "405 POST");
  // A path no template matches is a 404 whatever the method.
  EXPECT_EQ(Find(t, "/v1/teams/a%2Fb", "POST"), "404");

  HttpRequest req;
  req.method = "PUT";
  req.target = "/v1/teams/t1?x=1";
  const HttpResponse r = t.RespondNow(req, rpc::CallContext{});
  EXPECT_EQ(r.status, 405);
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers.back(), (std::pair<std::string, std::string>("allow", "GET, PATCH, DELETE")));
  req.target = "/nothing";
  EXPECT_EQ(t.RespondNow(req, rpc::CallContext{}).status, 404);
}

}  // namespace
}  // namespace aimarket::edge
