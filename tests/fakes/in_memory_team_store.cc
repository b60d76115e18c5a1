#include "tests/fakes/in_memory_team_store.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/status/status_macros.h"

namespace aimarket::team {
namespace {

// The page after `after` (an item for which `id_of` gives that id) of `items`, in their order.
// An unknown `after` gives an empty page, as the SQL's keyset comparison does.
template <typename T, typename IdOf>
Page<T> PageOf(const std::vector<T>& items, const std::string& after, int limit, IdOf id_of) {
  Page<T> page;
  size_t i = 0;
  if (!after.empty()) {
    i = items.size();
    for (size_t j = 0; j < items.size(); ++j) {
      if (id_of(items[j]) == after) i = j + 1;
    }
  }
  for (; i < items.size(); ++i) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.has_more = true;
      break;
    }
    page.items.push_back(items[i]);
  }
  return page;
}

std::string KeyId(const v1::ApiKey& k) { return k.name().substr(k.name().rfind('/') + 1); }

}  // namespace

google::protobuf::Timestamp InMemoryTeamStore::Now() {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
      absl::ToUnixMicros(clock_.Now()));
}

InMemoryTeamStore::TeamRow* InMemoryTeamStore::FindTeam(const std::string& team_id) {
  auto it = teams_.find(team_id);
  return it == teams_.end() ? nullptr : &it->second;
}

v1::Member* InMemoryTeamStore::FindMember(TeamRow& team, const std::string& user_id) {
  for (v1::Member& m : team.members) {
    if (m.user_id() == user_id) return &m;
  }
  return nullptr;
}

int InMemoryTeamStore::Owners(const TeamRow& team) {
  return static_cast<int>(std::count_if(team.members.begin(), team.members.end(), [](auto& m) {
    return m.role() == common::v1::ROLE_OWNER;
  }));
}

bool InMemoryTeamStore::NameTaken(const std::string& display_name, const std::string& except_id) {
  for (const auto& [id, row] : teams_) {
    if (id != except_id && absl::EqualsIgnoreCase(row.team.display_name(), display_name)) {
      return true;
    }
  }
  return false;
}

void InMemoryTeamStore::Audit(const std::string& team_id, const AuditContext& audit,
                              const std::string& action, const std::string& resource,
                              const std::string& before, const std::string& after) {
  const int64_t id = audit_.empty() ? 1 : audit_.rbegin()->first + 1;
  AuditRow& row = audit_[id];
  row.team_id = team_id;
  row.entry.set_name(absl::StrCat(id));
  row.entry.set_actor(audit.actor);
  row.entry.set_actor_key_id(audit.actor_key_id);
  row.entry.set_action(action);
  row.entry.set_resource(resource);
  row.entry.set_before_json(before);
  row.entry.set_after_json(after);
  row.entry.set_request_id(audit.request_id);
  *row.entry.mutable_create_time() = Now();
}

int InMemoryTeamStore::AuditCount(const std::string& team_id) {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(std::count_if(audit_.begin(), audit_.end(),
                                        [&](auto& e) { return e.second.team_id == team_id; }));
}

absl::StatusOr<v1::Team> InMemoryTeamStore::CreateTeam(const v1::Team& team,
                                                       const AuditContext& audit) {
  const std::string id(absl::StripPrefix(team.name(), "teams/"));
  absl::MutexLock lock(&mu_);
  if (teams_.contains(id) || NameTaken(team.display_name(), "")) {
    return TeamNameTaken(team.display_name());
  }
  TeamRow& row = teams_[id];
  row.seq = next_seq_++;
  row.team = team;
  row.webhook_secret = team.webhook_secret();
  row.team.clear_webhook_secret();
  row.team.set_has_webhook_secret(!row.webhook_secret.empty());
  row.team.set_version(1);
  *row.team.mutable_create_time() = Now();
  *row.team.mutable_update_time() = row.team.create_time();
  Audit(id, audit, "team.create", row.team.name(), "", AuditJson(row.team));
  v1::Team created = row.team;
  created.set_webhook_secret(row.webhook_secret);
  return created;
}

