#include "services/team_management/team_management.h"

#include <utility>

#include "common/status/grpc_status.h"

namespace aimarket::team {
namespace {

absl::Status NotBuiltYet(absl::string_view rpc) {
  return absl::UnimplementedError(absl::StrCat("TeamService.", rpc, " is not implemented yet"));
}

}  // namespace

TeamManagement::TeamManagement(std::unique_ptr<db::ConnectionPool> pool, std::string bootstrap_admin_key)
    : pool_(std::move(pool)), bootstrap_admin_key_(std::move(bootstrap_admin_key)) {}

absl::StatusOr<v1::Team> TeamManagement::CreateTeam(const rpc::CallContext&, const v1::CreateTeamRequest&) {
  return NotBuiltYet("CreateTeam");
}
absl::StatusOr<v1::Team> TeamManagement::GetTeam(const rpc::CallContext&, const v1::GetTeamRequest&) {
  return NotBuiltYet("GetTeam");
}
absl::StatusOr<v1::ListTeamsResponse> TeamManagement::ListTeams(const rpc::CallContext&, const v1::ListTeamsRequest&) {
  return NotBuiltYet("ListTeams");
}
absl::StatusOr<v1::Team> TeamManagement::UpdateTeam(const rpc::CallContext&, const v1::UpdateTeamRequest&) {
  return NotBuiltYet("UpdateTeam");
}
absl::StatusOr<v1::DeleteTeamResponse> TeamManagement::DeleteTeam(const rpc::CallContext&,
                                                                  const v1::DeleteTeamRequest&) {
  return NotBuiltYet("DeleteTeam");
}
absl::StatusOr<v1::Member> TeamManagement::CreateMember(const rpc::CallContext&, const v1::CreateMemberRequest&) {
  return NotBuiltYet("CreateMember");
}
absl::StatusOr<v1::ListMembersResponse> TeamManagement::ListMembers(const rpc::CallContext&,
                                                                    const v1::ListMembersRequest&) {
  return NotBuiltYet("ListMembers");
}
absl::StatusOr<v1::Member> TeamManagement::UpdateMember(const rpc::CallContext&, const v1::UpdateMemberRequest&) {
  return NotBuiltYet("UpdateMember");
}
absl::StatusOr<v1::DeleteMemberResponse> TeamManagement::DeleteMember(const rpc::CallContext&,
                                                                      const v1::DeleteMemberRequest&) {
  return NotBuiltYet("DeleteMember");
}
absl::StatusOr<v1::ApiKey> TeamManagement::CreateApiKey(const rpc::CallContext&, const v1::CreateApiKeyRequest&) {
  return NotBuiltYet("CreateApiKey");
}
absl::StatusOr<v1::ListApiKeysResponse> TeamManagement::ListApiKeys(const rpc::CallContext&,
                                                                    const v1::ListApiKeysRequest&) {
  return NotBuiltYet("ListApiKeys");
}
absl::StatusOr<v1::DeleteApiKeyResponse> TeamManagement::DeleteApiKey(const rpc::CallContext&,
                                                                      const v1::DeleteApiKeyRequest&) {
  return NotBuiltYet("DeleteApiKey");
}
absl::StatusOr<v1::ListAuditEntriesResponse> TeamManagement::ListAuditEntries(const rpc::CallContext&,
                                                                              const v1::ListAuditEntriesRequest&) {
  return NotBuiltYet("ListAuditEntries");
}

absl::StatusOr<v1::AuthenticateResponse> TeamManagement::Authenticate(const rpc::CallContext&,
                                                                      const v1::AuthenticateRequest& req) {
  if (req.api_key().empty()) {
    return status::Error(absl::StatusCode::kUnauthenticated, "MISSING_API_KEY",
                         "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.");
  }
  if (rpc::SecretEquals(req.api_key(), bootstrap_admin_key_)) {
    v1::AuthenticateResponse resp;
    common::v1::Principal& p = *resp.mutable_principal();
    p.set_bootstrap_admin(true);
    p.set_role(common::v1::ROLE_OWNER);
    p.set_member("bootstrap-admin");
    p.set_key_id("bootstrap");
    return resp;
  }
  // Team keys are looked up in Postgres once the teams issue lands; until then only the bootstrap
  // admin key is valid.
  return status::Error(absl::StatusCode::kUnauthenticated, "INVALID_API_KEY", "Incorrect API key provided.");
}

}  // namespace aimarket::team
