#pragma once

// The one way aimarket's stores run a transaction: a connection from the pool, a pqxx::work,
// commit when the body succeeds, and libpqxx's exceptions turned into statuses (FromPqxx).
//
//   absl::StatusOr<Team> team = db::Transact(pool, [&](pqxx::work& tx) -> absl::StatusOr<Team> {
//     pqxx::result r = tx.exec_params("SELECT ... WHERE id = $1", id);
//     if (r.empty()) return absl::NotFoundError("no such team");
//     return TeamFromRow(r[0]);
//   });
//
// The body returns absl::Status or absl::StatusOr<T>; an error (or an exception) rolls back.

#include <exception>
#include <pqxx/transaction>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/db/pool.h"
#include "common/db/pqxx_status.h"

namespace aimarket::db {

template <typename Fn>
std::invoke_result_t<Fn, pqxx::work&> Transact(ConnectionPool& pool, Fn&& fn) {
  using Result = std::invoke_result_t<Fn, pqxx::work&>;
  try {
    absl::StatusOr<ConnectionPool::Lease> conn = pool.Acquire();
    if (!conn.ok()) return Result(conn.status());
    pqxx::work tx(**conn);
    Result result = std::forward<Fn>(fn)(tx);
    if (result.ok()) tx.commit();
    return result;
  } catch (const std::exception& e) {
    return Result(FromPqxx(e));
  }
}

}  // namespace aimarket::db
