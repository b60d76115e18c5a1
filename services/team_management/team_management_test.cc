// TeamManagement's rules on an InMemoryTeamStore and a fake clock: the role matrix of
// docs/teams.md, the owners' rules, another team's resources, key expiry. The same service over
// Postgres is tested in tests/integration (team_store_test.cc, and end to end in teams.test.mjs).

#include "services/team_management/team_management.h"

#include <google/protobuf/util/time_util.h>

#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status/error.h"
#include "common/status/status_matchers.h"
#include "common/time/fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/in_memory_team_store.h"

namespace aimarket::team {
namespace {

using ::aimarket::status::IsOk;
using ::aimarket::status::StatusIs;
using common::v1::Role;

constexpr char kAdminKey[] = "bootstrap-secret";

rpc::CallContext As(const std::string& key) {
  rpc::CallContext ctx;
  ctx.authorization = absl::StrCat("Bearer ", key);
  ctx.request_id = "req_test";
  return ctx;
}

class TeamManagementTest : public ::testing::Test {
 protected:
  TeamManagementTest() {
    auto store = std::make_unique<InMemoryTeamStore>(clock_);
    store_ = store.get();
    tm_ = std::make_unique<TeamManagement>(std::move(store), kAdminKey, clock_);
    CreateTeam("t1");
    for (Role r : {common::v1::ROLE_OWNER, common::v1::ROLE_ADMIN, common::v1::ROLE_MEMBER,
                   common::v1::ROLE_VIEWER}) {
      const std::string user = absl::StrCat(RoleName(r), "@t1");
      AddMember("t1", user, r);
      keys_[r] = NewKey("t1", user);
    }
    CreateTeam("t2");
    AddMember("t2", "owner@t2", common::v1::ROLE_OWNER);
    other_team_key_ = NewKey("t2", "owner@t2");
  }

  void CreateTeam(const std::string& id) {
    v1::CreateTeamRequest req;
    req.set_team_id(id);
    req.mutable_team()->set_display_name(absl::StrCat("Team ", id));
    ASSERT_THAT(tm_->CreateTeam(As(kAdminKey), req), IsOk());
  }

  void AddMember(const std::string& team, const std::string& user, Role role) {
    v1::CreateMemberRequest req;
    req.set_parent(absl::StrCat("teams/", team));
    req.mutable_member()->set_user_id(user);
    req.mutable_member()->set_role(role);
    ASSERT_THAT(tm_->CreateMember(As(kAdminKey), req), IsOk());
  }

  std::string NewKey(const std::string& team, const std::string& user,
                     absl::Duration expires_in = absl::ZeroDuration()) {
    v1::CreateApiKeyRequest req;
    req.set_parent(absl::StrCat("teams/", team));
    req.mutable_api_key()->set_member(user);
    if (expires_in > absl::ZeroDuration()) {
      *req.mutable_api_key()->mutable_expire_time() =
          google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
              absl::ToUnixMicros(clock_.Now() + expires_in));
    }
    absl::StatusOr<v1::ApiKey> key = tm_->CreateApiKey(As(kAdminKey), req);
    EXPECT_THAT(key, IsOk());
    return key.ok() ? key->key() : "";
  }

  // A new key's resource name.
  std::string NewKeyName(const std::string& team, const std::string& user) {
    v1::CreateApiKeyRequest req;
    req.set_parent(absl::StrCat("teams/", team));
    req.mutable_api_key()->set_member(user);
    absl::StatusOr<v1::ApiKey> key = tm_->CreateApiKey(As(kAdminKey), req);
    EXPECT_THAT(key, IsOk());
    return key.ok() ? key->name() : "";
  }

  absl::Status Authenticate(const std::string& key) {
    v1::AuthenticateRequest req;
    req.set_api_key(key);
    return tm_->Authenticate(rpc::CallContext(), req).status();
  }

