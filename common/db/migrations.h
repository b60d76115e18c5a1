#pragma once

// Forward-only schema migrations: deploy/migrations/NNNN_name.sql, compiled into the binary and
// recorded in schema_migrations(version, name, checksum, applied_at).

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/db/pool.h"

namespace aimarket::db {

struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// The migrations of deploy/migrations, ordered by version (generated at build time).
const std::vector<Migration>& EmbeddedMigrations();

// A stable checksum of a migration's SQL (FNV-1a 64, hex), to detect edited migrations.
std::string MigrationChecksum(const std::string& sql);

// Applies every migration newer than the database's, in order, each in one transaction together
// with its schema_migrations row. Concurrent runners are serialized by an advisory lock, so two
// replicas starting together apply each migration once. Returns the versions applied (empty when
// the schema is current). FAILED_PRECONDITION if an applied migration's SQL has changed since, or
// if the database holds a version this binary does not know (a newer binary migrated it).
absl::StatusOr<std::vector<int>> ApplyMigrations(ConnectionPool& pool,
                                                 const std::vector<Migration>& migrations);

// OK if every one of `migrations` has been applied. FAILED_PRECONDITION naming the first missing
// version otherwise (run `aimarketd migrate`).
absl::Status CheckMigrated(ConnectionPool& pool, const std::vector<Migration>& migrations);

}  // namespace aimarket::db
