#include "services/provider_adapter/providers/builtin_providers.h"

#include "services/provider_adapter/providers/openai_provider.h"

namespace aimarket::provider {

std::unique_ptr<Provider> NewBuiltinProvider(const config::v1::ProviderConfig& config, HttpClient& http) {
  switch (config.type()) {
    case config::v1::PROVIDER_TYPE_OPENAI:
    case config::v1::PROVIDER_TYPE_OPENAI_COMPATIBLE:
      return std::make_unique<OpenAiProvider>(config, http);
    default:
      return nullptr;  // anthropic, gemini, cohere, huggingface, ollama: next issue.
  }
}

}  // namespace aimarket::provider
