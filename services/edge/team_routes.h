#pragma once

// The management REST API of teams on the edge: JSON (snake_case) in and out, translated to and
// from TeamService calls and nothing more (team-management checks the caller and their role).
//
//   POST/GET           /v1/teams                         create (platform admin) / list
//   GET/PATCH/DELETE   /v1/teams/{team_id}
//   GET/POST           /v1/teams/{team_id}/members
//   PATCH/DELETE       /v1/teams/{team_id}/members/{user_id}
//   GET/POST           /v1/teams/{team_id}/keys
//   DELETE             /v1/teams/{team_id}/keys/{key_id}
//   GET                /v1/teams/{team_id}/audit
//
// Lists page like OpenAI's: `?limit=` (1-100, default 20) and `?after=<last id>`, answering
// {"object":"list","data":[...],"first_id","last_id","has_more"}. Bodies are checked strictly: an
// unknown field or a wrong type is a 400 whose `param` names it. docs/teams.md shows every shape.

#include "absl/strings/string_view.h"
#include "common/rpc/call_context.h"
#include "services/edge/http.h"
#include "services/team_management/team_api.h"
#include "services/usage_metering/metering_api.h"

namespace aimarket::edge {

// Answers one request of the teams API. Blocks on team-management (and on usage-metering for the
// month's spend shown with a team and its keys, when `metering` is given): call it from a worker
// thread.
HttpResponse HandleTeams(team::TeamApi& team, const HttpRequest& request,
                         const rpc::CallContext& ctx, usage::MeteringApi* metering = nullptr);

}  // namespace aimarket::edge
