#pragma once

// gRPC transport of team-management: the server shims over a TeamApi, and a TeamApi client for a
// peer in another process. gRPC stays inside team_grpc.cc.

#include <memory>
#include <string>

#include "services/team_management/team_api.h"

namespace grpc {
class Channel;
class Service;
}  // namespace grpc

namespace aimarket::team {

// aimarket.team.v1.TeamService over `api` (not owned).
std::unique_ptr<grpc::Service> NewTeamGrpcService(TeamApi& api);
// aimarket.team.v1.AuthService over `api`; every call must present `internal_token`.
std::unique_ptr<grpc::Service> NewAuthGrpcService(TeamApi& api, std::string internal_token);

// A TeamApi that calls a team-management peer over `channel`, presenting `internal_token` on
// internal RPCs.
std::unique_ptr<TeamApi> NewTeamGrpcClient(std::shared_ptr<grpc::Channel> channel,
                                           std::string internal_token);

}  // namespace aimarket::team
