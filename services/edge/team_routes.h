#pragma once

// The management REST API of teams on the edge: JSON (snake_case) in and out, translated to and
// from TeamService calls and nothing more (team-management checks the caller and their role).
//
//   POST/GET           /v1/teams                         create (platform admin) / list
//   GET/PATCH/DELETE   /v1/teams/{team_id}
//   GET/POST           /v1/teams/{team_id}/members
//   PATCH/DELETE       /v1/teams/{team_id}/members/{user_id}
//   GET/POST           /v1/teams/{team_id}/keys
//   PATCH/DELETE       /v1/teams/{team_id}/keys/{key_id}
//   GET                /v1/teams/{team_id}/audit
//   POST               /v1/teams/{team_id}/webhook_secret
//
// Lists page like OpenAI's: `?limit=` (1-100, default 20) and `?after=<last id>`, answering
// {"object":"list","data":[...],"first_id","last_id","has_more"}. Bodies are checked strictly: an
// unknown field or a wrong type is a 400 whose `param` names it. docs/teams.md shows every shape.

#include "absl/strings/string_view.h"
#include "common/rpc/call_context.h"
#include "services/edge/http.h"
#include "services/edge/route_table.h"
#include "services/team_management/team_api.h"
#include "services/usage_metering/metering_api.h"

namespace aimarket::edge {

// Adds the teams API's routes to `table`. They block on team-management (and on usage-metering for
// the month's spend shown with a team and its keys, when `metering` is given): they run on the
// edge's worker threads. `team` and `metering` outlive the table.
void AddTeamRoutes(RouteTable& table, team::TeamApi& team, usage::MeteringApi* metering = nullptr);

}  // namespace aimarket::edge
