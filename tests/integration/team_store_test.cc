// TeamStore on the real Postgres: every change with its audit entry in one transaction, keyset
// pages, the rules checked against locked rows (the last owner stays, also under concurrent
// removals), key lookup for authentication.

#include "services/team_management/team_store.h"

#include <atomic>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/db/migrations.h"
#include "common/status/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/pg_test_util.h"

namespace aimarket::team {
namespace {

using ::aimarket::status::IsOk;
using ::aimarket::status::StatusIs;
using ::testing::ElementsAre;

class TeamStoreTest : public ::testing::Test {
 protected:
  void Open(const std::string& dsn) {
    auto pool = db::ConnectionPool::Create({.dsn = dsn, .size = 8});
    ASSERT_THAT(pool, IsOk());
    pool_ = std::move(*pool);
    ASSERT_THAT(db::ApplyMigrations(*pool_, db::EmbeddedMigrations()), IsOk());
    store_ = std::make_unique<TeamStore>(*pool_);
  }

  int AuditCount(const std::string& team_id) {
    auto lease = pool_->Acquire();
    pqxx::work tx(**lease);
    return tx.exec_params1("SELECT count(*) FROM audit_log WHERE team_id = $1", team_id)[0]
        .as<int>();
  }

  v1::Team MakeTeam(const std::string& id, const std::string& name) {
    v1::Team t;
    t.set_name(absl::StrCat("teams/", id));
    t.set_display_name(name);
    t.mutable_settings()->add_model_access("gpt-4o");
    t.mutable_settings()->set_monthly_budget_nano_usd(5000);
    return t;
  }

  v1::Member MakeMember(const std::string& user, common::v1::Role role) {
    v1::Member m;
    m.set_user_id(user);
    m.set_role(role);
    return m;
  }

  const AuditContext audit_{"tester", "key_tester", "req_1"};
  std::unique_ptr<db::ConnectionPool> pool_;
  std::unique_ptr<TeamStore> store_;
};

TEST_F(TeamStoreTest, TeamsAreStoredWithTheirAuditAndNamesAreUnique) {
  AIM_PG_TEST_DATABASE(db);
  Open(db.dsn());
  absl::StatusOr<v1::Team> t = store_->CreateTeam(MakeTeam("t1", "Research"), audit_);
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->name(), "teams/t1");
  EXPECT_EQ(t->version(), 1);
  EXPECT_THAT(t->settings().model_access(), ElementsAre("gpt-4o"));
  EXPECT_EQ(AuditCount("t1"), 1);

