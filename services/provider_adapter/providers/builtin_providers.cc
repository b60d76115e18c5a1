#include "services/provider_adapter/providers/builtin_providers.h"

#include "absl/strings/str_cat.h"
#include "common/config/provider_types.h"
#include "common/status/error.h"
#include "services/provider_adapter/providers/anthropic_provider.h"
#include "services/provider_adapter/providers/cohere_provider.h"
#include "services/provider_adapter/providers/gemini_provider.h"
#include "services/provider_adapter/providers/huggingface_provider.h"
#include "services/provider_adapter/providers/ollama_provider.h"
#include "services/provider_adapter/providers/openai_provider.h"

namespace aimarket::provider {
namespace {

using Made = absl::StatusOr<std::unique_ptr<Provider>>;

Made MakeOpenAi(const ProviderContext& c) {
  return std::make_unique<OpenAiProvider>(c.config, c.http, c.api_key);
}
Made MakeAnthropic(const ProviderContext& c) {
  return std::make_unique<AnthropicProvider>(c.config, c.http, c.api_key);
}
Made MakeGemini(const ProviderContext& c) {
  return std::make_unique<GeminiProvider>(c.config, c.http, c.api_key);
}
Made MakeCohere(const ProviderContext& c) {
  return std::make_unique<CohereProvider>(c.config, c.http, c.api_key);
}
Made MakeHuggingFace(const ProviderContext& c) {
  const std::string& api = c.config.api();
  if (!api.empty() && api != "router" && api != "tgi" && api != "generate") {
    return absl::InvalidArgumentError(
        absl::StrCat("api: invalid value \"", api, "\"; expected router, tgi or generate"));
  }
  return std::make_unique<HuggingFaceProvider>(c.config, c.http, c.api_key);
}
Made MakeOllama(const ProviderContext& c) {
  return std::make_unique<OllamaProvider>(c.config, c.http, c.images, c.api_key);
}

constexpr ProviderFactoryEntry kFactories[] = {
    {config::v1::PROVIDER_TYPE_OPENAI, &MakeOpenAi},
    {config::v1::PROVIDER_TYPE_ANTHROPIC, &MakeAnthropic},
    {config::v1::PROVIDER_TYPE_GEMINI, &MakeGemini},
    {config::v1::PROVIDER_TYPE_COHERE, &MakeCohere},
    {config::v1::PROVIDER_TYPE_HUGGINGFACE, &MakeHuggingFace},
    {config::v1::PROVIDER_TYPE_OLLAMA, &MakeOllama},
    // The same adapter; OpenAiProvider tells the two apart by the type (a strict [DONE]).
    {config::v1::PROVIDER_TYPE_OPENAI_COMPATIBLE, &MakeOpenAi},
};

}  // namespace

absl::Span<const ProviderFactoryEntry> ProviderFactories() { return kFactories; }

absl::StatusOr<std::unique_ptr<Provider>> NewBuiltinProvider(
    const config::v1::ProviderConfig& config, HttpClient& http,
    const config::v1::RemoteImagesConfig& images) {
  for (const ProviderFactoryEntry& f : kFactories) {
    if (f.type != config.type()) continue;
    absl::StatusOr<std::string> key = config::ProviderApiKey(config);
    if (!key.ok()) return key.status();
    return f.create(ProviderContext{config, http, images, *std::move(key)});
  }
  return absl::UnimplementedError(
      absl::StrCat("provider ", config.name(), ": its wire format is not supported"));
}

absl::StatusOr<common::v1::EmbedResponse> Provider::Embed(const rpc::CallContext&,
                                                          const std::string&,
                                                          const common::v1::EmbedRequest&) {
  return status::Error(absl::StatusCode::kInvalidArgument, "EMBEDDINGS_NOT_SUPPORTED",
                       "This model's provider has no embeddings API; use an embedding model of "
                       "OpenAI, Gemini, Cohere, Ollama or Hugging Face.")
      .Param("model");
}

}  // namespace aimarket::provider
