#pragma once

// The one way aimarket's stores run a transaction: a connection from the pool, a transaction,
// commit when the body succeeds, and libpqxx's exceptions turned into statuses (FromPqxx).
//
//   absl::StatusOr<Team> team = db::Transact(pool, [&](pqxx::work& tx) -> absl::StatusOr<Team> {
//     pqxx::result r = tx.exec_params("INSERT ... RETURNING ...", ...);
//     return TeamFromRow(r[0]);
//   }, [&] { return TeamNameTaken(name); });  // What a unique violation means here (optional).
//
//   db::Transact<pqxx::read_transaction>(pool, [&](pqxx::read_transaction& tx) { ... });
//
// The body returns absl::Status or absl::StatusOr<T>; an error (or an exception) rolls back.

#include <exception>
#include <functional>
#include <pqxx/except>
#include <pqxx/transaction>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/db/pool.h"
#include "common/db/pqxx_status.h"

namespace aimarket::db {

template <typename Tx = pqxx::work, typename Fn>
std::invoke_result_t<Fn, Tx&> Transact(
    ConnectionPool& pool, Fn&& fn,
    const std::function<absl::Status()>& on_unique_violation = nullptr) {
  using Result = std::invoke_result_t<Fn, Tx&>;
  try {
    absl::StatusOr<ConnectionPool::Lease> conn = pool.Acquire();
    if (!conn.ok()) return Result(conn.status());
    Tx tx(**conn);
    Result result = std::forward<Fn>(fn)(tx);
    if (result.ok()) tx.commit();
    return result;
  } catch (const pqxx::unique_violation& e) {
    if (on_unique_violation) return Result(on_unique_violation());
    return Result(FromPqxx(e));
  } catch (const std::exception& e) {
    return Result(FromPqxx(e));
  }
}

}  // namespace aimarket::db
