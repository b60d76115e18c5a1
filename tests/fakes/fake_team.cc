#include "tests/fakes/fake_team.h"

#include <utility>

#include "common/status/error.h"
#include "common/status/reasons.h"

namespace aimarket::fakes {
namespace {

absl::Status NotHere() {
  return absl::UnimplementedError(
      "FakeTeam authenticates only; use TeamManagement over InMemoryTeamStore");
}

}  // namespace

common::v1::Principal MemberPrincipal(const std::string& team, common::v1::Role role) {
  common::v1::Principal p;
  p.set_team(team);
  p.set_role(role);
  p.set_member("user@example.com");
  p.set_key_id("key_1");
  p.set_version(1);
  return p;
}

void FakeTeam::AddKey(const std::string& key, common::v1::Principal principal) {
  absl::MutexLock lock(&mu_);
  keys_[key] = std::move(principal);
}

void FakeTeam::RemoveKey(const std::string& key) {
  absl::MutexLock lock(&mu_);
  keys_.erase(key);
}

absl::StatusOr<team::v1::AuthenticateResponse> FakeTeam::Authenticate(
    const rpc::CallContext&, const team::v1::AuthenticateRequest& req) {
  ++authentications;
  if (unavailable) return absl::UnavailableError("team-management is down");
  if (req.api_key().empty()) {
    return status::Error(absl::StatusCode::kUnauthenticated, status::reason::kMissingApiKey,
                         "You didn't provide an API key.");
  }
  absl::MutexLock lock(&mu_);
  auto it = keys_.find(req.api_key());
  if (it == keys_.end()) {
    return status::Error(absl::StatusCode::kUnauthenticated, status::reason::kInvalidApiKey,
                         "Incorrect API key provided.");
  }
  team::v1::AuthenticateResponse resp;
  *resp.mutable_principal() = it->second;
  return resp;
}

absl::StatusOr<team::v1::Team> FakeTeam::CreateTeam(const rpc::CallContext&,
                                                    const team::v1::CreateTeamRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::Team> FakeTeam::GetTeam(const rpc::CallContext&,
                                                 const team::v1::GetTeamRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::ListTeamsResponse> FakeTeam::ListTeams(const rpc::CallContext&,
                                                                const team::v1::ListTeamsRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::Team> FakeTeam::UpdateTeam(const rpc::CallContext&,
                                                    const team::v1::UpdateTeamRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::DeleteTeamResponse> FakeTeam::DeleteTeam(
    const rpc::CallContext&, const team::v1::DeleteTeamRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::Member> FakeTeam::CreateMember(const rpc::CallContext&,
                                                        const team::v1::CreateMemberRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::ListMembersResponse> FakeTeam::ListMembers(
    const rpc::CallContext&, const team::v1::ListMembersRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::Member> FakeTeam::UpdateMember(const rpc::CallContext&,
                                                        const team::v1::UpdateMemberRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::DeleteMemberResponse> FakeTeam::DeleteMember(
    const rpc::CallContext&, const team::v1::DeleteMemberRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::ApiKey> FakeTeam::CreateApiKey(const rpc::CallContext&,
                                                        const team::v1::CreateApiKeyRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::ListApiKeysResponse> FakeTeam::ListApiKeys(
    const rpc::CallContext&, const team::v1::ListApiKeysRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::ApiKey> FakeTeam::UpdateApiKey(const rpc::CallContext&,
                                                        const team::v1::UpdateApiKeyRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::DeleteApiKeyResponse> FakeTeam::DeleteApiKey(
    const rpc::CallContext&, const team::v1::DeleteApiKeyRequest&) {
  return NotHere();
}
absl::StatusOr<team::v1::ListAuditEntriesResponse> FakeTeam::ListAuditEntries(
    const rpc::CallContext&, const team::v1::ListAuditEntriesRequest&) {
  return NotHere();
}

}  // namespace aimarket::fakes
