#pragma once

// team-management's logic: teams, members, API keys, settings and the audit log in Postgres, and
// API-key authentication. Never sees gRPC.
//
// Built so far: Authenticate for the bootstrap admin key. The team CRUD RPCs answer UNIMPLEMENTED
// until the teams issue fills them in.

#include <memory>
#include <string>

#include "common/db/pool.h"
#include "services/team_management/team_api.h"

namespace aimarket::team {

class TeamManagement final : public TeamApi {
 public:
  // `pool` may be null in processes without a database (then every stored-state RPC is
  // UNAVAILABLE). `bootstrap_admin_key` may be empty (then no bootstrap key exists).
  TeamManagement(std::unique_ptr<db::ConnectionPool> pool, std::string bootstrap_admin_key);

  absl::StatusOr<v1::Team> CreateTeam(const rpc::CallContext& ctx, const v1::CreateTeamRequest& req) override;
  absl::StatusOr<v1::Team> GetTeam(const rpc::CallContext& ctx, const v1::GetTeamRequest& req) override;
  absl::StatusOr<v1::ListTeamsResponse> ListTeams(const rpc::CallContext& ctx,
                                                  const v1::ListTeamsRequest& req) override;
  absl::StatusOr<v1::Team> UpdateTeam(const rpc::CallContext& ctx, const v1::UpdateTeamRequest& req) override;
  absl::StatusOr<v1::DeleteTeamResponse> DeleteTeam(const rpc::CallContext& ctx,
                                                    const v1::DeleteTeamRequest& req) override;
  absl::StatusOr<v1::Member> CreateMember(const rpc::CallContext& ctx, const v1::CreateMemberRequest& req) override;
  absl::StatusOr<v1::ListMembersResponse> ListMembers(const rpc::CallContext& ctx,
                                                      const v1::ListMembersRequest& req) override;
  absl::StatusOr<v1::Member> UpdateMember(const rpc::CallContext& ctx, const v1::UpdateMemberRequest& req) override;
  absl::StatusOr<v1::DeleteMemberResponse> DeleteMember(const rpc::CallContext& ctx,
                                                        const v1::DeleteMemberRequest& req) override;
  absl::StatusOr<v1::ApiKey> CreateApiKey(const rpc::CallContext& ctx, const v1::CreateApiKeyRequest& req) override;
  absl::StatusOr<v1::ListApiKeysResponse> ListApiKeys(const rpc::CallContext& ctx,
                                                      const v1::ListApiKeysRequest& req) override;
  absl::StatusOr<v1::DeleteApiKeyResponse> DeleteApiKey(const rpc::CallContext& ctx,
                                                        const v1::DeleteApiKeyRequest& req) override;
  absl::StatusOr<v1::ListAuditEntriesResponse> ListAuditEntries(const rpc::CallContext& ctx,
                                                                const v1::ListAuditEntriesRequest& req) override;
  absl::StatusOr<v1::AuthenticateResponse> Authenticate(const rpc::CallContext& ctx,
                                                        const v1::AuthenticateRequest& req) override;

 private:
  std::unique_ptr<db::ConnectionPool> pool_;
  const std::string bootstrap_admin_key_;
};

}  // namespace aimarket::team
