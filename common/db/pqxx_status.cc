#include "common/db/pqxx_status.h"

#include <string>

#include <pqxx/except>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

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
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string msg = absl::StrCat("database: ", Message(e), " (SQLSTATE ", sql->sqlstate(), ")");
    if (dynamic_cast<const pqxx::unique_violation*>(&e)) return absl::AlreadyExistsError(msg);
    if (dynamic_cast<const pqxx::foreign_key_violation*>(&e) || dynamic_cast<const pqxx::check_violation*>(&e) ||
        dynamic_cast<const pqxx::not_null_violation*>(&e)) {
      return absl::FailedPreconditionError(msg);
    }
    if (dynamic_cast<const pqxx::serialization_failure*>(&e) || dynamic_cast<const pqxx::deadlock_detected*>(&e)) {
      return absl::AbortedError(msg);
    }
    return absl::InternalError(msg);
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) {
    return absl::UnavailableError(absl::StrCat("database unreachable: ", Message(e)));
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
    return absl::UnknownError(absl::StrCat("database commit outcome unknown: ", Message(e)));
  }
  return absl::InternalError(absl::StrCat("database: ", Message(e)));
}

}  // namespace aimarket::db
