#include "common/db/migrations.h"

#include <cstdint>
#include <exception>
#include <map>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/db/pqxx_status.h"

namespace aimarket::db {
namespace {

// Any constant unique to aimarket: the advisory lock that serializes migration runners.
constexpr int64_t kMigrationLockId = 0x61696d6b6d6967;  // "aimkmig"

}  // namespace

std::string MigrationChecksum(const std::string& sql) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : sql) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return absl::StrFormat("%016x", h);
}

absl::StatusOr<std::vector<int>> ApplyMigrations(ConnectionPool& pool,
                                                 const std::vector<Migration>& migrations) try {
  absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
  if (!lease.ok()) return lease.status();
  pqxx::connection& conn = **lease;
  {
    pqxx::nontransaction tx(conn);
    tx.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockId);
  }
  struct Unlock {
    pqxx::connection& conn;
    ~Unlock() {
      try {
        pqxx::nontransaction tx(conn);
        tx.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockId);
      } catch (const std::exception&) {
        // The lock dies with the session anyway.
      }
    }
  } unlock{conn};

  {
    pqxx::work tx(conn);
    tx.exec0(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL,"
        " checksum TEXT NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
    tx.commit();
  }

  std::map<int, std::string> applied;  // version -> checksum
  {
    pqxx::read_transaction tx(conn);
    for (const pqxx::row& row : tx.exec("SELECT version, checksum FROM schema_migrations")) {
      applied[row[0].as<int>()] = row[1].as<std::string>();
    }
  }
  std::map<int, const Migration*> known;
  for (const Migration& m : migrations) known[m.version] = &m;
  for (const auto& [version, checksum] : applied) {
    auto it = known.find(version);
    if (it == known.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the database has migration ", version,
                       " which this aimarketd does not know; run a newer aimarketd"));
    }
    if (MigrationChecksum(it->second->sql) != checksum) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "migration %04d_%s was changed after it was applied; add a new migration instead",
          version, it->second->name));
    }
  }

  std::vector<int> done;
  for (const auto& [version, m] : known) {
    if (applied.contains(version)) continue;
    pqxx::work tx(conn);
    tx.exec0(m->sql);
    tx.exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                   version, m->name, MigrationChecksum(m->sql));
    tx.commit();
    done.push_back(version);
  }
  return done;
} catch (const std::exception& e) {
  return FromPqxx(e);
}

absl::Status CheckMigrated(ConnectionPool& pool, const std::vector<Migration>& migrations) try {
  absl::StatusOr<ConnectionPool::Lease> lease = pool.Acquire();
  if (!lease.ok()) return lease.status();
  pqxx::read_transaction tx(**lease);
  if (tx.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL")[0].as<bool>() == false) {
    return absl::FailedPreconditionError(
        "the database has no schema yet; run `aimarketd migrate` first");
  }
  std::map<int, bool> applied;
  for (const pqxx::row& row : tx.exec("SELECT version FROM schema_migrations"))
    applied[row[0].as<int>()] = true;
  for (const Migration& m : migrations) {
    if (!applied.contains(m.version)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "database migration %04d_%s is not applied; run `aimarketd migrate` first", m.version,
          m.name));
    }
  }
  return absl::OkStatus();
} catch (const std::exception& e) {
  return FromPqxx(e);
}

}  // namespace aimarket::db
