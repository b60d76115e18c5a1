#include "services/team_management/team_store.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <pqxx/pqxx>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/db/pqxx_status.h"
#include "common/db/transact.h"
#include "common/status/status_macros.h"
#include "services/team_management/team_api.h"

namespace aimarket::team {
namespace {

using Row = pqxx::row;

constexpr char kTeamColumns[] =
    "id, display_name, settings::text, version, "
    "(extract(epoch from create_time) * 1000000)::bigint, (extract(epoch from update_time) * "
    "1000000)::bigint, webhook_secret <> ''";
constexpr char kMemberColumns[] =
    "user_id, role, (extract(epoch from create_time) * 1000000)::bigint";
constexpr char kKeyColumns[] =
    "id, display_name, prefix, user_id, (extract(epoch from create_time) * 1000000)::bigint, "
    "(extract(epoch from expire_time) * 1000000)::bigint, revoke_time IS NOT NULL, "
    "(extract(epoch from last_use_time) * 1000000)::bigint, created_by, created_by_key_id, "
    "limits::text";

google::protobuf::Timestamp FromMicros(int64_t us) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(us);
}

// A stored JSONB column as its message (fields it does not know are ignored).
template <typename M>
M FromJson(const std::string& json) {
  M m;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  (void)google::protobuf::util::JsonStringToMessage(json, &m, opts);
  return m;
}

// A message as stored in a JSONB column (snake_case names).
std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

v1::Team TeamFromRow(const Row& r) {
  v1::Team t;
  t.set_name(absl::StrCat("teams/", r[0].as<std::string>()));
  t.set_display_name(r[1].as<std::string>());
  *t.mutable_settings() = FromJson<common::v1::TeamSettings>(r[2].as<std::string>());
  t.set_version(r[3].as<int64_t>());
  *t.mutable_create_time() = FromMicros(r[4].as<int64_t>());
  *t.mutable_update_time() = FromMicros(r[5].as<int64_t>());
  t.set_has_webhook_secret(r[6].as<bool>());
  return t;
}

v1::Member MemberFromRow(const std::string& team_id, const Row& r) {
  v1::Member m;
  m.set_user_id(r[0].as<std::string>());
  m.set_name(absl::StrCat("teams/", team_id, "/members/", m.user_id()));
  m.set_role(RoleFromName(r[1].as<std::string>()));
  *m.mutable_create_time() = FromMicros(r[2].as<int64_t>());
  return m;
}

v1::ApiKey KeyFromRow(const std::string& team_id, const Row& r) {
  v1::ApiKey k;
  k.set_name(absl::StrCat("teams/", team_id, "/apiKeys/", r[0].as<std::string>()));
  k.set_display_name(r[1].as<std::string>());
  k.set_prefix(r[2].as<std::string>());
  k.set_member(r[3].as<std::string>());
  *k.mutable_create_time() = FromMicros(r[4].as<int64_t>());
  if (!r[5].is_null()) *k.mutable_expire_time() = FromMicros(r[5].as<int64_t>());
  k.set_revoked(r[6].as<bool>());
  if (!r[7].is_null()) *k.mutable_last_use_time() = FromMicros(r[7].as<int64_t>());
  k.set_creator(r[8].as<std::string>());
  k.set_creator_key_id(r[9].as<std::string>());
  *k.mutable_limits() = FromJson<common::v1::KeyLimits>(r[10].as<std::string>());
  return k;
}

v1::AuditEntry AuditFromRow(const Row& row) {
  v1::AuditEntry e;
  e.set_name(row[0].as<std::string>());
  e.set_actor(row[1].as<std::string>());
  e.set_action(row[2].as<std::string>());
  e.set_resource(row[3].as<std::string>());
  e.set_before_json(row[4].as<std::string>());
  e.set_after_json(row[5].as<std::string>());
  e.set_request_id(row[6].as<std::string>());
  *e.mutable_create_time() = FromMicros(row[7].as<int64_t>());
  e.set_actor_key_id(row[8].as<std::string>());
  return e;
}

void WriteAudit(pqxx::work& tx, const std::string& team_id, const AuditContext& audit,
                const std::string& action, const std::string& resource, const std::string& before,
                const std::string& after) {
  tx.exec_params(
      "INSERT INTO audit_log (team_id, actor, actor_key_id, action, resource, before, after, "
      "request_id) VALUES ($1, $2, $3, $4, $5, NULLIF($6, '')::jsonb, NULLIF($7, '')::jsonb, $8)",
      team_id, audit.actor, audit.actor_key_id, action, resource, before, after, audit.request_id);
}

// Locks the team row (serializing membership changes of one team) and says whether it exists.
bool LockTeam(pqxx::work& tx, const std::string& team_id) {
  return !tx.exec_params("SELECT 1 FROM teams WHERE id = $1 FOR UPDATE", team_id).empty();
}

int CountOwners(pqxx::work& tx, const std::string& team_id) {
  return tx
      .exec_params1("SELECT count(*) FROM team_members WHERE team_id = $1 AND role = 'owner'",
                    team_id)[0]
      .as<int>();
}

// The first `limit` rows as a page; one row more (queries ask for limit + 1) means more follow.
template <typename T, typename Convert>
Page<T> ToPage(const pqxx::result& rows, int limit, Convert convert) {
  Page<T> page;
  for (const Row& row : rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.has_more = true;
      break;
    }
    page.items.push_back(convert(row));
  }
  return page;
}

