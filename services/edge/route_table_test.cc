// The edge's route table: exact and subtree matches, order, and which methods a route takes.

#include "services/edge/route_table.h"

#include "gtest/gtest.h"

namespace aimarket::edge {
namespace {

Route Named(std::string path, Route::Match match, std::string name, std::string method = "") {
  Route r;
  r.path = std::move(path);
  r.match = match;
  r.name = std::move(name);
  r.method = std::move(method);
  return r;
}

std::string NameOf(const RouteTable& t, absl::string_view path) {
  const Route* r = t.Find(path);
  return r == nullptr ? "404" : r->name;
}

TEST(RouteTableTest, ExactRoutesMatchOnlyTheirPath) {
  RouteTable t;
  t.Add(Named("/v1/chat/completions", Route::Match::kExact, "chat", "POST"));
  EXPECT_EQ(NameOf(t, "/v1/chat/completions"), "chat");
  EXPECT_EQ(NameOf(t, "/v1/chat/completions/"), "404");
  EXPECT_EQ(NameOf(t, "/v1/chat/completions/x"), "404");
  EXPECT_EQ(NameOf(t, "/v1/chat/completionsx"), "404");
  EXPECT_EQ(NameOf(t, "/v1/chat"), "404");
  EXPECT_EQ(NameOf(t, ""), "404");
}

TEST(RouteTableTest, SubtreesMatchTheirPathAndWhatIsUnderIt) {
  RouteTable t;
  t.Add(Named("/v1/teams", Route::Match::kSubtree, "teams"));
  EXPECT_EQ(NameOf(t, "/v1/teams"), "teams");
  EXPECT_EQ(NameOf(t, "/v1/teams/"), "teams");
  EXPECT_EQ(NameOf(t, "/v1/teams/t1/keys/k1"), "teams");
  // A path that merely starts with the same letters is another resource.
  EXPECT_EQ(NameOf(t, "/v1/teamsx"), "404");
  EXPECT_EQ(NameOf(t, "/v1/team"), "404");
}

TEST(RouteTableTest, TheFirstRouteAddedWins) {
  RouteTable t;
  t.Add(Named("/v1/models/special", Route::Match::kExact, "special"));
  t.Add(Named("/v1/models", Route::Match::kSubtree, "models"));
  t.Add(Named("/v1/models/shadowed", Route::Match::kExact, "shadowed"));
  EXPECT_EQ(NameOf(t, "/v1/models/special"), "special");
  EXPECT_EQ(NameOf(t, "/v1/models/gpt-4o"), "models");
  EXPECT_EQ(NameOf(t, "/v1/models/shadowed"), "models");
}

TEST(RouteTableTest, ARouteTakesItsMethodAndGetTakesHead) {
  const Route post = Named("/p", Route::Match::kExact, "p", "POST");
  EXPECT_TRUE(RouteTable::Allows(post, "POST"));
  EXPECT_FALSE(RouteTable::Allows(post, "GET"));
  EXPECT_FALSE(RouteTable::Allows(post, "HEAD"));
  EXPECT_FALSE(RouteTable::Allows(post, "post"));

  const Route get = Named("/g", Route::Match::kExact, "g", "GET");
  EXPECT_TRUE(RouteTable::Allows(get, "GET"));
  EXPECT_TRUE(RouteTable::Allows(get, "HEAD"));
  EXPECT_FALSE(RouteTable::Allows(get, "DELETE"));

  // No method: the handler checks (a subtree holding several resources).
  const Route any = Named("/a", Route::Match::kSubtree, "a");
  for (const char* m : {"GET", "POST", "PATCH", "DELETE", "OPTIONS"})
    EXPECT_TRUE(RouteTable::Allows(any, m)) << m;
}

}  // namespace
}  // namespace aimarket::edge
