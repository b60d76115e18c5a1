#include "services/team_management/team_repository.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status/error.h"

namespace aimarket::team {

absl::Status TeamNotFound(absl::string_view team_id) {
  return status::Error(absl::StatusCode::kNotFound, "TEAM_NOT_FOUND",
                       absl::StrCat("No team '", team_id, "'."));
}

absl::Status TeamNameTaken(absl::string_view display_name) {
  return status::Error(absl::StatusCode::kAlreadyExists, "TEAM_EXISTS",
                       display_name.empty()
                           ? std::string("Another team already has that name.")
                           : absl::StrCat("A team named '", display_name, "' already exists."))
      .Param("name");
}

absl::Status MemberNotFound(absl::string_view user_id) {
  return status::Error(absl::StatusCode::kNotFound, "MEMBER_NOT_FOUND",
                       absl::StrCat("'", user_id, "' is not a member of this team."));
}

absl::Status MemberExists(absl::string_view user_id) {
  return status::Error(absl::StatusCode::kAlreadyExists, "MEMBER_EXISTS",
                       absl::StrCat("'", user_id, "' is already a member of this team."))
      .Param("user_id");
}

absl::Status KeyForNonMember(absl::string_view user_id) {
  return status::Error(
             absl::StatusCode::kFailedPrecondition, "MEMBER_NOT_FOUND",
             absl::StrCat("'", user_id, "' is not a member of this team; add the member first."))
      .Param("user_id");
}

absl::Status ApiKeyNotFound(absl::string_view key_id) {
  return status::Error(absl::StatusCode::kNotFound, "API_KEY_NOT_FOUND",
                       absl::StrCat("No API key '", key_id, "'."));
}

absl::Status LastOwner() {
  return status::Error(absl::StatusCode::kFailedPrecondition, "LAST_OWNER",
                       "A team keeps at least one owner: add another owner first.");
}

absl::StatusOr<int64_t> AuditCursor(absl::string_view after) {
  int64_t id = 0;
  if (!after.empty() && (!absl::SimpleAtoi(after, &id) || id <= 0)) {
    return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
                         "after is the id of an audit entry.")
        .Param("after");
  }
  return id;
}

std::string AuditJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

}  // namespace aimarket::team