absl::StatusOr<v1::Team> InMemoryTeamStore::GetTeam(const std::string& team_id) {
  absl::MutexLock lock(&mu_);
  const TeamRow* row = FindTeam(team_id);
  if (row == nullptr) return TeamNotFound(team_id);
  return row->team;
}

absl::StatusOr<Page<v1::Team>> InMemoryTeamStore::ListTeams(const std::string& after, int limit,
                                                            const std::string& only) {
  absl::MutexLock lock(&mu_);
  std::vector<const TeamRow*> rows;
  for (const auto& [id, row] : teams_) {
    if (only.empty() || id == only) rows.push_back(&row);
  }
  std::sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
  std::vector<v1::Team> ordered;
  for (const TeamRow* r : rows) ordered.push_back(r->team);
  return PageOf(ordered, after, limit, [](const v1::Team& t) {
    return std::string(absl::StripPrefix(t.name(), "teams/"));
  });
}

absl::StatusOr<v1::Team> InMemoryTeamStore::UpdateTeam(
    const std::string& team_id, const std::function<absl::Status(v1::Team&)>& mutate,
    const AuditContext& audit) {
  absl::MutexLock lock(&mu_);
  TeamRow* row = FindTeam(team_id);
  if (row == nullptr) return TeamNotFound(team_id);
  const v1::Team before = row->team;
  v1::Team after = before;
  AIM_RETURN_IF_ERROR(mutate(after));
  if (NameTaken(after.display_name(), team_id)) return TeamNameTaken("");
  after.set_version(before.version() + 1);
  *after.mutable_update_time() = Now();
  const std::string secret = after.webhook_secret();
  if (!secret.empty()) row->webhook_secret = secret;
  after.clear_webhook_secret();
  after.set_has_webhook_secret(!row->webhook_secret.empty());
  row->team = after;
  Audit(team_id, audit, "team.update", after.name(), AuditJson(before), AuditJson(after));
  after.set_webhook_secret(secret);
  return after;
}

absl::Status InMemoryTeamStore::DeleteTeam(const std::string& team_id, const AuditContext& audit) {
  absl::MutexLock lock(&mu_);
  TeamRow* row = FindTeam(team_id);
  if (row == nullptr) return TeamNotFound(team_id);
  const v1::Team before = row->team;
  teams_.erase(team_id);
  std::erase_if(keys_, [&](const KeyRow& k) { return k.team_id == team_id; });
  Audit(team_id, audit, "team.delete", before.name(), AuditJson(before), "");
  return absl::OkStatus();
}

absl::StatusOr<v1::Member> InMemoryTeamStore::CreateMember(const std::string& team_id,
                                                           const v1::Member& member,
                                                           const AuditContext& audit) {
  absl::MutexLock lock(&mu_);
  TeamRow* row = FindTeam(team_id);
  if (row == nullptr) return TeamNotFound(team_id);
  if (FindMember(*row, member.user_id()) != nullptr) return MemberExists(member.user_id());
  v1::Member created;
  created.set_user_id(member.user_id());
  created.set_name(absl::StrCat("teams/", team_id, "/members/", member.user_id()));
  created.set_role(member.role());
  *created.mutable_create_time() = Now();
  row->members.push_back(created);
  Audit(team_id, audit, "member.create", created.name(), "", AuditJson(created));
  return created;
}

absl::StatusOr<v1::Member> InMemoryTeamStore::GetMember(const std::string& team_id,
                                                        const std::string& user_id) {
  absl::MutexLock lock(&mu_);
  TeamRow* row = FindTeam(team_id);
  v1::Member* m = row == nullptr ? nullptr : FindMember(*row, user_id);
  if (m == nullptr) return MemberNotFound(user_id);
  return *m;
}

