#pragma once

// All SQL of team-management: teams, members, API keys and the audit log in Postgres (tables of
// deploy/migrations/0001 and 0002). Every change writes its audit entry in the same transaction,
// so a change without its entry (or the reverse) cannot exist. Blocking: call it from a worker
// thread. Thread-safe (each call borrows a pooled connection).
//
// Ids are plain ("team_x", "alice@example.com", "key_y"), not resource names. Lists page by
// keyset: `after` is the id of the last item of the previous page; a page reports whether more
// follow. Checks that depend on the current row (an admin may not change an owner; the last owner
// stays) run inside the transaction, through the `check` callbacks, against the locked row.
//
//   TeamStore store(pool);
//   AIM_ASSIGN_OR_RETURN(v1::Team t, store.CreateTeam(team, audit));

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "aimarket/team/v1/team_service.pb.h"
#include "common/db/pool.h"

namespace aimarket::team {

// Who made a change and why; the store adds what changed.
struct AuditContext {
  std::string actor;
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
  int64_t version = 0;
  std::optional<absl::Time> expire_time;
  bool revoked = false;
};

class TeamStore {
 public:
  explicit TeamStore(db::ConnectionPool& pool) : pool_(pool) {}

  // `team.name` is "teams/{id}". ALREADY_EXISTS if the id or the display name (any case) is taken.
  absl::StatusOr<v1::Team> CreateTeam(const v1::Team& team, const AuditContext& audit);
  // NOT_FOUND if absent.
  absl::StatusOr<v1::Team> GetTeam(const std::string& team_id);
  // Ordered by creation. `only` limits the list to one team (a team's own key sees only its team).
  absl::StatusOr<Page<v1::Team>> ListTeams(const std::string& after, int limit,
                                           const std::string& only = "");
  // Applies `mutate` to the locked row; writes it back with a new version and update time.
  // NOT_FOUND if absent; ALREADY_EXISTS if the new display name is taken; `mutate`'s error as is.
  absl::StatusOr<v1::Team> UpdateTeam(const std::string& team_id,
                                      const std::function<absl::Status(v1::Team&)>& mutate,
                                      const AuditContext& audit);
  // Deletes the team with its members and keys. NOT_FOUND if absent.
  absl::Status DeleteTeam(const std::string& team_id, const AuditContext& audit);

  // NOT_FOUND if the team is absent; ALREADY_EXISTS if the user is a member already.
  absl::StatusOr<v1::Member> CreateMember(const std::string& team_id, const v1::Member& member,
                                          const AuditContext& audit);
  absl::StatusOr<v1::Member> GetMember(const std::string& team_id, const std::string& user_id);
  absl::StatusOr<Page<v1::Member>> ListMembers(const std::string& team_id, const std::string& after,
                                               int limit);
  // `check(before, after)` sees the locked row and the change (`after` = before with the new role)
  // and the number of owners; its error is returned. Refuses to leave the team without an owner
  // (FAILED_PRECONDITION). NOT_FOUND if the member is absent.
  absl::StatusOr<v1::Member> UpdateMember(
      const std::string& team_id, const std::string& user_id, common::v1::Role role,
      const std::function<absl::Status(const v1::Member& before)>& check,
      const AuditContext& audit);
  // Removes the member and revokes their keys (with the same refusal of a team without an owner).
  absl::Status DeleteMember(const std::string& team_id, const std::string& user_id,
                            const std::function<absl::Status(const v1::Member& before)>& check,
                            const AuditContext& audit);

  // `key.member` names the user the key acts as: FAILED_PRECONDITION if not a member of the team.
  // `key_hash` is the SHA-256 of the whole key. Returns the stored key (without the secret).
  absl::StatusOr<v1::ApiKey> CreateApiKey(const std::string& team_id, const v1::ApiKey& key,
                                          const std::string& key_hash, const AuditContext& audit);
  // `user_id` non-empty: only that member's keys.
  absl::StatusOr<Page<v1::ApiKey>> ListApiKeys(const std::string& team_id,
                                               const std::string& user_id, const std::string& after,
                                               int limit);
  // Revokes the key; `check` sees it first. NOT_FOUND if absent or already revoked.
  absl::Status RevokeApiKey(const std::string& team_id, const std::string& key_id,
                            const std::function<absl::Status(const v1::ApiKey& before)>& check,
                            const AuditContext& audit);

  // Newest first; `after` is an entry id.
  absl::StatusOr<Page<v1::AuditEntry>> ListAudit(const std::string& team_id,
                                                 const std::string& after, int limit);

  // The key with this SHA-256, if it exists and its member still belongs to the team (revoked and
  // expired keys are returned as such; the caller refuses them). Notes the use (at most once a
  // minute per key). NOT_FOUND otherwise.
  absl::StatusOr<KeyRecord> FindKey(const std::string& key_hash);

 private:
  db::ConnectionPool& pool_;
};

}  // namespace aimarket::team
