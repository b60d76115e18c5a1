#pragma once

#include <memory>

#include "aimarket/config/v1/config.pb.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/providers/provider.h"

namespace aimarket::provider {

// The one explicit list of wire formats: a Provider for `config`, or null for an unknown type.
// `images` (the config's remote_images) outlives the provider.
std::unique_ptr<Provider> NewBuiltinProvider(const config::v1::ProviderConfig& config,
                                             HttpClient& http,
                                             const config::v1::RemoteImagesConfig& images);

}  // namespace aimarket::provider
