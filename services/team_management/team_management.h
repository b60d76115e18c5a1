#pragma once

// team-management's logic: teams, members, API keys, settings and the audit log (stored by a
// TeamRepository: TeamStore in Postgres), API-key authentication, and who may do what
// (docs/teams.md has the matrix). Never sees gRPC. Every method blocks on the database: call it
// from a worker thread.
//
// Each management call authenticates the caller's key itself (CallContext.authorization). A
// caller from another team gets NOT_FOUND for that team's resources, never a hint they exist; a
// caller of the team whose role does not allow the call gets PERMISSION_DENIED.

#include <memory>
#include <string>

#include "common/time/clock.h"
#include "services/team_management/team_api.h"
#include "services/team_management/team_repository.h"

namespace aimarket::team {

class TeamManagement final : public TeamApi {
 public:
  // `store` may be null in processes without a database (then every stored-state RPC is
  // UNAVAILABLE). `bootstrap_admin_key` may be empty (then no bootstrap key exists). `clock`
  // decides when keys expire; it must outlive this.
  TeamManagement(std::unique_ptr<TeamRepository> store, std::string bootstrap_admin_key,
                 time::Clock& clock = time::RealClock::Get());

  absl::StatusOr<v1::Team> CreateTeam(const rpc::CallContext& ctx,
                                      const v1::CreateTeamRequest& req) override;
  absl::StatusOr<v1::Team> GetTeam(const rpc::CallContext& ctx,
                                   const v1::GetTeamRequest& req) override;
  absl::StatusOr<v1::ListTeamsResponse> ListTeams(const rpc::CallContext& ctx,
                                                  const v1::ListTeamsRequest& req) override;
  absl::StatusOr<v1::Team> UpdateTeam(const rpc::CallContext& ctx,
                                      const v1::UpdateTeamRequest& req) override;
  absl::StatusOr<v1::DeleteTeamResponse> DeleteTeam(const rpc::CallContext& ctx,
                                                    const v1::DeleteTeamRequest& req) override;
  absl::StatusOr<v1::Member> CreateMember(const rpc::CallContext& ctx,
                                          const v1::CreateMemberRequest& req) override;
  absl::StatusOr<v1::ListMembersResponse> ListMembers(const rpc::CallContext& ctx,
                                                      const v1::ListMembersRequest& req) override;
  absl::StatusOr<v1::Member> UpdateMember(const rpc::CallContext& ctx,
                                          const v1::UpdateMemberRequest& req) override;
  absl::StatusOr<v1::DeleteMemberResponse> DeleteMember(
      const rpc::CallContext& ctx, const v1::DeleteMemberRequest& req) override;
  absl::StatusOr<v1::ApiKey> CreateApiKey(const rpc::CallContext& ctx,
                                          const v1::CreateApiKeyRequest& req) override;
  absl::StatusOr<v1::ListApiKeysResponse> ListApiKeys(const rpc::CallContext& ctx,
                                                      const v1::ListApiKeysRequest& req) override;
  absl::StatusOr<v1::ApiKey> UpdateApiKey(const rpc::CallContext& ctx,
                                          const v1::UpdateApiKeyRequest& req) override;
  absl::StatusOr<v1::DeleteApiKeyResponse> DeleteApiKey(
      const rpc::CallContext& ctx, const v1::DeleteApiKeyRequest& req) override;
  absl::StatusOr<v1::ListAuditEntriesResponse> ListAuditEntries(
      const rpc::CallContext& ctx, const v1::ListAuditEntriesRequest& req) override;
  absl::StatusOr<v1::AuthenticateResponse> Authenticate(
      const rpc::CallContext& ctx, const v1::AuthenticateRequest& req) override;
  // The bootstrap admin key only: it never waits on the database.
  std::optional<common::v1::Principal> AuthenticateAtOnce(const std::string& api_key) override;

 private:
  // The caller's principal, or UNAUTHENTICATED.
  absl::StatusOr<common::v1::Principal> Caller(const rpc::CallContext& ctx);
  absl::StatusOr<TeamRepository*> Store();

  std::unique_ptr<TeamRepository> store_;
  const std::string bootstrap_admin_key_;
  time::Clock& clock_;
};

}  // namespace aimarket::team
