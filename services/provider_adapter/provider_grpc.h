#pragma once

// gRPC transport of provider-adapter: the server shim over a ProviderApi and a client for a peer.

#include <memory>
#include <string>

#include "services/provider_adapter/provider_api.h"

namespace grpc {
class Channel;
class Service;
}  // namespace grpc

namespace aimarket::provider {

// aimarket.provider.v1.ProviderService over `api` (not owned); every call must present
// `internal_token`.
std::unique_ptr<grpc::Service> NewProviderGrpcService(ProviderApi& api, std::string internal_token);

std::unique_ptr<ProviderApi> NewProviderGrpcClient(std::shared_ptr<grpc::Channel> channel,
                                                   std::string internal_token);

}  // namespace aimarket::provider
