#include "common/db/pool.h"

#include <atomic>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "common/db/pqxx_status.h"
#include "common/status/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/pg_test_util.h"

namespace aimarket::db {
namespace {

using ::aimarket::status::IsOk;
using ::aimarket::status::StatusIs;

TEST(ConnectionPoolTest, ReusesConnections) {
  AIM_PG_TEST_DATABASE(db);
  auto pool = ConnectionPool::Create({.dsn = db.dsn(), .size = 2});
  ASSERT_THAT(pool, IsOk());
  int backend_pid = 0;
  {
    auto lease = (*pool)->Acquire();
    ASSERT_THAT(lease, IsOk());
    pqxx::work tx(**lease);
    backend_pid = tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
  }
  EXPECT_EQ((*pool)->open_connections(), 1);
  EXPECT_EQ((*pool)->idle_connections(), 1);
  auto lease = (*pool)->Acquire();
  ASSERT_THAT(lease, IsOk());
  pqxx::work tx(**lease);
  EXPECT_EQ(tx.exec1("SELECT pg_backend_pid()")[0].as<int>(), backend_pid);
}

// The watchdog cuts a lease held past a statement's time (plus a second); one renewed between
// statements (a cursor read at a client's pace) lives on.
TEST(ConnectionPoolTest, ARenewedLeaseOutlivesTheStatementTimeout) {
  AIM_PG_TEST_DATABASE(db);
  auto pool = ConnectionPool::Create(
      {.dsn = db.dsn(), .size = 1, .statement_timeout = absl::Milliseconds(300)});
  ASSERT_THAT(pool, IsOk());
  {
    auto lease = (*pool)->Acquire();
    ASSERT_THAT(lease, IsOk());
    pqxx::work tx(**lease);
    for (int i = 0; i < 10; ++i) {  // 3 s in all, past the 1.3 s limit.
      absl::SleepFor(absl::Milliseconds(300));
      lease->Renew();
      EXPECT_EQ(tx.exec1("SELECT 1")[0].as<int>(), 1);
    }
  }
  auto lease = (*pool)->Acquire();
  ASSERT_THAT(lease, IsOk());
  pqxx::work tx(**lease);
  absl::SleepFor(absl::Milliseconds(2'000));
  EXPECT_ANY_THROW(tx.exec1("SELECT 1"));
}

TEST(ConnectionPoolTest, NeverOpensMoreThanSize) {
  AIM_PG_TEST_DATABASE(db);
  auto pool = ConnectionPool::Create(
      {.dsn = db.dsn(), .size = 2, .acquire_timeout = absl::Milliseconds(200)});
  ASSERT_THAT(pool, IsOk());
  auto a = (*pool)->Acquire();
  auto b = (*pool)->Acquire();
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_THAT((*pool)->Acquire(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ((*pool)->open_connections(), 2);
}

TEST(ConnectionPoolTest, WaitersGetReturnedConnections) {
  AIM_PG_TEST_DATABASE(db);
  auto pool =
      ConnectionPool::Create({.dsn = db.dsn(), .size = 3, .acquire_timeout = absl::Seconds(30)});
  ASSERT_THAT(pool, IsOk());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto lease = (*pool)->Acquire();
        if (!lease.ok()) return;
        pqxx::work tx(**lease);
        if (tx.exec1("SELECT 1")[0].as<int>() == 1) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
  EXPECT_LE((*pool)->open_connections(), 3);
}

TEST(ConnectionPoolTest, BrokenConnectionsAreReplaced) {
  AIM_PG_TEST_DATABASE(db);
  auto pool = ConnectionPool::Create({.dsn = db.dsn(), .size = 1});
  ASSERT_THAT(pool, IsOk());
  {
    auto victim = (*pool)->Acquire();
    ASSERT_THAT(victim, IsOk());
    const int pid = pqxx::work(**victim).exec1("SELECT pg_backend_pid()")[0].as<int>();
    auto killer = ConnectionPool::Create({.dsn = db.dsn(), .size = 1});
    ASSERT_THAT(killer, IsOk());
    auto k = (*killer)->Acquire();
    pqxx::work(**k).exec_params("SELECT pg_terminate_backend($1)", pid);
    EXPECT_ANY_THROW({
      pqxx::work tx(**victim);
      tx.exec("SELECT 1");
    });
  }
  auto lease = (*pool)->Acquire();
  ASSERT_THAT(lease, IsOk());
  pqxx::work tx(**lease);
  EXPECT_EQ(tx.exec1("SELECT 2")[0].as<int>(), 2);
}

TEST(ConnectionPoolTest, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there.
  auto pool = ConnectionPool::Create({.dsn = "host=127.0.0.1 port=1 connect_timeout=2", .size = 1});
  EXPECT_THAT(pool, StatusIs(absl::StatusCode::kUnavailable));
}

TEST(PqxxStatusTest, MapsSqlErrors) {
  AIM_PG_TEST_DATABASE(db);
  pqxx::connection conn(db.dsn());
  {
    pqxx::work tx(conn);
    tx.exec0(
        "CREATE TABLE t (id INT PRIMARY KEY, parent INT REFERENCES t (id), v INT CHECK (v > 0))");
    tx.exec0("INSERT INTO t VALUES (1, NULL, 1)");
    tx.commit();
  }
  auto status_of = [&](const std::string& sql) -> absl::Status {
    try {
      pqxx::work tx(conn);
      tx.exec0(sql);
      tx.commit();
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return FromPqxx(e);
    }
  };
  EXPECT_THAT(status_of("INSERT INTO t VALUES (1, NULL, 1)"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(status_of("INSERT INTO t VALUES (2, 99, 1)"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(status_of("INSERT INTO t VALUES (3, NULL, -1)"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(status_of("SELEC 1"), StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(status_of("INSERT INTO t VALUES (4, NULL, 1)"), IsOk());
}

}  // namespace
}  // namespace aimarket::db
