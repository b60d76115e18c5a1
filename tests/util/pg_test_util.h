#pragma once

// A fresh, empty Postgres database per test, on the server named by AIMARKET_TEST_PG_DSN (a
// libpq keyword/value string such as "host=127.0.0.1 port=5433 user=postgres dbname=postgres").
// The test command (tools/dev test) starts a throwaway server and sets both variables below.
//
//   TEST(RepoTest, X) {
//     AIM_PG_TEST_DATABASE(db);   // skips locally without a server; FAILS under the test command
//     ... db.dsn() ...
//   }

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace aimarket::testing {

// The admin DSN, or "" when AIMARKET_TEST_PG_DSN is unset.
std::string PgAdminDsn();
// True when the test command runs us (AIMARKET_TEST_REQUIRE_PG=1): a missing server is a failure.
bool PgRequired();

// Creates a database on construction and drops it (forcibly) on destruction.
class TestDatabase {
 public:
  static absl::StatusOr<std::unique_ptr<TestDatabase>> Create(const std::string& admin_dsn);
  ~TestDatabase();
  const std::string& name() const { return name_; }
  // DSN of the new database.
  const std::string& dsn() const { return dsn_; }

 private:
  TestDatabase(std::string admin_dsn, std::string name);
  std::string admin_dsn_;
  std::string name_;
  std::string dsn_;
};

}  // namespace aimarket::testing

#define AIM_PG_TEST_DATABASE(var)                                                         \
  std::unique_ptr<::aimarket::testing::TestDatabase> var##_holder;                        \
  {                                                                                       \
    const std::string admin = ::aimarket::testing::PgAdminDsn();                          \
    if (admin.empty()) {                                                                  \
      if (::aimarket::testing::PgRequired()) FAIL() << "AIMARKET_TEST_PG_DSN is not set"; \
      GTEST_SKIP() << "AIMARKET_TEST_PG_DSN is not set; run tools/dev test";              \
    }                                                                                     \
    auto created = ::aimarket::testing::TestDatabase::Create(admin);                      \
    ASSERT_TRUE(created.ok()) << created.status();                                        \
    var##_holder = std::move(*created);                                                   \
  }                                                                                       \
  ::aimarket::testing::TestDatabase& var = *var##_holder
