#pragma once

// A fixed-size pool of libpqxx connections. Only team-management and usage-metering hold one.
// Connections open lazily up to `size`; a connection found broken when returned is dropped and
// replaced on demand. Blocking: call it from a service's worker threads, never from gRPC's
// callback threads or the edge's I/O threads.
//
//   AIM_ASSIGN_OR_RETURN(ConnectionPool::Lease conn, pool.Acquire());
//   pqxx::work txn(*conn);

#include <memory>
#include <string>
#include <vector>

#include <pqxx/connection>

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
  };

  // A borrowed connection, returned to the pool when destroyed. Move-only.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& operator*() const { return *conn_; }
    pqxx::connection* operator->() const { return conn_.get(); }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> conn);
    ConnectionPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  // Opens one connection to check the DSN. UNAVAILABLE if the server cannot be reached,
  // INVALID_ARGUMENT if `size` < 1.
  static absl::StatusOr<std::unique_ptr<ConnectionPool>> Create(Options options);

  // Waits up to acquire_timeout for a free connection (opening one if the pool is not full).
  // UNAVAILABLE if none frees up in time or a new connection cannot be opened.
  absl::StatusOr<Lease> Acquire();

  // Connections open right now (idle + leased).
  int open_connections() const;
  int idle_connections() const;

 private:
  explicit ConnectionPool(Options options);
  void Return(std::unique_ptr<pqxx::connection> conn);

  const Options options_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace aimarket::db
