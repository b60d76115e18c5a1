#pragma once

// libpqxx 6.4.5 reports errors by exception; database code catches them where it calls libpqxx
// and returns absl::Status through FromPqxx:
//
//   absl::StatusOr<Team> Repo::Get(...) try { ... } catch (const std::exception& e) { return
//   db::FromPqxx(e); }

#include <exception>

#include "absl/status/status.h"

namespace aimarket::db {

// unique_violation -> ALREADY_EXISTS; foreign_key_violation, check_violation, not_null_violation
// -> FAILED_PRECONDITION; serialization_failure, deadlock_detected -> ABORTED; broken_connection
// -> UNAVAILABLE (DATABASE_UNAVAILABLE); a statement timeout -> UNAVAILABLE (DATABASE_TIMEOUT);
// in_doubt_error -> UNKNOWN; anything else -> INTERNAL (DATABASE_ERROR). The message is a fixed
// text fit for a client: the server's own message (tables, constraints, values, encodings) and the
// SQLSTATE go to the log.
absl::Status FromPqxx(const std::exception& e);

}  // namespace aimarket::db
