#include "common/db/migrations.h"

#include <pqxx/pqxx>

#include "common/status/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/pg_test_util.h"

namespace aimarket::db {
namespace {

using ::aimarket::status::IsOk;
using ::aimarket::status::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(MigrationsTest, EmbeddedMigrationsAreOrderedAndNamed) {
  const std::vector<Migration>& m = EmbeddedMigrations();
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m.front().version, 1);
  EXPECT_EQ(m.front().name, "create_teams");
  for (size_t i = 1; i < m.size(); ++i) EXPECT_LT(m[i - 1].version, m[i].version);
}

TEST(MigrationsTest, AppliesOnceThenNothing) {
  AIM_PG_TEST_DATABASE(db);
  auto pool = ConnectionPool::Create({.dsn = db.dsn(), .size = 1});
  ASSERT_THAT(pool, IsOk());
  const std::vector<Migration> migrations = {
      {1, "one", "CREATE TABLE a (x INT)"},
      {2, "two", "CREATE TABLE b (y INT); INSERT INTO b VALUES (7)"},
  };
  auto first = ApplyMigrations(**pool, migrations);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(*first, ElementsAre(1, 2));
  auto second = ApplyMigrations(**pool, migrations);
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(*second, IsEmpty());
  auto lease = (*pool)->Acquire();
  pqxx::work tx(**lease);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM b")[0].as<int>(), 1);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM schema_migrations")[0].as<int>(), 2);
}

TEST(MigrationsTest, AFailedMigrationLeavesNothingBehind) {
  AIM_PG_TEST_DATABASE(db);
  auto pool = ConnectionPool::Create({.dsn = db.dsn(), .size = 1});
  ASSERT_THAT(pool, IsOk());
  const std::vector<Migration> migrations = {
      {1, "good", "CREATE TABLE a (x INT)"},
      {2, "bad", "CREATE TABLE c (z INT); SELECT * FROM no_such_table"},
  };
  EXPECT_THAT(ApplyMigrations(**pool, migrations), StatusIs(absl::StatusCode::kInternal));
  auto lease = (*pool)->Acquire();
  pqxx::work tx(**lease);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM schema_migrations")[0].as<int>(), 1);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM pg_tables WHERE tablename = 'c'")[0].as<int>(), 0);
}

TEST(MigrationsTest, RefusesEditedOrUnknownMigrations) {
  AIM_PG_TEST_DATABASE(db);
  auto pool = ConnectionPool::Create({.dsn = db.dsn(), .size = 1});
  ASSERT_THAT(pool, IsOk());
  ASSERT_THAT(ApplyMigrations(**pool, {{1, "one", "CREATE TABLE a (x INT)"}}), IsOk());
  EXPECT_THAT(ApplyMigrations(**pool, {{1, "one", "CREATE TABLE a (x BIGINT)"}}),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::HasSubstr("changed")));
  EXPECT_THAT(ApplyMigrations(**pool, {}), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(MigrationsTest, EmbeddedMigrationsApply) {
  AIM_PG_TEST_DATABASE(db);
  auto pool = ConnectionPool::Create({.dsn = db.dsn(), .size = 1});
  ASSERT_THAT(pool, IsOk());
  auto applied = ApplyMigrations(**pool, EmbeddedMigrations());
  ASSERT_THAT(applied, IsOk());
  EXPECT_EQ(applied->size(), EmbeddedMigrations().size());
}

}  // namespace
}  // namespace aimarket::db

namespace aimarket::db {
namespace {

// 0005 turns a stored budget in dollars into integer nano-dollars, exactly.
TEST(MigrationsTest, StoredBudgetsBecomeNanoDollars) {
  AIM_PG_TEST_DATABASE(db);
  auto pool = ConnectionPool::Create({.dsn = db.dsn(), .size = 1});
  ASSERT_THAT(pool, ::aimarket::status::IsOk());
  std::vector<Migration> before;
  for (const Migration& m : EmbeddedMigrations()) {
    if (m.version < 5) before.push_back(m);
  }
  ASSERT_THAT(ApplyMigrations(**pool, before), ::aimarket::status::IsOk());
  {
    auto lease = (*pool)->Acquire();
    pqxx::work tx(**lease);
    tx.exec0(R"(INSERT INTO teams (id, display_name, settings) VALUES
      ('a', 'A', '{"monthly_budget": 12.5, "cost_center": "x"}'),
      ('b', 'B', '{"monthly_budget": 0.1}'),
      ('c', 'C', '{"cost_center": "y"}'))");
    tx.commit();
  }
  ASSERT_THAT(ApplyMigrations(**pool, EmbeddedMigrations()), ::aimarket::status::IsOk());
  auto lease = (*pool)->Acquire();
  pqxx::work tx(**lease);
  pqxx::result r = tx.exec(
      "SELECT id, settings->>'monthly_budget_nano_usd', settings ? 'monthly_budget', "
      "settings->>'cost_center' FROM teams ORDER BY id");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0][1].as<std::string>(), "12500000000");
  EXPECT_FALSE(r[0][2].as<bool>());
  EXPECT_EQ(r[0][3].as<std::string>(), "x");
  EXPECT_EQ(r[1][1].as<std::string>(), "100000000");
  EXPECT_TRUE(r[2][1].is_null());
  EXPECT_EQ(r[2][3].as<std::string>(), "y");
}

}  // namespace
}  // namespace aimarket::db
