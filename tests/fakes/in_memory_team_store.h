#pragma once

// A TeamRepository in memory, for fast unit tests of TeamManagement: the same rules as TeamStore
// (unique ids and display names in any case, the last owner stays, removing a member revokes their
// keys, keyset pages in creation order, an audit entry with every change, keys of former members
// not found), with the time taken from a Clock.
//
//   time::FakeClock clock;
//   auto store = std::make_unique<InMemoryTeamStore>(clock);

#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/time/clock.h"
#include "services/team_management/team_repository.h"

namespace aimarket::team {

class InMemoryTeamStore final : public TeamRepository {
 public:
  explicit InMemoryTeamStore(time::Clock& clock) : clock_(clock) {}

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

  // How many audit entries the team has (for tests that check a refusal wrote none).
  int AuditCount(const std::string& team_id);

 private:
  struct TeamRow {
    int64_t seq = 0;                  // creation order
    v1::Team team;                    // Without its webhook secret (kept below, never shown again).
    std::vector<v1::Member> members;  // in creation order
    std::string webhook_secret;
  };
  struct KeyRow {
    std::string team_id;
    std::string hash;
    v1::ApiKey key;
  };
  struct AuditRow {
    std::string team_id;
    v1::AuditEntry entry;
  };

  TeamRow* FindTeam(const std::string& team_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static v1::Member* FindMember(TeamRow& team, const std::string& user_id);
  static int Owners(const TeamRow& team);
  bool NameTaken(const std::string& display_name, const std::string& except_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Audit(const std::string& team_id, const AuditContext& audit, const std::string& action,
             const std::string& resource, const std::string& before, const std::string& after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  google::protobuf::Timestamp Now();

  time::Clock& clock_;
  absl::Mutex mu_;
  int64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<std::string, TeamRow> teams_ ABSL_GUARDED_BY(mu_);
  std::vector<KeyRow> keys_ ABSL_GUARDED_BY(mu_);  // in creation order
  std::map<int64_t, AuditRow> audit_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Time> last_use_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aimarket::team
