#pragma once
// Where team-management keeps teams, members, API keys and the audit log. TeamStore is the real
// one (Postgres); tests/fakes/in_memory_team_store.h keeps the same rules in memory for fast unit
// tests of TeamManagement. Every change writes its audit entry with it, atomically. Implementations
// are thread-safe and may block.
//
// Ids are plain ("team_x", "alice@example.com", "key_y"), not resource names. Lists page by
// keyset: `after` is the id of the last item of the previous page; a page reports whether more
// follow. Checks that depend on the current row (an admin may not change an owner; the last owner
// stays) run inside the change, through the `check` callbacks, against the locked row.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "aimarket/team/v1/team_service.pb.h"

namespace aimarket::team {

// Who made a change and why; the store adds what changed.
struct AuditContext {
  std::string actor;         // The acting key's member, or "bootstrap-admin".
  std::string actor_key_id;  // The acting key ("key_..."), or "bootstrap".
  std::string request_id;
};

template <typename T>
struct Page {
  std::vector<T> items;
  bool has_more = false;
};

// What authenticating a key needs, read in one query.
struct KeyRecord {
  std::string key_id;
  std::string team_id;
  std::string user_id;
  common::v1::Role role = common::v1::ROLE_UNSPECIFIED;
  common::v1::TeamSettings settings;
  common::v1::KeyLimits key_limits;  // The key's own.
  int64_t version = 0;
  std::optional<absl::Time> expire_time;
  bool revoked = false;
};

// The refusals every implementation gives alike (code, reason, message, param).
absl::Status TeamNotFound(absl::string_view team_id);
// `display_name` empty: the name of a renamed team.
absl::Status TeamNameTaken(absl::string_view display_name);
absl::Status MemberNotFound(absl::string_view user_id);
absl::Status MemberExists(absl::string_view user_id);
// FAILED_PRECONDITION: a key for someone who is not a member.
absl::Status KeyForNonMember(absl::string_view user_id);
absl::Status ApiKeyNotFound(absl::string_view key_id);
absl::Status LastOwner();
// The cursor of ListAudit, an entry id > 0, or 0 for "" (from the newest); INVALID_ARGUMENT else.
absl::StatusOr<int64_t> AuditCursor(absl::string_view after);
// The JSON of an audit entry's before and after: proto field names, every field present.
std::string AuditJson(const google::protobuf::Message& m);

class TeamRepository {
 public:
  virtual ~TeamRepository() = default;

  // `team.name` is "teams/{id}". ALREADY_EXISTS if the id or the display name (any case) is taken.
  virtual absl::StatusOr<v1::Team> CreateTeam(const v1::Team& team, const AuditContext& audit) = 0;
  // NOT_FOUND if absent.
  virtual absl::StatusOr<v1::Team> GetTeam(const std::string& team_id) = 0;
  // Ordered by creation. `only` limits the list to one team (a team's own key sees only its team).
  virtual absl::StatusOr<Page<v1::Team>> ListTeams(const std::string& after, int limit,
                                                   const std::string& only) = 0;
  // Applies `mutate` to the locked row; writes it back with a new version and update time.
  // NOT_FOUND if absent; ALREADY_EXISTS if the new display name is taken; `mutate`'s error as is.
  virtual absl::StatusOr<v1::Team> UpdateTeam(const std::string& team_id,
                                              const std::function<absl::Status(v1::Team&)>& mutate,
                                              const AuditContext& audit) = 0;
  // Deletes the team with its members and keys. NOT_FOUND if absent.
  virtual absl::Status DeleteTeam(const std::string& team_id, const AuditContext& audit) = 0;

  // NOT_FOUND if the team is absent; ALREADY_EXISTS if the user is a member already.
  virtual absl::StatusOr<v1::Member> CreateMember(const std::string& team_id,
                                                  const v1::Member& member,
                                                  const AuditContext& audit) = 0;
  virtual absl::StatusOr<v1::Member> GetMember(const std::string& team_id,
                                               const std::string& user_id) = 0;
  virtual absl::StatusOr<Page<v1::Member>> ListMembers(const std::string& team_id,
                                                       const std::string& after, int limit) = 0;
  // `check(before, after)` sees the locked row and the change (`after` = before with the new role)
  // and the number of owners; its error is returned. Refuses to leave the team without an owner
  // (FAILED_PRECONDITION). NOT_FOUND if the member is absent.
  virtual absl::StatusOr<v1::Member> UpdateMember(
      const std::string& team_id, const std::string& user_id, common::v1::Role role,
      const std::function<absl::Status(const v1::Member& before)>& check,
      const AuditContext& audit) = 0;
  // Removes the member and revokes their keys (with the same refusal of a team without an owner).
  virtual absl::Status DeleteMember(
      const std::string& team_id, const std::string& user_id,
      const std::function<absl::Status(const v1::Member& before)>& check,
      const AuditContext& audit) = 0;

  // `key.member` names the user the key acts as: FAILED_PRECONDITION if not a member of the team;
  // `check` sees that member's locked row (its role now) and its error is returned. `key_hash` is
  // the SHA-256 of the whole key. The issuer (audit.actor, audit.actor_key_id) is stored with the
  // key. Returns the stored key (without the secret).
  virtual absl::StatusOr<v1::ApiKey> CreateApiKey(
      const std::string& team_id, const v1::ApiKey& key, const std::string& key_hash,
      const std::function<absl::Status(const v1::Member& holder)>& check,
      const AuditContext& audit) = 0;
  // `user_id` non-empty: only that member's keys.
  virtual absl::StatusOr<Page<v1::ApiKey>> ListApiKeys(const std::string& team_id,
                                                       const std::string& user_id,
                                                       const std::string& after, int limit) = 0;
  // Changes the key (not revoked): `mutate` changes its display_name and limits, on the locked
  // row; its error is returned. Audited as api_key.update. NOT_FOUND if absent or revoked.
  virtual absl::StatusOr<v1::ApiKey> UpdateApiKey(
      const std::string& team_id, const std::string& key_id,
      const std::function<absl::Status(v1::ApiKey& key)>& mutate, const AuditContext& audit) = 0;
  // Revokes the key; `check` sees it and its member's role (locked) first. NOT_FOUND if absent or
  // already revoked.
  virtual absl::Status RevokeApiKey(
      const std::string& team_id, const std::string& key_id,
      const std::function<absl::Status(const v1::ApiKey& before, common::v1::Role holder)>& check,
      const AuditContext& audit) = 0;

  // Newest first; `after` is an entry id.
  virtual absl::StatusOr<Page<v1::AuditEntry>> ListAudit(const std::string& team_id,
                                                         const std::string& after, int limit) = 0;

  // The key with this SHA-256, if it exists and its member still belongs to the team (revoked and
  // expired keys are returned as such; the caller refuses them). Notes the use (at most once a
  // minute per key). NOT_FOUND otherwise.
  virtual absl::StatusOr<KeyRecord> FindKey(const std::string& key_hash) = 0;
};

}  // namespace aimarket::team
