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
