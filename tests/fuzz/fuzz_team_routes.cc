// The management REST API (teams, members, keys, audit): a client's method, target and body
// through the edge's teams routes (strict JSON bodies, path parameters, cursors) to
// team-management on an in-memory store holding one team with a member of each role and their
// keys. The first byte picks the caller (the platform admin or one of the roles). Nothing may
// crash or hang, and every answer is a JSON object.
//
// Input: <caller byte><METHOD> <target>\n<body>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/json/parse.h"
#include "common/time/fake_clock.h"
#include "services/edge/team_routes.h"
#include "services/team_management/team_management.h"
#include "tests/fakes/in_memory_team_store.h"

namespace {

using namespace aimarket;

constexpr char kAdminKey[] = "sk-aim-fuzz-admin";
constexpr common::v1::Role kRoles[] = {common::v1::ROLE_OWNER, common::v1::ROLE_ADMIN,
                                       common::v1::ROLE_MEMBER, common::v1::ROLE_VIEWER};

rpc::CallContext As(const std::string& key) {
  rpc::CallContext ctx;
  ctx.authorization = absl::StrCat("Bearer ", key);
  ctx.request_id = "req_fuzz";
  return ctx;
}

// The store: team "t1", a member of each role and their keys. Made again after each change, so a
// run never grows without bound and every input meets the same team.
struct World {
  time::FakeClock clock{absl::FromUnixSeconds(1'800'000'000)};
  team::TeamManagement tm{std::make_unique<team::InMemoryTeamStore>(clock), kAdminKey, clock};
  std::string keys[4];

  World() {
    team::v1::CreateTeamRequest t;
    t.set_team_id("t1");
    t.mutable_team()->set_display_name("Fuzz");
    (void)tm.CreateTeam(As(kAdminKey), t);
    for (int i = 0; i < 4; ++i) {
      const std::string user = absl::StrCat("u", i, "@x");
      team::v1::CreateMemberRequest m;
      m.set_parent("teams/t1");
      m.mutable_member()->set_user_id(user);
      m.mutable_member()->set_role(kRoles[i]);
      (void)tm.CreateMember(As(kAdminKey), m);
      team::v1::CreateApiKeyRequest k;
      k.set_parent("teams/t1");
      k.mutable_api_key()->set_member(user);
      absl::StatusOr<team::v1::ApiKey> key = tm.CreateApiKey(As(kAdminKey), k);
      if (key.ok()) keys[i] = key->key();
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  absl::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t eol = in.find('\n');
  const absl::string_view line = in.substr(0, eol);
  const absl::string_view body = eol == absl::string_view::npos ? "" : in.substr(eol + 1);
  const size_t space = line.find(' ');
  if (space == absl::string_view::npos) return 0;
  edge::HttpRequest req;
  req.method = std::string(line.substr(0, space));
  req.target = std::string(line.substr(space + 1));
  req.body = std::string(body);
  // The world is made again only after a call that may have changed it (most are refused).
  static std::unique_ptr<World> w;
  static bool changed = true;
  if (changed) w = std::make_unique<World>();
  const int caller = data[0] % 5;
  const rpc::CallContext ctx = As(caller == 4 ? std::string(kAdminKey) : w->keys[caller]);
  edge::RouteTable routes;
  edge::AddTeamRoutes(routes, w->tm);
  const edge::HttpResponse r = routes.RespondNow(req, ctx);
  changed = req.method != "GET" && r.status < 300;
  rapidjson::Document d;
  if (!json::ParseBounded(d, r.body, /*validate_utf8=*/true) || !d.IsObject()) __builtin_trap();
  if (r.status < 200 || r.status > 599) __builtin_trap();
  return 0;
}