  EXPECT_THAT(store_->CreateTeam(MakeTeam("t2", "RESEARCH"), audit_),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(store_->CreateTeam(MakeTeam("t1", "Other"), audit_),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(store_->GetTeam("t2"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(AuditCount("t2"), 0);

  // A refused change writes nothing, not even its audit entry.
  auto refused = store_->UpdateTeam(
      "t1", [](v1::Team&) { return absl::InvalidArgumentError("no"); }, audit_);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(AuditCount("t1"), 1);

  auto updated = store_->UpdateTeam(
      "t1",
      [](v1::Team& team) {
        team.mutable_settings()->set_monthly_budget_nano_usd(10);
        return absl::OkStatus();
      },
      audit_);
  ASSERT_THAT(updated, IsOk());
  EXPECT_EQ(updated->version(), 2);
  EXPECT_EQ(updated->settings().monthly_budget_nano_usd(), 10);
  EXPECT_EQ(AuditCount("t1"), 2);

  auto entries = store_->ListAudit("t1", "", 10);
  ASSERT_THAT(entries, IsOk());
  ASSERT_EQ(entries->items.size(), 2u);
  EXPECT_EQ(entries->items[0].action(), "team.update");  // newest first
  EXPECT_EQ(entries->items[0].actor(), "tester");
  EXPECT_EQ(entries->items[0].request_id(), "req_1");
  EXPECT_THAT(entries->items[0].before_json(), ::testing::HasSubstr("5000"));
  EXPECT_THAT(entries->items[0].after_json(), ::testing::HasSubstr("10"));

  ASSERT_THAT(store_->DeleteTeam("t1", audit_), IsOk());
  EXPECT_THAT(store_->GetTeam("t1"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->DeleteTeam("t1", audit_), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(AuditCount("t1"), 3);  // the log outlives the team
}

TEST_F(TeamStoreTest, PagesCoverEveryRowOnce) {
  AIM_PG_TEST_DATABASE(db);
  Open(db.dsn());
  for (int i = 0; i < 7; ++i)
    ASSERT_THAT(store_->CreateTeam(MakeTeam(absl::StrCat("p", i), absl::StrCat("P", i)), audit_),
                IsOk());
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    auto p = store_->ListTeams(after, 3, "");
    ASSERT_THAT(p, IsOk());
    for (const v1::Team& t : p->items) seen.push_back(t.name());
    if (!p->has_more) break;
    after = std::string(absl::StripPrefix(p->items.back().name(), "teams/"));
  }
  EXPECT_THAT(seen, ElementsAre("teams/p0", "teams/p1", "teams/p2", "teams/p3", "teams/p4",
                                "teams/p5", "teams/p6"));
  auto only = store_->ListTeams("", 10, "p3");
  ASSERT_THAT(only, IsOk());
  ASSERT_EQ(only->items.size(), 1u);
  EXPECT_FALSE(only->has_more);
}

TEST_F(TeamStoreTest, MembersKeysAndTheLastOwner) {
  AIM_PG_TEST_DATABASE(db);
  Open(db.dsn());
  ASSERT_THAT(store_->CreateTeam(MakeTeam("t", "T"), audit_), IsOk());
  ASSERT_THAT(store_->CreateMember("t", MakeMember("a@x", common::v1::ROLE_OWNER), audit_), IsOk());
  ASSERT_THAT(store_->CreateMember("t", MakeMember("b@x", common::v1::ROLE_MEMBER), audit_),
              IsOk());
  EXPECT_THAT(store_->CreateMember("t", MakeMember("b@x", common::v1::ROLE_VIEWER), audit_),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(store_->CreateMember("nope", MakeMember("b@x", common::v1::ROLE_VIEWER), audit_),
              StatusIs(absl::StatusCode::kNotFound));

  auto ok = [](const v1::Member&) { return absl::OkStatus(); };
  EXPECT_THAT(store_->UpdateMember("t", "a@x", common::v1::ROLE_ADMIN, ok, audit_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store_->DeleteMember("t", "a@x", ok, audit_),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  v1::ApiKey key;
  key.set_name("teams/t/apiKeys/k1");
  key.set_member("b@x");
  key.set_prefix("sk-am-abcdef");
  const std::string hash(64, 'a');
  // The check sees the holder's role, and its refusal leaves nothing behind.
  common::v1::Role seen = common::v1::ROLE_UNSPECIFIED;
  auto note = [&seen](const v1::Member& holder) {
    seen = holder.role();
    return absl::OkStatus();
  };
  auto refuse = [](const v1::Member&) { return absl::PermissionDeniedError("no"); };
  EXPECT_THAT(store_->CreateApiKey("t", key, hash, refuse, audit_),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(store_->FindKey(hash), StatusIs(absl::StatusCode::kNotFound));
  absl::StatusOr<v1::ApiKey> created = store_->CreateApiKey("t", key, hash, note, audit_);
  ASSERT_THAT(created, IsOk());
  EXPECT_EQ(seen, common::v1::ROLE_MEMBER);
  EXPECT_EQ(created->creator(), "tester");
  EXPECT_EQ(created->creator_key_id(), "key_tester");
  absl::StatusOr<Page<v1::AuditEntry>> audit = store_->ListAudit("t", "", 1);
  ASSERT_THAT(audit, IsOk());
  ASSERT_EQ(audit->items.size(), 1u);
  EXPECT_EQ(audit->items[0].action(), "api_key.create");
  EXPECT_EQ(audit->items[0].actor_key_id(), "key_tester");
  key.set_member("stranger@x");
  key.set_name("teams/t/apiKeys/k2");
  EXPECT_THAT(store_->CreateApiKey("t", key, std::string(64, 'b'), note, audit_),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  absl::StatusOr<KeyRecord> found = store_->FindKey(hash);
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ(found->team_id, "t");
  EXPECT_EQ(found->user_id, "b@x");
  EXPECT_EQ(found->role, common::v1::ROLE_MEMBER);
  EXPECT_FALSE(found->revoked);
  EXPECT_THAT(found->settings.model_access(), ElementsAre("gpt-4o"));
  EXPECT_THAT(store_->FindKey(std::string(64, 'c')), StatusIs(absl::StatusCode::kNotFound));
  // The use was noted.
  auto keys = store_->ListApiKeys("t", "", "", 10);
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->items.size(), 1u);
  EXPECT_TRUE(keys->items[0].has_last_use_time());

  // A role change shows at the next lookup; removing the member ends the key.
  ASSERT_THAT(store_->UpdateMember("t", "b@x", common::v1::ROLE_VIEWER, ok, audit_), IsOk());
  EXPECT_EQ(store_->FindKey(hash)->role, common::v1::ROLE_VIEWER);
  ASSERT_THAT(store_->DeleteMember("t", "b@x", ok, audit_), IsOk());
  EXPECT_THAT(store_->FindKey(hash), StatusIs(absl::StatusCode::kNotFound));
  keys = store_->ListApiKeys("t", "", "", 10);
  ASSERT_THAT(keys, IsOk());
  EXPECT_TRUE(keys->items[0].revoked());
  EXPECT_THAT(
      store_->RevokeApiKey(
          "t", "k1", [](const v1::ApiKey&, common::v1::Role) { return absl::OkStatus(); }, audit_),
      StatusIs(absl::StatusCode::kNotFound));  // already revoked
}

TEST_F(TeamStoreTest, ConcurrentRemovalsOfTwoOwnersLeaveOne) {
  AIM_PG_TEST_DATABASE(db);
  Open(db.dsn());
  auto ok = [](const v1::Member&) { return absl::OkStatus(); };
  for (int round = 0; round < 10; ++round) {
    const std::string team = absl::StrCat("race", round);
    ASSERT_THAT(store_->CreateTeam(MakeTeam(team, team), audit_), IsOk());
    ASSERT_THAT(store_->CreateMember(team, MakeMember("a@x", common::v1::ROLE_OWNER), audit_),
                IsOk());
    ASSERT_THAT(store_->CreateMember(team, MakeMember("b@x", common::v1::ROLE_OWNER), audit_),
                IsOk());
    std::atomic<int> removed{0};
    std::vector<std::thread> threads;
    for (const char* user : {"a@x", "b@x"}) {
      threads.emplace_back([&, user] {
        if (store_->DeleteMember(team, user, ok, audit_).ok()) ++removed;
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(removed.load(), 1) << team;
    auto members = store_->ListMembers(team, "", 10);
    ASSERT_THAT(members, IsOk());
    ASSERT_EQ(members->items.size(), 1u);
    EXPECT_EQ(members->items[0].role(), common::v1::ROLE_OWNER);
  }
}

}  // namespace
}  // namespace aimarket::team
