#pragma once

// gRPC transport of the router: the server shim over a RouterApi and a client for a peer.

#include <memory>
#include <string>

#include "services/router/router_api.h"

namespace grpc {
class Channel;
class Service;
}  // namespace grpc

namespace aimarket::router {

// aimarket.router.v1.RouterService over `api` (not owned). Public: callers authenticate with
// their API key in the `authorization` metadata. A caller's x-request-id is kept only when it
// also presents `internal_token` (the edge); anyone else's request gets a new id.
std::unique_ptr<grpc::Service> NewRouterGrpcService(RouterApi& api, std::string internal_token);

// A client for a router peer; `internal_token` lets the router keep the caller's request id.
std::unique_ptr<RouterApi> NewRouterGrpcClient(std::shared_ptr<grpc::Channel> channel,
                                               std::string internal_token);

}  // namespace aimarket::router