  time::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  InMemoryTeamStore* store_ = nullptr;
  std::unique_ptr<TeamManagement> tm_;
  std::map<Role, std::string> keys_;
  std::string other_team_key_;
  std::string member_key_name_;  // "teams/t1/apiKeys/..." of a key of member@t1.
};

// One row of docs/teams.md's matrix: a call made with a role's key, OK or its refusal.
struct Call {
  std::string what;
  std::function<absl::Status(TeamManagement&, const rpc::CallContext&)> run;
};

TEST_F(TeamManagementTest, TheRoleMatrixOfTheDocs) {
  member_key_name_ = NewKeyName("t1", "member@t1");
  const std::vector<Call> calls = {
      {"read the team",
       [](TeamManagement& tm, const rpc::CallContext& ctx) {
         v1::GetTeamRequest r;
         r.set_name("teams/t1");
         return tm.GetTeam(ctx, r).status();
       }},
      {"list members",
       [](TeamManagement& tm, const rpc::CallContext& ctx) {
         v1::ListMembersRequest r;
         r.set_parent("teams/t1");
         return tm.ListMembers(ctx, r).status();
       }},
      {"change settings",
       [](TeamManagement& tm, const rpc::CallContext& ctx) {
         v1::UpdateTeamRequest r;
         r.mutable_team()->set_name("teams/t1");
         r.mutable_team()->mutable_settings()->set_cost_center("cc-1");
         r.mutable_update_mask()->add_paths("settings.cost_center");
         return tm.UpdateTeam(ctx, r).status();
       }},
      {"add a member",
       [](TeamManagement& tm, const rpc::CallContext& ctx) {
         static int n = 0;
         v1::CreateMemberRequest r;
         r.set_parent("teams/t1");
         r.mutable_member()->set_user_id(absl::StrCat("new", ++n, "@t1"));
         r.mutable_member()->set_role(common::v1::ROLE_MEMBER);
         return tm.CreateMember(ctx, r).status();
       }},
      {"own key",
       [](TeamManagement& tm, const rpc::CallContext& ctx) {
         v1::CreateApiKeyRequest r;
         r.set_parent("teams/t1");
         return tm.CreateApiKey(ctx, r).status();
       }},
      {"key for another member",
       [](TeamManagement& tm, const rpc::CallContext& ctx) {
         v1::CreateApiKeyRequest r;
         r.set_parent("teams/t1");
         r.mutable_api_key()->set_member("viewer@t1");
         return tm.CreateApiKey(ctx, r).status();
       }},
      {"list keys",
       [](TeamManagement& tm, const rpc::CallContext& ctx) {
         v1::ListApiKeysRequest r;
         r.set_parent("teams/t1");
         return tm.ListApiKeys(ctx, r).status();
       }},
      {"read the audit log",
       [](TeamManagement& tm, const rpc::CallContext& ctx) {
         v1::ListAuditEntriesRequest r;
         r.set_parent("teams/t1");
         return tm.ListAuditEntries(ctx, r).status();
       }},
      {"own key with limits",
       [](TeamManagement& tm, const rpc::CallContext& ctx) {
         v1::CreateApiKeyRequest r;
         r.set_parent("teams/t1");
         r.mutable_api_key()->set_monthly_budget(5);
         return tm.CreateApiKey(ctx, r).status();
       }},
      {"change a key's limits",
       [this](TeamManagement& tm, const rpc::CallContext& ctx) {
         v1::UpdateApiKeyRequest r;
         r.mutable_api_key()->set_name(member_key_name_);
         r.mutable_api_key()->mutable_limits()->mutable_rate_limits()->set_requests_per_minute(9);
         r.mutable_update_mask()->add_paths("limits.rate_limits.requests_per_minute");
         return tm.UpdateApiKey(ctx, r).status();
       }},
  };
  // Allowed: owner, admin, member, viewer.
  const std::map<std::string, std::vector<bool>> allowed = {
      {"read the team", {true, true, true, true}},
      {"list members", {true, true, true, true}},
      {"change settings", {true, true, false, false}},
      {"add a member", {true, true, false, false}},
      {"own key", {true, true, true, false}},
      {"key for another member", {true, true, false, false}},
      {"list keys", {true, true, true, false}},
      {"read the audit log", {true, true, false, false}},
      {"own key with limits", {true, true, false, false}},
      {"change a key's limits", {true, true, false, false}},
  };
  const Role roles[] = {common::v1::ROLE_OWNER, common::v1::ROLE_ADMIN, common::v1::ROLE_MEMBER,
                        common::v1::ROLE_VIEWER};
  for (const Call& call : calls) {
    for (int i = 0; i < 4; ++i) {
      const absl::Status s = call.run(*tm_, As(keys_[roles[i]]));
      if (allowed.at(call.what)[i]) {
        EXPECT_THAT(s, IsOk()) << call.what << " as " << RoleName(roles[i]);
      } else {
        EXPECT_THAT(s, StatusIs(absl::StatusCode::kPermissionDenied))
            << call.what << " as " << RoleName(roles[i]);
      }
    }
    // Another team's key: the team does not exist for it.
    EXPECT_THAT(call.run(*tm_, As(other_team_key_)), StatusIs(absl::StatusCode::kNotFound))
        << call.what << " from another team";
    // No key, a wrong key: unauthenticated.
    EXPECT_THAT(call.run(*tm_, rpc::CallContext()), StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_THAT(call.run(*tm_, As("sk-am-wrong")), StatusIs(absl::StatusCode::kUnauthenticated));
  }
}

// Every (caller role x target member's role x mutation of that member) against docs/teams.md:
// nobody acts as someone more powerful than themselves. Keys are issued only for oneself or for a
// member ranked strictly below; owners revoke any key, admins those of members and viewers; owners
// alone add, change, promote to or remove owners.
TEST_F(TeamManagementTest, TheCallerTimesTargetMatrixOfKeysAndMembers) {
  const Role roles[] = {common::v1::ROLE_OWNER, common::v1::ROLE_ADMIN, common::v1::ROLE_MEMBER,
                        common::v1::ROLE_VIEWER};
  auto rank = [](Role r) { return 5 - static_cast<int>(r); };
  ASSERT_GT(rank(common::v1::ROLE_OWNER), rank(common::v1::ROLE_ADMIN));
  ASSERT_GT(rank(common::v1::ROLE_MEMBER), rank(common::v1::ROLE_VIEWER));
  int n = 0;
  // A fresh member of role `t` (and their key's resource name), made by the platform admin.
  auto target = [&](Role t, std::string* key_name) {
    const std::string user = absl::StrCat("target", ++n, "@t1");
    AddMember("t1", user, t);
    v1::CreateApiKeyRequest req;
    req.set_parent("teams/t1");
    req.mutable_api_key()->set_member(user);
    absl::StatusOr<v1::ApiKey> key = tm_->CreateApiKey(As(kAdminKey), req);
    EXPECT_THAT(key, IsOk());
    if (key_name != nullptr && key.ok()) *key_name = key->name();
    return user;
  };
  for (Role c : roles) {
    const rpc::CallContext as = As(keys_[c]);
    const bool manager = c == common::v1::ROLE_OWNER || c == common::v1::ROLE_ADMIN;
    const bool owner = c == common::v1::ROLE_OWNER;
    for (Role t : roles) {
      const std::string who = absl::StrCat(RoleName(c), " -> ", RoleName(t));
      auto expect = [&](const absl::Status& s, bool allowed, absl::string_view what) {
        if (allowed) {
          EXPECT_THAT(s, IsOk()) << who << ": " << what;
        } else {
          EXPECT_THAT(s, StatusIs(absl::StatusCode::kPermissionDenied)) << who << ": " << what;
        }
      };
      {
        v1::CreateApiKeyRequest req;
        req.set_parent("teams/t1");
        req.mutable_api_key()->set_member(target(t, nullptr));
        expect(tm_->CreateApiKey(as, req).status(), manager && rank(t) < rank(c), "issue a key");
      }
      {
        std::string key;
        target(t, &key);
        v1::DeleteApiKeyRequest req;
        req.set_name(key);
        expect(tm_->DeleteApiKey(as, req).status(), owner || (manager && rank(t) < rank(c)),
               "revoke a key");
      }
      for (Role to : roles) {
        v1::UpdateMemberRequest req;
        req.mutable_member()->set_name(absl::StrCat("teams/t1/members/", target(t, nullptr)));
        req.mutable_member()->set_role(to);
        req.mutable_update_mask()->add_paths("role");
        expect(tm_->UpdateMember(as, req).status(),
               owner || (manager && t != common::v1::ROLE_OWNER && to != common::v1::ROLE_OWNER),
               absl::StrCat("make ", RoleName(to)));
      }
      {
        v1::DeleteMemberRequest req;
        req.set_name(absl::StrCat("teams/t1/members/", target(t, nullptr)));
        expect(tm_->DeleteMember(as, req).status(),
               owner || (manager && t != common::v1::ROLE_OWNER), "remove");
      }
      {
        v1::CreateMemberRequest req;
        req.set_parent("teams/t1");
        req.mutable_member()->set_user_id(absl::StrCat("added", ++n, "@t1"));
        req.mutable_member()->set_role(t);
        expect(tm_->CreateMember(as, req).status(),
               owner || (manager && t != common::v1::ROLE_OWNER), "add");
      }
    }
    // Oneself: any role that may hold keys.
    v1::CreateApiKeyRequest self;
    self.set_parent("teams/t1");
    self.mutable_api_key()->set_member(absl::StrCat(RoleName(c), "@t1"));
    if (c == common::v1::ROLE_VIEWER) {
      EXPECT_THAT(tm_->CreateApiKey(as, self), StatusIs(absl::StatusCode::kPermissionDenied));
    } else {
      EXPECT_THAT(tm_->CreateApiKey(as, self), IsOk()) << RoleName(c);
    }
  }
}

// The audit log names the key that acted beside its member, and a key who issued it.
TEST_F(TeamManagementTest, AuditEntriesNameTheActingKeyAndKeysTheirIssuer) {
  const rpc::CallContext admin = As(keys_[common::v1::ROLE_ADMIN]);
  v1::CreateApiKeyRequest req;
  req.set_parent("teams/t1");
  req.mutable_api_key()->set_member("member@t1");
  absl::StatusOr<v1::ApiKey> issued = tm_->CreateApiKey(admin, req);
  ASSERT_THAT(issued, IsOk());
  EXPECT_EQ(issued->creator(), "admin@t1");
  EXPECT_TRUE(absl::StartsWith(issued->creator_key_id(), "key_")) << issued->creator_key_id();
  v1::ListAuditEntriesRequest list;
  list.set_parent("teams/t1");
  absl::StatusOr<v1::ListAuditEntriesResponse> audit = tm_->ListAuditEntries(admin, list);
  ASSERT_THAT(audit, IsOk());
  ASSERT_GT(audit->entries_size(), 0);
  const v1::AuditEntry& last = audit->entries(0);
  EXPECT_EQ(last.action(), "api_key.create");
  EXPECT_EQ(last.actor(), "admin@t1");
  EXPECT_EQ(last.actor_key_id(), issued->creator_key_id());
  // The platform admin's entries say so.
  EXPECT_EQ(audit->entries(audit->entries_size() - 1).actor_key_id(), "bootstrap");
}

TEST_F(TeamManagementTest, ABudgetInDollarsIsKeptAsIntegerNanoDollars) {
  v1::CreateTeamRequest create;
  create.set_team_id("budgeted");
  create.mutable_team()->set_display_name("Budgeted");
  create.mutable_team()->mutable_settings()->set_monthly_budget(0.1);
  absl::StatusOr<v1::Team> team = tm_->CreateTeam(As(kAdminKey), create);
  ASSERT_THAT(team, IsOk());
  EXPECT_EQ(team->settings().monthly_budget_nano_usd(), 100'000'000);
  EXPECT_EQ(team->settings().monthly_budget(), 0);  // The input form is not kept.

  v1::UpdateTeamRequest update;
  update.mutable_team()->set_name("teams/budgeted");
  update.mutable_team()->mutable_settings()->set_monthly_budget(12.5);
  update.mutable_update_mask()->add_paths("settings.monthly_budget");
  team = tm_->UpdateTeam(As(kAdminKey), update);
  ASSERT_THAT(team, IsOk());
  EXPECT_EQ(team->settings().monthly_budget_nano_usd(), 12'500'000'000);

  for (double bad : {-1.0, 2e9, std::numeric_limits<double>::infinity()}) {
    update.mutable_team()->mutable_settings()->set_monthly_budget(bad);
    EXPECT_THAT(tm_->UpdateTeam(As(kAdminKey), update),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  update.mutable_team()->mutable_settings()->set_monthly_budget(0);
  update.mutable_team()->mutable_settings()->set_monthly_budget_nano_usd(-5);
  EXPECT_THAT(tm_->UpdateTeam(As(kAdminKey), update), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(TeamManagementTest, AKeysOwnLimitsAreCheckedStoredAuditedAndCarriedInItsPrincipal) {
  const rpc::CallContext owner = As(keys_[common::v1::ROLE_OWNER]);
  v1::CreateApiKeyRequest create;
  create.set_parent("teams/t1");
  create.mutable_api_key()->set_member("member@t1");
  create.mutable_api_key()->set_monthly_budget(12.5);  // Dollars in, nano-dollars kept.
  create.mutable_api_key()->mutable_limits()->mutable_rate_limits()->set_max_parallel_requests(4);
  absl::StatusOr<v1::ApiKey> key = tm_->CreateApiKey(owner, create);
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->limits().monthly_budget_nano_usd(), 12'500'000'000);
  EXPECT_EQ(key->monthly_budget(), 0);

  v1::UpdateApiKeyRequest update;
  update.mutable_api_key()->set_name(key->name());
  update.mutable_api_key()->mutable_limits()->mutable_rate_limits()->set_requests_per_minute(60);
  update.mutable_update_mask()->add_paths("limits.rate_limits.requests_per_minute");
  absl::StatusOr<v1::ApiKey> updated = tm_->UpdateApiKey(owner, update);
  ASSERT_THAT(updated, IsOk());
  // Only the named field changed.
  EXPECT_EQ(updated->limits().rate_limits().requests_per_minute(), 60);
  EXPECT_EQ(updated->limits().rate_limits().max_parallel_requests(), 4);
  EXPECT_EQ(updated->limits().monthly_budget_nano_usd(), 12'500'000'000);

  v1::AuthenticateRequest auth;
  auth.set_api_key(key->key());
  absl::StatusOr<v1::AuthenticateResponse> p = tm_->Authenticate(rpc::CallContext(), auth);
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->principal().key_limits().monthly_budget_nano_usd(), 12'500'000'000);
  EXPECT_EQ(p->principal().key_limits().rate_limits().requests_per_minute(), 60);

  v1::ListAuditEntriesRequest audit;
  audit.set_parent("teams/t1");
  absl::StatusOr<v1::ListAuditEntriesResponse> entries = tm_->ListAuditEntries(owner, audit);
  ASSERT_THAT(entries, IsOk());
  EXPECT_EQ(entries->entries(0).action(), "api_key.update");
  EXPECT_EQ(entries->entries(0).resource(), key->name());

  // Refusals change nothing.
  v1::UpdateApiKeyRequest bad = update;
  bad.mutable_api_key()->mutable_limits()->mutable_rate_limits()->set_requests_per_minute(-1);
  EXPECT_THAT(tm_->UpdateApiKey(owner, bad), StatusIs(absl::StatusCode::kInvalidArgument));
  bad = update;
  bad.mutable_update_mask()->add_paths("member");
  EXPECT_THAT(tm_->UpdateApiKey(owner, bad), StatusIs(absl::StatusCode::kInvalidArgument));
  bad = update;
  bad.mutable_api_key()->set_monthly_budget(-3);
  bad.mutable_update_mask()->add_paths("limits.monthly_budget");
  EXPECT_THAT(tm_->UpdateApiKey(owner, bad), StatusIs(absl::StatusCode::kInvalidArgument));
  // Another team's key does not exist for this team's owner; a revoked one no longer.
  bad = update;
  bad.mutable_api_key()->set_name(absl::StrCat("teams/t2/apiKeys/", key->name().substr(17)));
  EXPECT_THAT(tm_->UpdateApiKey(owner, bad), StatusIs(absl::StatusCode::kNotFound));
  v1::DeleteApiKeyRequest revoke;
  revoke.set_name(key->name());
  ASSERT_THAT(tm_->DeleteApiKey(owner, revoke), IsOk());
  EXPECT_THAT(tm_->UpdateApiKey(owner, update), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(TeamManagementTest, OnlyOwnersDeleteTheTeamAndOnlyThePlatformAdminCreatesTeams) {
  v1::DeleteTeamRequest del;
  del.set_name("teams/t1");
  EXPECT_THAT(tm_->DeleteTeam(As(keys_[common::v1::ROLE_ADMIN]), del),
              StatusIs(absl::StatusCode::kPermissionDenied));
  v1::CreateTeamRequest create;
  create.mutable_team()->set_display_name("Mine");
  EXPECT_THAT(tm_->CreateTeam(As(keys_[common::v1::ROLE_OWNER]), create),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(tm_->DeleteTeam(As(keys_[common::v1::ROLE_OWNER]), del), IsOk());
  // Its keys went with it.
  EXPECT_THAT(Authenticate(keys_[common::v1::ROLE_MEMBER]),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(TeamManagementTest, AdminsCannotTouchOwnersAndTheLastOwnerStays) {
  const rpc::CallContext admin = As(keys_[common::v1::ROLE_ADMIN]);
  v1::UpdateMemberRequest demote;
  demote.mutable_member()->set_name("teams/t1/members/owner@t1");
  demote.mutable_member()->set_role(common::v1::ROLE_MEMBER);
  demote.mutable_update_mask()->add_paths("role");
  EXPECT_THAT(tm_->UpdateMember(admin, demote), StatusIs(absl::StatusCode::kPermissionDenied));
  v1::UpdateMemberRequest promote;
  promote.mutable_member()->set_name("teams/t1/members/member@t1");
  promote.mutable_member()->set_role(common::v1::ROLE_OWNER);
  promote.mutable_update_mask()->add_paths("role");
  EXPECT_THAT(tm_->UpdateMember(admin, promote), StatusIs(absl::StatusCode::kPermissionDenied));
  v1::DeleteMemberRequest remove_owner;
  remove_owner.set_name("teams/t1/members/owner@t1");
  EXPECT_THAT(tm_->DeleteMember(admin, remove_owner),
              StatusIs(absl::StatusCode::kPermissionDenied));

  // The owner may, except leave the team without an owner; nothing is written by a refusal.
  const int audit_before = store_->AuditCount("t1");
  const rpc::CallContext owner = As(keys_[common::v1::ROLE_OWNER]);
  absl::Status last = tm_->UpdateMember(owner, demote).status();
  EXPECT_THAT(last, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(status::GetErrorInfo(last)->reason(), "LAST_OWNER");
  EXPECT_THAT(tm_->DeleteMember(owner, remove_owner),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(store_->AuditCount("t1"), audit_before);
  ASSERT_THAT(tm_->UpdateMember(owner, promote), IsOk());
  EXPECT_THAT(tm_->UpdateMember(owner, demote), IsOk());
  EXPECT_EQ(store_->AuditCount("t1"), audit_before + 2);
}

TEST_F(TeamManagementTest, MembersRevokeOnlyTheirOwnKeysAndARemovedMembersKeysStop) {
  const std::string second = NewKey("t1", "member@t1");
  v1::ListApiKeysRequest list;
  list.set_parent("teams/t1");
  absl::StatusOr<v1::ListApiKeysResponse> mine =
      tm_->ListApiKeys(As(keys_[common::v1::ROLE_MEMBER]), list);
  ASSERT_THAT(mine, IsOk());
  EXPECT_EQ(mine->api_keys_size(), 2);  // A member sees their own keys only.
  for (const v1::ApiKey& k : mine->api_keys()) EXPECT_EQ(k.member(), "member@t1");

  absl::StatusOr<v1::ListApiKeysResponse> all =
      tm_->ListApiKeys(As(keys_[common::v1::ROLE_ADMIN]), list);
  ASSERT_THAT(all, IsOk());
  std::string viewers_key;
  for (const v1::ApiKey& k : all->api_keys()) {
    if (k.member() == "viewer@t1") viewers_key = k.name();
  }
  ASSERT_FALSE(viewers_key.empty());
  v1::DeleteApiKeyRequest revoke;
  revoke.set_name(viewers_key);
  EXPECT_THAT(tm_->DeleteApiKey(As(keys_[common::v1::ROLE_MEMBER]), revoke),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(Authenticate(keys_[common::v1::ROLE_VIEWER]), IsOk());

  v1::DeleteMemberRequest remove;
  remove.set_name("teams/t1/members/member@t1");
  ASSERT_THAT(tm_->DeleteMember(As(keys_[common::v1::ROLE_ADMIN]), remove), IsOk());
  EXPECT_THAT(Authenticate(keys_[common::v1::ROLE_MEMBER]),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT(Authenticate(second), StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(TeamManagementTest, KeysExpireByTheInjectedClock) {
  const std::string key = NewKey("t1", "member@t1", absl::Hours(1));
  EXPECT_THAT(Authenticate(key), IsOk());
  clock_.Advance(absl::Minutes(59));
  EXPECT_THAT(Authenticate(key), IsOk());
  clock_.Advance(absl::Minutes(1));
  absl::Status expired = Authenticate(key);
  EXPECT_THAT(expired, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(status::GetErrorInfo(expired)->reason(), "INVALID_API_KEY");

  // An expiry in the past, by the same clock, is refused at creation.
  v1::CreateApiKeyRequest req;
  req.set_parent("teams/t1");
  *req.mutable_api_key()->mutable_expire_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(clock_.Now()));
  EXPECT_THAT(tm_->CreateApiKey(As(keys_[common::v1::ROLE_MEMBER]), req),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(TeamManagementTest, PagesCoverEveryMemberOnceInCreationOrder) {
  std::vector<std::string> seen;
  v1::ListMembersRequest req;
  req.set_parent("teams/t1");
  req.set_page_size(3);
  do {
    absl::StatusOr<v1::ListMembersResponse> page =
        tm_->ListMembers(As(keys_[common::v1::ROLE_VIEWER]), req);
    ASSERT_THAT(page, IsOk());
    for (const v1::Member& m : page->members()) seen.push_back(m.user_id());
    req.set_page_token(page->next_page_token());
  } while (!req.page_token().empty());
  EXPECT_THAT(seen, ::testing::ElementsAre("owner@t1", "admin@t1", "member@t1", "viewer@t1"));
}

}  // namespace
}  // namespace aimarket::team
