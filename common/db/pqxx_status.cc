#include "common/db/pqxx_status.h"

#include <pqxx/except>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/log/log.h"
#include "common/status/error.h"

namespace aimarket::db {
namespace {

std::string Message(const std::exception& e) {
  // The server's message only: the first line, without libpqxx's "ERROR:  " prefix.
  absl::string_view m = e.what();
  m = m.substr(0, m.find('\n'));
  absl::ConsumePrefix(&m, "ERROR:  ");
  return std::string(m);
}

}  // namespace

absl::Status FromPqxx(const std::exception& e) {
  // The server's message names tables, constraints and values: it goes to the log, never further.
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  log::Warn("database error",
            {{"error", Message(e)}, {"sqlstate", sql != nullptr ? sql->sqlstate() : ""}});
  if (sql != nullptr) {
    if (dynamic_cast<const pqxx::unique_violation*>(&e))
      return absl::AlreadyExistsError("It already exists.");
    if (dynamic_cast<const pqxx::foreign_key_violation*>(&e) ||
        dynamic_cast<const pqxx::check_violation*>(&e) ||
        dynamic_cast<const pqxx::not_null_violation*>(&e)) {
      return absl::FailedPreconditionError("The change conflicts with what is stored.");
    }
    if (dynamic_cast<const pqxx::serialization_failure*>(&e) ||
        dynamic_cast<const pqxx::deadlock_detected*>(&e)) {
      return absl::AbortedError("The change collided with another one; retry it.");
    }
    if (sql->sqlstate() == "57014") {  // query_canceled: statement_timeout.
      return status::Error(absl::StatusCode::kUnavailable, "DATABASE_TIMEOUT",
                           "The database did not answer in time; retry shortly.");
    }
    return status::Error(absl::StatusCode::kInternal, "DATABASE_ERROR",
                         "The database failed to complete the request.");
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) {
    return status::Error(absl::StatusCode::kUnavailable, "DATABASE_UNAVAILABLE",
                         "The database is unavailable; retry shortly.");
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
    return absl::UnknownError("The database did not confirm the change; check before retrying.");
  }
  return status::Error(absl::StatusCode::kInternal, "DATABASE_ERROR",
                       "The database failed to complete the request.");
}

}  // namespace aimarket::db
