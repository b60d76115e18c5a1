#include "tests/util/pg_test_util.h"

#include <cstdlib>
#include <exception>
#include <pqxx/pqxx>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/db/pqxx_status.h"

namespace aimarket::testing {

std::string PgAdminDsn() {
  const char* v = std::getenv("AIMARKET_TEST_PG_DSN");
  return v == nullptr ? "" : v;
}

bool PgRequired() {
  const char* v = std::getenv("AIMARKET_TEST_REQUIRE_PG");
  return v != nullptr && std::string(v) == "1";
}

TestDatabase::TestDatabase(std::string admin_dsn, std::string name)
    : admin_dsn_(std::move(admin_dsn)), name_(std::move(name)) {
  // In a libpq keyword/value string the last occurrence of a keyword wins.
  dsn_ = absl::StrCat(admin_dsn_, " dbname=", name_);
}

absl::StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create(
    const std::string& admin_dsn) try {
  std::random_device rd;
  const std::string name = absl::StrCat("aimarket_test_", rd(), "_", rd() % 100000);
  pqxx::connection conn(admin_dsn);
  pqxx::nontransaction tx(conn);
  tx.exec0(absl::StrCat("CREATE DATABASE ", name, " TEMPLATE template0"));
  return std::unique_ptr<TestDatabase>(new TestDatabase(admin_dsn, name));
} catch (const std::exception& e) {
  return db::FromPqxx(e);
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection conn(admin_dsn_);
    pqxx::nontransaction tx(conn);
    tx.exec0(absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot drop test database " << name_ << ": " << e.what();
  }
}

}  // namespace aimarket::testing
