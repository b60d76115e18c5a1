#pragma once

// A TeamApi for the callers of team-management (router, edge): authentication from a table of
// keys the test fills, with a switch that makes team-management unreachable. The management calls
// answer UNIMPLEMENTED: a test of team rules uses TeamManagement over InMemoryTeamStore instead.
//
//   fakes::FakeTeam team;
//   team.AddKey("sk-1", fakes::MemberPrincipal("teams/t", common::v1::ROLE_MEMBER));

#include <atomic>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "services/team_management/team_api.h"

namespace aimarket::fakes {

// A principal of `team` ("teams/{id}") with `role`, member "user@example.com", key id "key_1".
common::v1::Principal MemberPrincipal(const std::string& team, common::v1::Role role);

class FakeTeam final : public team::TeamApi {
 public:
  void AddKey(const std::string& key, common::v1::Principal principal);
  void RemoveKey(const std::string& key);
  // While set, Authenticate answers UNAVAILABLE (team-management or its database down).
  std::atomic<bool> unavailable{false};
  // How many times Authenticate was called.
  std::atomic<int> authentications{0};

  absl::StatusOr<team::v1::AuthenticateResponse> Authenticate(
      const rpc::CallContext& ctx, const team::v1::AuthenticateRequest& req) override;

  absl::StatusOr<team::v1::Team> CreateTeam(const rpc::CallContext&,
                                            const team::v1::CreateTeamRequest&) override;
  absl::StatusOr<team::v1::Team> GetTeam(const rpc::CallContext&,
                                         const team::v1::GetTeamRequest&) override;
  absl::StatusOr<team::v1::ListTeamsResponse> ListTeams(const rpc::CallContext&,
                                                        const team::v1::ListTeamsRequest&) override;
  absl::StatusOr<team::v1::Team> UpdateTeam(const rpc::CallContext&,
                                            const team::v1::UpdateTeamRequest&) override;
  absl::StatusOr<team::v1::DeleteTeamResponse> DeleteTeam(
      const rpc::CallContext&, const team::v1::DeleteTeamRequest&) override;
  absl::StatusOr<team::v1::Member> CreateMember(const rpc::CallContext&,
                                                const team::v1::CreateMemberRequest&) override;
  absl::StatusOr<team::v1::ListMembersResponse> ListMembers(
      const rpc::CallContext&, const team::v1::ListMembersRequest&) override;
  absl::StatusOr<team::v1::Member> UpdateMember(const rpc::CallContext&,
                                                const team::v1::UpdateMemberRequest&) override;
  absl::StatusOr<team::v1::DeleteMemberResponse> DeleteMember(
      const rpc::CallContext&, const team::v1::DeleteMemberRequest&) override;
  absl::StatusOr<team::v1::ApiKey> CreateApiKey(const rpc::CallContext&,
                                                const team::v1::CreateApiKeyRequest&) override;
  absl::StatusOr<team::v1::ListApiKeysResponse> ListApiKeys(
      const rpc::CallContext&, const team::v1::ListApiKeysRequest&) override;
  absl::StatusOr<team::v1::ApiKey> UpdateApiKey(const rpc::CallContext&,
                                                const team::v1::UpdateApiKeyRequest&) override;
  absl::StatusOr<team::v1::DeleteApiKeyResponse> DeleteApiKey(
      const rpc::CallContext&, const team::v1::DeleteApiKeyRequest&) override;
  absl::StatusOr<team::v1::ListAuditEntriesResponse> ListAuditEntries(
      const rpc::CallContext&, const team::v1::ListAuditEntriesRequest&) override;

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, common::v1::Principal> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aimarket::fakes