// Locks the team row, then reads the member: NOT_FOUND for either.
absl::StatusOr<v1::Member> LockedMember(pqxx::work& tx, const std::string& team_id,
                                        const std::string& user_id) {
  if (!LockTeam(tx, team_id)) return TeamNotFound(team_id);
  pqxx::result r =
      tx.exec_params(absl::StrCat("SELECT ", kMemberColumns,
                                  " FROM team_members WHERE team_id = $1 AND user_id = $2"),
                     team_id, user_id);
  if (r.empty()) return MemberNotFound(user_id);
  return MemberFromRow(team_id, r[0]);
}

// The key's row, locked, if it exists and is not revoked.
absl::StatusOr<v1::ApiKey> LockedKey(pqxx::work& tx, const std::string& team_id,
                                     const std::string& key_id) {
  pqxx::result r = tx.exec_params(
      absl::StrCat(
          "SELECT ", kKeyColumns,
          " FROM api_keys WHERE team_id = $1 AND id = $2 AND revoke_time IS NULL FOR UPDATE"),
      team_id, key_id);
  if (r.empty()) return ApiKeyNotFound(key_id);
  return KeyFromRow(team_id, r[0]);
}

}  // namespace

absl::StatusOr<v1::Team> TeamStore::CreateTeam(const v1::Team& team, const AuditContext& audit) {
  const std::string id(absl::StripPrefix(team.name(), "teams/"));
  return db::Transact(
      pool_,
      [&](pqxx::work& tx) -> absl::StatusOr<v1::Team> {
        pqxx::result r =
            tx.exec_params(absl::StrCat("INSERT INTO teams (id, display_name, settings, "
                                        "webhook_secret) VALUES ($1, $2, $3::jsonb, $4) RETURNING ",
                                        kTeamColumns),
                           id, team.display_name(), ToJson(team.settings()), team.webhook_secret());
        v1::Team created = TeamFromRow(r[0]);
        WriteAudit(tx, id, audit, "team.create", created.name(), "", AuditJson(created));
        created.set_webhook_secret(team.webhook_secret());  // Shown once, never audited.
        return created;
      },
      [&] { return TeamNameTaken(team.display_name()); });
}

absl::StatusOr<v1::Team> TeamStore::GetTeam(const std::string& team_id) {
  return db::Transact<pqxx::read_transaction>(
      pool_, [&](pqxx::read_transaction& tx) -> absl::StatusOr<v1::Team> {
        pqxx::result r = tx.exec_params(
            absl::StrCat("SELECT ", kTeamColumns, " FROM teams WHERE id = $1"), team_id);
        if (r.empty()) return TeamNotFound(team_id);
        return TeamFromRow(r[0]);
      });
}

