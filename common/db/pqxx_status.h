#pragma once

// libpqxx 6.4.5 reports errors by exception; database code catches them where it calls libpqxx
// and returns absl::Status through FromPqxx:
//
//   absl::StatusOr<Team> Repo::Get(...) try { ... } catch (const std::exception& e) { return db::FromPqxx(e); }

#include <exception>

#include "absl/status/status.h"

namespace aimarket::db {

// unique_violation -> ALREADY_EXISTS; foreign_key_violation, check_violation, not_null_violation
// -> FAILED_PRECONDITION; serialization_failure, deadlock_detected -> ABORTED; broken_connection
// -> UNAVAILABLE; in_doubt_error -> UNKNOWN; anything else -> INTERNAL. The message never
// contains the SQL text (only the server's message and the SQLSTATE).
absl::Status FromPqxx(const std::exception& e);

}  // namespace aimarket::db
