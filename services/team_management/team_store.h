#pragma once

// All SQL of team-management: teams, members, API keys and the audit log in Postgres (tables of
// deploy/migrations/0001 and 0002). Every change writes its audit entry in the same transaction,
// so a change without its entry (or the reverse) cannot exist. Blocking: call it from a worker
// thread. Thread-safe (each call borrows a pooled connection).
//
// Checks that depend on the current row (an admin may not change an owner; the last owner stays)
// run inside the transaction, against the row locked with SELECT ... FOR UPDATE.
//
//   TeamStore store(pool);
//   AIM_ASSIGN_OR_RETURN(v1::Team t, store.CreateTeam(team, audit));

#include <memory>
#include <utility>

#include "common/db/pool.h"
#include "services/team_management/team_repository.h"

namespace aimarket::team {

class TeamStore final : public TeamRepository {
 public:
  explicit TeamStore(db::ConnectionPool& pool) : pool_(pool) {}
  // Owns the pool.
  explicit TeamStore(std::unique_ptr<db::ConnectionPool> pool)
      : owned_pool_(std::move(pool)), pool_(*owned_pool_) {}

  // The TeamRepository calls, each in one transaction.
  absl::StatusOr<v1::Team> CreateTeam(const v1::Team& team, const AuditContext& audit) override;
  absl::StatusOr<v1::Team> GetTeam(const std::string& team_id) override;
  absl::StatusOr<Page<v1::Team>> ListTeams(const std::string& after, int limit,
                                           const std::string& only) override;
  absl::StatusOr<v1::Team> UpdateTeam(const std::string& team_id,
                                      const std::function<absl::Status(v1::Team&)>& mutate,
                                      const AuditContext& audit) override;
  absl::Status DeleteTeam(const std::string& team_id, const AuditContext& audit) override;

  absl::StatusOr<v1::Member> CreateMember(const std::string& team_id, const v1::Member& member,
                                          const AuditContext& audit) override;
  absl::StatusOr<v1::Member> GetMember(const std::string& team_id,
                                       const std::string& user_id) override;
  absl::StatusOr<Page<v1::Member>> ListMembers(const std::string& team_id, const std::string& after,
                                               int limit) override;
  absl::StatusOr<v1::Member> UpdateMember(
      const std::string& team_id, const std::string& user_id, common::v1::Role role,
      const std::function<absl::Status(const v1::Member& before)>& check,
      const AuditContext& audit) override;
  absl::Status DeleteMember(const std::string& team_id, const std::string& user_id,
                            const std::function<absl::Status(const v1::Member& before)>& check,
                            const AuditContext& audit) override;

  absl::StatusOr<v1::ApiKey> CreateApiKey(
      const std::string& team_id, const v1::ApiKey& key, const std::string& key_hash,
      const std::function<absl::Status(const v1::Member& holder)>& check,
      const AuditContext& audit) override;
  absl::StatusOr<Page<v1::ApiKey>> ListApiKeys(const std::string& team_id,
                                               const std::string& user_id, const std::string& after,
                                               int limit) override;
  absl::StatusOr<v1::ApiKey> UpdateApiKey(
      const std::string& team_id, const std::string& key_id,
      const std::function<absl::Status(v1::ApiKey& key)>& mutate,
      const AuditContext& audit) override;
  absl::Status RevokeApiKey(
      const std::string& team_id, const std::string& key_id,
      const std::function<absl::Status(const v1::ApiKey& before, common::v1::Role holder)>& check,
      const AuditContext& audit) override;

  absl::StatusOr<Page<v1::AuditEntry>> ListAudit(const std::string& team_id,
                                                 const std::string& after, int limit) override;

  absl::StatusOr<KeyRecord> FindKey(const std::string& key_hash) override;

 private:
  std::unique_ptr<db::ConnectionPool> owned_pool_;
  db::ConnectionPool& pool_;
};

}  // namespace aimarket::team