absl::StatusOr<Page<v1::Team>> TeamStore::ListTeams(const std::string& after, int limit,
                                                    const std::string& only) {
  return db::Transact<pqxx::read_transaction>(
      pool_, [&](pqxx::read_transaction& tx) -> absl::StatusOr<Page<v1::Team>> {
        pqxx::result r = tx.exec_params(
            absl::StrCat("SELECT ", kTeamColumns,
                         " FROM teams WHERE ($1 = '' OR (create_time, id) > (SELECT "
                         "create_time, id FROM teams WHERE id = $1))"
                         " AND ($2 = '' OR id = $2) ORDER BY create_time, id LIMIT $3"),
            after, only, limit + 1);
        return ToPage<v1::Team>(r, limit, TeamFromRow);
      });
}

absl::StatusOr<v1::Team> TeamStore::UpdateTeam(const std::string& team_id,
                                               const std::function<absl::Status(v1::Team&)>& mutate,
                                               const AuditContext& audit) {
  return db::Transact(
      pool_,
      [&](pqxx::work& tx) -> absl::StatusOr<v1::Team> {
        pqxx::result r = tx.exec_params(
            absl::StrCat("SELECT ", kTeamColumns, " FROM teams WHERE id = $1 FOR UPDATE"), team_id);
        if (r.empty()) return TeamNotFound(team_id);
        const v1::Team before = TeamFromRow(r[0]);
        v1::Team after = before;
        AIM_RETURN_IF_ERROR(mutate(after));
        // A new webhook secret (set by `mutate`) replaces the stored one; none keeps it.
        pqxx::result w = tx.exec_params(
            absl::StrCat("UPDATE teams SET display_name = $2, settings = $3::jsonb, "
                         "webhook_secret = CASE WHEN $4 = '' THEN webhook_secret ELSE $4 END, "
                         "version = version + 1, update_time = now() WHERE id = $1 RETURNING ",
                         kTeamColumns),
            team_id, after.display_name(), ToJson(after.settings()), after.webhook_secret());
        v1::Team updated = TeamFromRow(w[0]);
        WriteAudit(tx, team_id, audit, "team.update", updated.name(), AuditJson(before),
                   AuditJson(updated));
        updated.set_webhook_secret(after.webhook_secret());  // Shown once, never audited.
        return updated;
      },
      [&] { return TeamNameTaken(""); });
}

