#pragma once

// A fixed-size pool of libpqxx connections. Only team-management and usage-metering hold one.
// Connections open lazily up to `size`; a connection found broken when returned is dropped and
// replaced on demand. Blocking: call it from a service's worker threads, never from gRPC's
// callback threads or the edge's I/O threads.
//
// A database that hangs cannot hold its callers: connections open within connect_timeout, every
// statement runs under the server's statement_timeout, and a connection leased for longer than
// statement_timeout + 1 s (a server that answers nothing, not even its own timeout) is cut by a
// watchdog, which ends the caller's wait with UNAVAILABLE. Once the database has failed (a cut, a
// broken connection, no connection to be had in time) the pool is unhealthy: Acquire answers
// UNAVAILABLE at once, except for one caller a second that tries for real; the first success makes
// it healthy again. Each change is logged once.
//
//   AIM_ASSIGN_OR_RETURN(ConnectionPool::Lease conn, pool.Acquire());
//   pqxx::work txn(*conn);

#include <memory>
#include <pqxx/connection>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace aimarket::db {

class ConnectionPool {
 public:
  struct Options {
    std::string dsn;
    int size = 8;
    absl::Duration acquire_timeout = absl::Seconds(5);
    absl::Duration connect_timeout = absl::Seconds(3);
    // Zero: statements may run forever (migrations).
    absl::Duration statement_timeout = absl::ZeroDuration();
  };

  // A borrowed connection, returned to the pool when destroyed. Move-only.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& operator*() const { return *conn_; }
    pqxx::connection* operator->() const { return conn_.get(); }
    // Restarts the watchdog's clock: for a holder that runs many statements with waits between
    // them (an export fetching from a cursor as its client reads), whose lease may rightly last
    // longer than one statement may.
    void Renew();

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> conn);
    ConnectionPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };
  ~ConnectionPool();

  // Opens one connection to check the DSN. UNAVAILABLE if the server cannot be reached,
  // INVALID_ARGUMENT if `size` < 1.
  static absl::StatusOr<std::unique_ptr<ConnectionPool>> Create(Options options);

  // Waits up to acquire_timeout for a free connection (opening one if the pool is not full).
  // UNAVAILABLE if none frees up in time or a new connection cannot be opened.
  absl::StatusOr<Lease> Acquire();

  // Connections open right now (idle + leased).
  int open_connections() const;
  int idle_connections() const;
  bool healthy() const;

 private:
  struct Busy {
    pqxx::connection* conn;
    absl::Time since;
    bool cut = false;
  };
  explicit ConnectionPool(Options options);
  void Return(std::unique_ptr<pqxx::connection> conn);
  void Renew(pqxx::connection* conn);
  void SetHealthy(bool healthy, absl::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Watch();

  const Options options_;
  const std::string dsn_;  // options_.dsn with connect_timeout.
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  std::vector<Busy> busy_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  bool healthy_ ABSL_GUARDED_BY(mu_) = true;
  absl::Time next_probe_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watchdog_;
};

}  // namespace aimarket::db