absl::StatusOr<Page<v1::Member>> InMemoryTeamStore::ListMembers(const std::string& team_id,
                                                                const std::string& after,
                                                                int limit) {
  absl::MutexLock lock(&mu_);
  TeamRow* row = FindTeam(team_id);
  if (row == nullptr) return Page<v1::Member>();
  return PageOf(row->members, after, limit, [](const v1::Member& m) { return m.user_id(); });
}

absl::StatusOr<v1::Member> InMemoryTeamStore::UpdateMember(
    const std::string& team_id, const std::string& user_id, common::v1::Role role,
    const std::function<absl::Status(const v1::Member&)>& check, const AuditContext& audit) {
  absl::MutexLock lock(&mu_);
  TeamRow* row = FindTeam(team_id);
  if (row == nullptr) return TeamNotFound(team_id);
  v1::Member* m = FindMember(*row, user_id);
  if (m == nullptr) return MemberNotFound(user_id);
  const v1::Member before = *m;
  AIM_RETURN_IF_ERROR(check(before));
  if (before.role() == common::v1::ROLE_OWNER && role != common::v1::ROLE_OWNER &&
      Owners(*row) <= 1) {
    return LastOwner();
  }
  m->set_role(role);
  Audit(team_id, audit, "member.update", m->name(), AuditJson(before), AuditJson(*m));
  return *m;
}

