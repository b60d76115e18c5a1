#pragma once

// Usage analytics on the edge: query parameters in, MeteringService calls out, JSON or CSV back
// (usage-metering checks the caller and their role).
//
//   GET /v1/teams/{team_id}/usage          grouped usage of a team, with its month's balance
//   GET /v1/teams/{team_id}/usage/events   the team's raw events, newest first, paged
//   GET /v1/usage                          grouped usage across teams (the platform admin)
//
// Parameters: `start`, `end` (a date such as 2026-11-01, or RFC 3339; [start, end), UTC days for
// the grouped ones; by default the current month so far), `group_by` (comma-separated: day,
// model, provider, key, member, cost_center, experiment, variant, and team across teams),
// `limit` and `after` (events), `format` (json, csv). `format=csv` or `Accept: text/csv` streams
// RFC 4180 CSV from a database cursor, only as fast as the client reads. docs/usage.md shows every
// shape.

#include "services/edge/route_table.h"
#include "services/team_management/team_api.h"
#include "services/usage_metering/metering_api.h"

namespace aimarket::edge {

// Adds the usage routes to `table`. `team` (for a team's budget) and `metering` outlive it.
void AddUsageRoutes(RouteTable& table, team::TeamApi& team, usage::MeteringApi& metering);

// A time parameter: a date ("2026-11-01", its UTC midnight) or RFC 3339 ("2026-11-01T10:00:00Z",
// "…+02:00"); INVALID_ARGUMENT naming `param` otherwise.
absl::StatusOr<absl::Time> ParseTimeParam(absl::string_view text, absl::string_view param);

}  // namespace aimarket::edge
