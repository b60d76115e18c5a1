#pragma once

// The C++ API of team-management: implemented by TeamManagement (called directly when the service
// runs in the same process) and by the gRPC client returned by NewTeamGrpcClient (for a peer in
// another process). It covers both gRPC services, TeamService and AuthService.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "aimarket/team/v1/team_service.pb.h"
#include "common/rpc/call_context.h"

namespace aimarket::team {

// A role's name as stored and shown ("owner", "admin", "member", "viewer"); "" for none.
inline absl::string_view RoleName(common::v1::Role r) {
  switch (r) {
    case common::v1::ROLE_OWNER:
      return "owner";
    case common::v1::ROLE_ADMIN:
      return "admin";
    case common::v1::ROLE_MEMBER:
      return "member";
    case common::v1::ROLE_VIEWER:
      return "viewer";
    default:
      return "";
  }
}

// The inverse of RoleName; ROLE_UNSPECIFIED for any other text.
inline common::v1::Role RoleFromName(absl::string_view name) {
  for (common::v1::Role r : {common::v1::ROLE_OWNER, common::v1::ROLE_ADMIN,
                             common::v1::ROLE_MEMBER, common::v1::ROLE_VIEWER}) {
    if (RoleName(r) == name) return r;
  }
  return common::v1::ROLE_UNSPECIFIED;
}

// Thread-safe. Every method may block (database calls).
class TeamApi {
 public:
  virtual ~TeamApi() = default;

  virtual absl::StatusOr<v1::Team> CreateTeam(const rpc::CallContext& ctx,
                                              const v1::CreateTeamRequest& req) = 0;
  virtual absl::StatusOr<v1::Team> GetTeam(const rpc::CallContext& ctx,
                                           const v1::GetTeamRequest& req) = 0;
  virtual absl::StatusOr<v1::ListTeamsResponse> ListTeams(const rpc::CallContext& ctx,
                                                          const v1::ListTeamsRequest& req) = 0;
  virtual absl::StatusOr<v1::Team> UpdateTeam(const rpc::CallContext& ctx,
                                              const v1::UpdateTeamRequest& req) = 0;
  virtual absl::StatusOr<v1::DeleteTeamResponse> DeleteTeam(const rpc::CallContext& ctx,
                                                            const v1::DeleteTeamRequest& req) = 0;

  virtual absl::StatusOr<v1::Member> CreateMember(const rpc::CallContext& ctx,
                                                  const v1::CreateMemberRequest& req) = 0;
  virtual absl::StatusOr<v1::ListMembersResponse> ListMembers(
      const rpc::CallContext& ctx, const v1::ListMembersRequest& req) = 0;
  virtual absl::StatusOr<v1::Member> UpdateMember(const rpc::CallContext& ctx,
                                                  const v1::UpdateMemberRequest& req) = 0;
  virtual absl::StatusOr<v1::DeleteMemberResponse> DeleteMember(
      const rpc::CallContext& ctx, const v1::DeleteMemberRequest& req) = 0;

  virtual absl::StatusOr<v1::ApiKey> CreateApiKey(const rpc::CallContext& ctx,
                                                  const v1::CreateApiKeyRequest& req) = 0;
  virtual absl::StatusOr<v1::ListApiKeysResponse> ListApiKeys(
      const rpc::CallContext& ctx, const v1::ListApiKeysRequest& req) = 0;
  virtual absl::StatusOr<v1::ApiKey> UpdateApiKey(const rpc::CallContext& ctx,
                                                  const v1::UpdateApiKeyRequest& req) = 0;
  virtual absl::StatusOr<v1::DeleteApiKeyResponse> DeleteApiKey(
      const rpc::CallContext& ctx, const v1::DeleteApiKeyRequest& req) = 0;

  virtual absl::StatusOr<v1::ListAuditEntriesResponse> ListAuditEntries(
      const rpc::CallContext& ctx, const v1::ListAuditEntriesRequest& req) = 0;

  // Internal (AuthService): resolves an API key to a principal. UNAUTHENTICATED (reason
  // INVALID_API_KEY) for an unknown, revoked or expired key.
  virtual absl::StatusOr<v1::AuthenticateResponse> Authenticate(
      const rpc::CallContext& ctx, const v1::AuthenticateRequest& req) = 0;

  // The principal of `api_key` if it can be known at once, without waiting on anything (the
  // bootstrap admin key, held in memory by an in-process team-management); nullopt otherwise,
  // and then Authenticate decides. Never blocks: callers use it on I/O threads.
  virtual std::optional<common::v1::Principal> AuthenticateAtOnce(const std::string& api_key) {
    (void)api_key;
    return std::nullopt;
  }
};

}  // namespace aimarket::team