absl::Status InMemoryTeamStore::DeleteMember(
    const std::string& team_id, const std::string& user_id,
    const std::function<absl::Status(const v1::Member&)>& check, const AuditContext& audit) {
  absl::MutexLock lock(&mu_);
  TeamRow* row = FindTeam(team_id);
  if (row == nullptr) return TeamNotFound(team_id);
  v1::Member* m = FindMember(*row, user_id);
  if (m == nullptr) return MemberNotFound(user_id);
  const v1::Member before = *m;
  AIM_RETURN_IF_ERROR(check(before));
  if (before.role() == common::v1::ROLE_OWNER && Owners(*row) <= 1) return LastOwner();
  std::erase_if(row->members, [&](const v1::Member& x) { return x.user_id() == user_id; });
  Audit(team_id, audit, "member.delete", before.name(), AuditJson(before), "");
  for (KeyRow& k : keys_) {
    if (k.team_id == team_id && k.key.member() == user_id && !k.key.revoked()) {
      k.key.set_revoked(true);
      Audit(team_id, audit, "api_key.revoke", k.key.name(), "", "");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ApiKey> InMemoryTeamStore::CreateApiKey(
    const std::string& team_id, const v1::ApiKey& key, const std::string& key_hash,
    const std::function<absl::Status(const v1::Member&)>& check, const AuditContext& audit) {
  absl::MutexLock lock(&mu_);
  TeamRow* row = FindTeam(team_id);
  if (row == nullptr) return TeamNotFound(team_id);
  const v1::Member* holder = FindMember(*row, key.member());
  if (holder == nullptr) return KeyForNonMember(key.member());
  AIM_RETURN_IF_ERROR(check(*holder));
  KeyRow& k = keys_.emplace_back();
  k.team_id = team_id;
  k.hash = key_hash;
  k.key = key;
  k.key.clear_key();
  k.key.clear_revoked();
  k.key.clear_last_use_time();
  k.key.set_creator(audit.actor);
  k.key.set_creator_key_id(audit.actor_key_id);
  *k.key.mutable_create_time() = Now();
  Audit(team_id, audit, "api_key.create", k.key.name(), "", AuditJson(k.key));
  return k.key;
}

absl::StatusOr<Page<v1::ApiKey>> InMemoryTeamStore::ListApiKeys(const std::string& team_id,
                                                                const std::string& user_id,
                                                                const std::string& after,
                                                                int limit) {
  absl::MutexLock lock(&mu_);
  std::vector<v1::ApiKey> keys;
  for (const KeyRow& k : keys_) {
    if (k.team_id != team_id || (!user_id.empty() && k.key.member() != user_id)) continue;
    keys.push_back(k.key);
    auto used = last_use_.find(k.hash);
    if (used != last_use_.end()) {
      *keys.back().mutable_last_use_time() =
          google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
              absl::ToUnixMicros(used->second));
    }
  }
  return PageOf(keys, after, limit, KeyId);
}

absl::StatusOr<v1::ApiKey> InMemoryTeamStore::UpdateApiKey(
    const std::string& team_id, const std::string& key_id,
    const std::function<absl::Status(v1::ApiKey&)>& mutate, const AuditContext& audit) {
  absl::MutexLock lock(&mu_);
  for (KeyRow& k : keys_) {
    if (k.team_id != team_id || KeyId(k.key) != key_id || k.key.revoked()) continue;
    const v1::ApiKey before = k.key;
    v1::ApiKey changed = k.key;
    AIM_RETURN_IF_ERROR(mutate(changed));
    k.key.set_display_name(changed.display_name());
    *k.key.mutable_limits() = changed.limits();
    Audit(team_id, audit, "api_key.update", k.key.name(), AuditJson(before), AuditJson(k.key));
    return k.key;
  }
  return ApiKeyNotFound(key_id);
}

absl::Status InMemoryTeamStore::RevokeApiKey(
    const std::string& team_id, const std::string& key_id,
    const std::function<absl::Status(const v1::ApiKey&, common::v1::Role)>& check,
    const AuditContext& audit) {
  absl::MutexLock lock(&mu_);
  for (KeyRow& k : keys_) {
    if (k.team_id != team_id || KeyId(k.key) != key_id || k.key.revoked()) continue;
    const v1::ApiKey before = k.key;
    TeamRow* row = FindTeam(team_id);
    const v1::Member* holder = row != nullptr ? FindMember(*row, before.member()) : nullptr;
    AIM_RETURN_IF_ERROR(
        check(before, holder != nullptr ? holder->role() : common::v1::ROLE_UNSPECIFIED));
    k.key.set_revoked(true);
    Audit(team_id, audit, "api_key.revoke", k.key.name(), AuditJson(before), AuditJson(k.key));
    return absl::OkStatus();
  }
  return ApiKeyNotFound(key_id);
}

absl::StatusOr<Page<v1::AuditEntry>> InMemoryTeamStore::ListAudit(const std::string& team_id,
                                                                  const std::string& after,
                                                                  int limit) {
  AIM_ASSIGN_OR_RETURN(const int64_t before_id, AuditCursor(after));
  absl::MutexLock lock(&mu_);
  std::vector<v1::AuditEntry> newest_first;
  for (auto it = audit_.rbegin(); it != audit_.rend(); ++it) {
    if (it->second.team_id == team_id && (before_id == 0 || it->first < before_id)) {
      newest_first.push_back(it->second.entry);
    }
  }
  return PageOf(newest_first, "", limit, [](const v1::AuditEntry& e) { return e.name(); });
}

absl::StatusOr<KeyRecord> InMemoryTeamStore::FindKey(const std::string& key_hash) {
  absl::MutexLock lock(&mu_);
  for (const KeyRow& k : keys_) {
    if (k.hash != key_hash) continue;
    TeamRow* team = FindTeam(k.team_id);
    const v1::Member* member = team == nullptr ? nullptr : FindMember(*team, k.key.member());
    if (member == nullptr) break;
    KeyRecord r;
    r.key_id = KeyId(k.key);
    r.team_id = k.team_id;
    r.user_id = k.key.member();
    r.role = member->role();
    r.settings = team->team.settings();
    r.key_limits = k.key.limits();
    r.version = team->team.version();
    if (k.key.has_expire_time()) {
      r.expire_time = absl::FromUnixMicros(
          google::protobuf::util::TimeUtil::TimestampToMicroseconds(k.key.expire_time()));
    }
    r.revoked = k.key.revoked();
    if (!r.revoked) {
      const absl::Time now = clock_.Now();
      auto [used, fresh] = last_use_.try_emplace(k.hash, now);
      if (!fresh && used->second < now - absl::Minutes(1)) used->second = now;
    }
    return r;
  }
  return absl::NotFoundError("no such key");
}

}  // namespace aimarket::team
