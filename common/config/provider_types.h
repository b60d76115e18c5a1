#pragma once

// The one table of provider types: what each wire format is called, where its public API lives,
// which environment variable holds its key, and which model-name prefixes route to it without any
// configuration. Config (defaults, validation), the router (prefix routes) and the provider-adapter
// (one factory per row, services/provider_adapter/providers/builtin_providers.cc) all read it.
//
// Adding a provider type: a value in config.proto's ProviderType, one row here, one factory and
// one adapter (docs/development.md).

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "aimarket/config/v1/config.pb.h"

namespace aimarket::config {

// A model-name prefix that routes to a provider type: `gpt-` sends `gpt-4o` to OpenAI as
// `gpt-4o`; with `strip`, `ollama/` sends `ollama/llama3` to Ollama as `llama3`.
struct ModelPrefix {
  absl::string_view prefix;
  bool strip = false;
};

struct ProviderTypeInfo {
  v1::ProviderType type = v1::PROVIDER_TYPE_UNSPECIFIED;
  // The config's spelling of the type ("openai-compatible"), also the name of the provider that a
  // config gets for this type when it names none (when `builtin`).
  absl::string_view name;
  // The base URL a provider of this type gets when it names none; empty: base_url is required.
  absl::string_view default_base_url;
  // The built-in provider's key variable; empty for a provider that needs no key.
  absl::string_view api_key_env;
  absl::Span<const ModelPrefix> prefixes;
  // Whether every config has a provider of this type (so that the prefixes route) even when it
  // names none.
  bool builtin = false;
};

// Every provider type, each exactly once, in the order of config.proto.
absl::Span<const ProviderTypeInfo> ProviderTypes();

// The row of `type`; null for PROVIDER_TYPE_UNSPECIFIED or a value without a row.
const ProviderTypeInfo* FindProviderType(v1::ProviderType type);

// The provider's API key from the environment variable its config names: "" when it names none
// (a keyless server). FAILED_PRECONDITION naming the variable when the variable is unset or empty:
// the provider is then unavailable (its models answer 404 saying which variable to set), and no
// request goes out without the key.
absl::StatusOr<std::string> ProviderApiKey(const v1::ProviderConfig& provider);

}  // namespace aimarket::config