absl::Status TeamStore::DeleteTeam(const std::string& team_id, const AuditContext& audit) {
  return db::Transact(pool_, [&](pqxx::work& tx) -> absl::Status {
    pqxx::result r = tx.exec_params(
        absl::StrCat("DELETE FROM teams WHERE id = $1 RETURNING ", kTeamColumns), team_id);
    if (r.empty()) return TeamNotFound(team_id);
    const v1::Team before = TeamFromRow(r[0]);
    WriteAudit(tx, team_id, audit, "team.delete", before.name(), AuditJson(before), "");
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::Member> TeamStore::CreateMember(const std::string& team_id,
                                                   const v1::Member& member,
                                                   const AuditContext& audit) {
  return db::Transact(
      pool_,
      [&](pqxx::work& tx) -> absl::StatusOr<v1::Member> {
        if (!LockTeam(tx, team_id)) return TeamNotFound(team_id);
        pqxx::result r = tx.exec_params(
            absl::StrCat(
                "INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, $3) RETURNING ",
                kMemberColumns),
            team_id, member.user_id(), std::string(RoleName(member.role())));
        v1::Member created = MemberFromRow(team_id, r[0]);
        WriteAudit(tx, team_id, audit, "member.create", created.name(), "", AuditJson(created));
        return created;
      },
      [&] { return MemberExists(member.user_id()); });
}

absl::StatusOr<v1::Member> TeamStore::GetMember(const std::string& team_id,
                                                const std::string& user_id) {
  return db::Transact<pqxx::read_transaction>(
      pool_, [&](pqxx::read_transaction& tx) -> absl::StatusOr<v1::Member> {
        pqxx::result r =
            tx.exec_params(absl::StrCat("SELECT ", kMemberColumns,
                                        " FROM team_members WHERE team_id = $1 AND user_id = $2"),
                           team_id, user_id);
        if (r.empty()) return MemberNotFound(user_id);
        return MemberFromRow(team_id, r[0]);
      });
}

absl::StatusOr<Page<v1::Member>> TeamStore::ListMembers(const std::string& team_id,
                                                        const std::string& after, int limit) {
  return db::Transact<pqxx::read_transaction>(
      pool_, [&](pqxx::read_transaction& tx) -> absl::StatusOr<Page<v1::Member>> {
        pqxx::result r = tx.exec_params(
            absl::StrCat(
                "SELECT ", kMemberColumns,
                " FROM team_members WHERE team_id = $1 AND ($2 = '' OR (create_time, user_id) > "
                "(SELECT create_time, user_id FROM team_members WHERE team_id = $1 AND user_id = "
                "$2)) "
                "ORDER BY create_time, user_id LIMIT $3"),
            team_id, after, limit + 1);
        return ToPage<v1::Member>(r, limit,
                                  [&](const Row& row) { return MemberFromRow(team_id, row); });
      });
}

absl::StatusOr<v1::Member> TeamStore::UpdateMember(
    const std::string& team_id, const std::string& user_id, common::v1::Role role,
    const std::function<absl::Status(const v1::Member&)>& check, const AuditContext& audit) {
  return db::Transact(pool_, [&](pqxx::work& tx) -> absl::StatusOr<v1::Member> {
    AIM_ASSIGN_OR_RETURN(const v1::Member before, LockedMember(tx, team_id, user_id));
    AIM_RETURN_IF_ERROR(check(before));
    if (before.role() == common::v1::ROLE_OWNER && role != common::v1::ROLE_OWNER &&
        CountOwners(tx, team_id) <= 1) {
      return LastOwner();
    }
    pqxx::result w = tx.exec_params(
        absl::StrCat(
            "UPDATE team_members SET role = $3 WHERE team_id = $1 AND user_id = $2 RETURNING ",
            kMemberColumns),
        team_id, user_id, std::string(RoleName(role)));
    v1::Member updated = MemberFromRow(team_id, w[0]);
    WriteAudit(tx, team_id, audit, "member.update", updated.name(), AuditJson(before),
               AuditJson(updated));
    return updated;
  });
}

absl::Status TeamStore::DeleteMember(const std::string& team_id, const std::string& user_id,
                                     const std::function<absl::Status(const v1::Member&)>& check,
                                     const AuditContext& audit) {
  return db::Transact(pool_, [&](pqxx::work& tx) -> absl::Status {
    AIM_ASSIGN_OR_RETURN(const v1::Member before, LockedMember(tx, team_id, user_id));
    AIM_RETURN_IF_ERROR(check(before));
    if (before.role() == common::v1::ROLE_OWNER && CountOwners(tx, team_id) <= 1)
      return LastOwner();
    tx.exec_params("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2", team_id,
                   user_id);
    pqxx::result revoked = tx.exec_params(
        "UPDATE api_keys SET revoke_time = now() WHERE team_id = $1 AND user_id = $2 AND "
        "revoke_time "
        "IS NULL "
        "RETURNING id",
        team_id, user_id);
    WriteAudit(tx, team_id, audit, "member.delete", before.name(), AuditJson(before), "");
    for (const Row& k : revoked) {
      WriteAudit(tx, team_id, audit, "api_key.revoke",
                 absl::StrCat("teams/", team_id, "/apiKeys/", k[0].as<std::string>()), "", "");
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::ApiKey> TeamStore::CreateApiKey(
    const std::string& team_id, const v1::ApiKey& key, const std::string& key_hash,
    const std::function<absl::Status(const v1::Member&)>& check, const AuditContext& audit) {
  const std::string key_id = key.name().substr(key.name().rfind('/') + 1);
  return db::Transact(pool_, [&](pqxx::work& tx) -> absl::StatusOr<v1::ApiKey> {
    if (!LockTeam(tx, team_id)) return TeamNotFound(team_id);
    // The team row's lock keeps the holder's role as checked until the key exists.
    pqxx::result holder = tx.exec_params(
        "SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2", team_id, key.member());
    if (holder.empty()) return KeyForNonMember(key.member());
    v1::Member member;
    member.set_user_id(key.member());
    member.set_role(RoleFromName(holder[0][0].as<std::string>()));
    AIM_RETURN_IF_ERROR(check(member));
    // Microseconds since the epoch; 0: never expires.
    const int64_t expire =
        key.has_expire_time()
            ? google::protobuf::util::TimeUtil::TimestampToMicroseconds(key.expire_time())
            : 0;
    pqxx::result r = tx.exec_params(
        absl::StrCat("INSERT INTO api_keys (id, team_id, user_id, display_name, "
                     "key_hash, prefix, created_by, created_by_key_id, expire_time, limits) "
                     "VALUES ($1, $2, $3, $4, decode($5, 'hex'), $6, $7, $8, "
                     "CASE WHEN $9::bigint = 0 THEN NULL ELSE to_timestamp($9::bigint "
                     "/ 1000000.0) END, $10::jsonb) RETURNING ",
                     kKeyColumns),
        key_id, team_id, key.member(), key.display_name(), key_hash, key.prefix(), audit.actor,
        audit.actor_key_id, expire, ToJson(key.limits()));
    v1::ApiKey created = KeyFromRow(team_id, r[0]);
    WriteAudit(tx, team_id, audit, "api_key.create", created.name(), "", AuditJson(created));
    return created;
  });
}

absl::StatusOr<Page<v1::ApiKey>> TeamStore::ListApiKeys(const std::string& team_id,
                                                        const std::string& user_id,
                                                        const std::string& after, int limit) {
  return db::Transact<pqxx::read_transaction>(
      pool_, [&](pqxx::read_transaction& tx) -> absl::StatusOr<Page<v1::ApiKey>> {
        pqxx::result r = tx.exec_params(
            absl::StrCat(
                "SELECT ", kKeyColumns,
                " FROM api_keys WHERE team_id = $1 AND ($2 = '' OR user_id = $2) AND ($3 = '' OR "
                "(create_time, id) > (SELECT create_time, id FROM api_keys WHERE team_id = $1 AND "
                "id = "
                "$3)) "
                "ORDER BY create_time, id LIMIT $4"),
            team_id, user_id, after, limit + 1);
        return ToPage<v1::ApiKey>(r, limit,
                                  [&](const Row& row) { return KeyFromRow(team_id, row); });
      });
}

absl::StatusOr<v1::ApiKey> TeamStore::UpdateApiKey(
    const std::string& team_id, const std::string& key_id,
    const std::function<absl::Status(v1::ApiKey&)>& mutate, const AuditContext& audit) {
  return db::Transact(pool_, [&](pqxx::work& tx) -> absl::StatusOr<v1::ApiKey> {
    AIM_ASSIGN_OR_RETURN(const v1::ApiKey before, LockedKey(tx, team_id, key_id));
    v1::ApiKey key = before;
    AIM_RETURN_IF_ERROR(mutate(key));
    pqxx::result w = tx.exec_params(
        absl::StrCat("UPDATE api_keys SET display_name = $2, limits = $3::jsonb WHERE id = $1 "
                     "RETURNING ",
                     kKeyColumns),
        key_id, key.display_name(), ToJson(key.limits()));
    const v1::ApiKey after = KeyFromRow(team_id, w[0]);
    WriteAudit(tx, team_id, audit, "api_key.update", after.name(), AuditJson(before),
               AuditJson(after));
    return after;
  });
}

absl::Status TeamStore::RevokeApiKey(
    const std::string& team_id, const std::string& key_id,
    const std::function<absl::Status(const v1::ApiKey&, common::v1::Role)>& check,
    const AuditContext& audit) {
  return db::Transact(pool_, [&](pqxx::work& tx) -> absl::Status {
    AIM_ASSIGN_OR_RETURN(const v1::ApiKey before, LockedKey(tx, team_id, key_id));
    pqxx::result holder = tx.exec_params(
        "SELECT role FROM team_members WHERE team_id = $1 AND user_id = $2 FOR SHARE", team_id,
        before.member());
    AIM_RETURN_IF_ERROR(check(before, holder.empty()
                                          ? common::v1::ROLE_UNSPECIFIED
                                          : RoleFromName(holder[0][0].as<std::string>())));
    pqxx::result w = tx.exec_params(
        absl::StrCat("UPDATE api_keys SET revoke_time = now() WHERE id = $1 RETURNING ",
                     kKeyColumns),
        key_id);
    const v1::ApiKey after = KeyFromRow(team_id, w[0]);
    WriteAudit(tx, team_id, audit, "api_key.revoke", after.name(), AuditJson(before),
               AuditJson(after));
    return absl::OkStatus();
  });
}

absl::StatusOr<Page<v1::AuditEntry>> TeamStore::ListAudit(const std::string& team_id,
                                                          const std::string& after, int limit) {
  AIM_ASSIGN_OR_RETURN(const int64_t before_id, AuditCursor(after));
  return db::Transact<pqxx::read_transaction>(
      pool_, [&](pqxx::read_transaction& tx) -> absl::StatusOr<Page<v1::AuditEntry>> {
        pqxx::result r = tx.exec_params(
            "SELECT id, actor, action, resource, coalesce(before::text, ''), coalesce(after::text, "
            "''), "
            "coalesce(request_id, ''), (extract(epoch from create_time) * 1000000)::bigint, "
            "actor_key_id FROM audit_log WHERE team_id = $1 AND ($2::bigint = 0 OR id < "
            "$2::bigint) "
            "ORDER BY id DESC "
            "LIMIT $3",
            team_id, before_id, limit + 1);
        return ToPage<v1::AuditEntry>(r, limit, AuditFromRow);
      });
}

absl::StatusOr<KeyRecord> TeamStore::FindKey(const std::string& key_hash) {
  return db::Transact(pool_, [&](pqxx::work& tx) -> absl::StatusOr<KeyRecord> {
    pqxx::result r = tx.exec_params(
        "SELECT k.id, k.team_id, k.user_id, m.role, t.settings::text, t.version, k.limits::text, "
        "(extract(epoch from k.expire_time) * 1000000)::bigint, k.revoke_time IS NOT NULL, "
        "k.last_use_time IS NULL OR k.last_use_time < now() - interval '1 minute' "
        "FROM api_keys k JOIN team_members m ON m.team_id = k.team_id AND m.user_id = k.user_id "
        "JOIN teams t ON t.id = k.team_id WHERE k.key_hash = decode($1, 'hex')",
        key_hash);
    if (r.empty()) return absl::NotFoundError("no such key");
    const Row& row = r[0];
    KeyRecord k;
    k.key_id = row[0].as<std::string>();
    k.team_id = row[1].as<std::string>();
    k.user_id = row[2].as<std::string>();
    k.role = RoleFromName(row[3].as<std::string>());
    k.settings = FromJson<common::v1::TeamSettings>(row[4].as<std::string>());
    k.version = row[5].as<int64_t>();
    k.key_limits = FromJson<common::v1::KeyLimits>(row[6].as<std::string>());
    if (!row[7].is_null()) k.expire_time = absl::FromUnixMicros(row[7].as<int64_t>());
    k.revoked = row[8].as<bool>();
    if (row[9].as<bool>() && !k.revoked) {
      tx.exec_params("UPDATE api_keys SET last_use_time = now() WHERE id = $1", k.key_id);
    }
    return k;
  });
}

}  // namespace aimarket::team
