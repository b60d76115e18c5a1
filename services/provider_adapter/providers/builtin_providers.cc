#include "services/provider_adapter/providers/builtin_providers.h"

#include "common/status/grpc_status.h"
#include "services/provider_adapter/providers/anthropic_provider.h"
#include "services/provider_adapter/providers/cohere_provider.h"
#include "services/provider_adapter/providers/gemini_provider.h"
#include "services/provider_adapter/providers/huggingface_provider.h"
#include "services/provider_adapter/providers/ollama_provider.h"
#include "services/provider_adapter/providers/openai_provider.h"

namespace aimarket::provider {

absl::StatusOr<common::v1::EmbedResponse> Provider::Embed(const rpc::CallContext&,
                                                          const std::string&,
                                                          const common::v1::EmbedRequest&) {
  return status::Error(absl::StatusCode::kInvalidArgument, "EMBEDDINGS_NOT_SUPPORTED",
                       "This model's provider has no embeddings API; use an embedding model of "
                       "OpenAI, Gemini, "
                       "Cohere, Ollama or Hugging Face.")
      .Param("model");
}

std::unique_ptr<Provider> NewBuiltinProvider(const config::v1::ProviderConfig& config,
                                             HttpClient& http,
                                             const config::v1::RemoteImagesConfig& images) {
  switch (config.type()) {
    case config::v1::PROVIDER_TYPE_OPENAI:
    case config::v1::PROVIDER_TYPE_OPENAI_COMPATIBLE:
      return std::make_unique<OpenAiProvider>(config, http);
    case config::v1::PROVIDER_TYPE_ANTHROPIC:
      return std::make_unique<AnthropicProvider>(config, http);
    case config::v1::PROVIDER_TYPE_GEMINI:
      return std::make_unique<GeminiProvider>(config, http);
    case config::v1::PROVIDER_TYPE_COHERE:
      return std::make_unique<CohereProvider>(config, http);
    case config::v1::PROVIDER_TYPE_OLLAMA:
      return std::make_unique<OllamaProvider>(config, http, images);
    case config::v1::PROVIDER_TYPE_HUGGINGFACE:
      return std::make_unique<HuggingFaceProvider>(config, http);
    default:
      return nullptr;
  }
}

}  // namespace aimarket::provider
