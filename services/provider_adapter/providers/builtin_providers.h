#pragma once

// The adapters, one factory per provider type of config::ProviderTypes() (the only place an
// adapter is added; builtin_providers_test.cc checks that every type has exactly one).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "aimarket/config/v1/config.pb.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/providers/provider.h"

namespace aimarket::provider {

// What a factory gets. Everything outlives the provider it makes.
struct ProviderContext {
  const config::v1::ProviderConfig& config;
  HttpClient& http;
  // The config's remote_images (Ollama fetches images given by URL).
  const config::v1::RemoteImagesConfig& images;
  // From the environment variable the config names, read once; "" for a keyless server.
  std::string api_key;
};

// INVALID_ARGUMENT naming the key (relative to the provider's entry, e.g. "api: ...") when the
// provider's config cannot work.
using ProviderFactory = absl::StatusOr<std::unique_ptr<Provider>> (*)(const ProviderContext&);

struct ProviderFactoryEntry {
  config::v1::ProviderType type = config::v1::PROVIDER_TYPE_UNSPECIFIED;
  ProviderFactory create = nullptr;
};

absl::Span<const ProviderFactoryEntry> ProviderFactories();

// A Provider for `config`: its type's factory with its key. FAILED_PRECONDITION naming the
// variable when the key variable the config names is unset (config::ProviderApiKey); UNIMPLEMENTED
// for a type without a factory; the factory's error otherwise.
absl::StatusOr<std::unique_ptr<Provider>> NewBuiltinProvider(
    const config::v1::ProviderConfig& config, HttpClient& http,
    const config::v1::RemoteImagesConfig& images);

}  // namespace aimarket::provider
