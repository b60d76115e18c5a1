#pragma once

#include <memory>

#include "aimarket/config/v1/config.pb.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/providers/provider.h"

namespace aimarket::provider {

// The one explicit list of wire formats: a Provider for `config`, or null if its type has no
// adapter yet.
std::unique_ptr<Provider> NewBuiltinProvider(const config::v1::ProviderConfig& config, HttpClient& http);

}  // namespace aimarket::provider
