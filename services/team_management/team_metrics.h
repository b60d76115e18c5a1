#pragma once

// team-management's Prometheus families, counted by a TeamApi that wraps the service (so calls
// made in process and over gRPC are counted alike):
//   aimarket_team_calls_total{call, code}         every TeamService call by its gRPC status code
//   aimarket_team_authentications_total{result}   ok | missing_key | invalid_key | error

#include <memory>

#include "services/team_management/team_api.h"

namespace aimarket::team {

// `api` with every call counted.
std::unique_ptr<TeamApi> WithMetrics(std::unique_ptr<TeamApi> api);

}  // namespace aimarket::team
