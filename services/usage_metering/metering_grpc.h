#pragma once

// gRPC transport of usage-metering: the server shim over a MeteringApi and a client for a peer.

#include <memory>
#include <string>

#include "services/usage_metering/metering_api.h"

namespace grpc {
class Channel;
class Service;
}  // namespace grpc

namespace aimarket::usage {

// aimarket.usage.v1.MeteringService over `api` (not owned). Admit and Settle require
// `internal_token`.
std::unique_ptr<grpc::Service> NewMeteringGrpcService(MeteringApi& api, std::string internal_token);

std::unique_ptr<MeteringApi> NewMeteringGrpcClient(std::shared_ptr<grpc::Channel> channel,
                                                   std::string internal_token);

}  // namespace aimarket::usage
