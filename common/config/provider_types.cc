#include "common/config/provider_types.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace aimarket::config {
namespace {

constexpr ModelPrefix kOpenAiPrefixes[] = {{"gpt-"}, {"o1"}, {"o3"}, {"o4"}};
constexpr ModelPrefix kAnthropicPrefixes[] = {{"claude-"}};
constexpr ModelPrefix kGeminiPrefixes[] = {{"gemini-"}};
constexpr ModelPrefix kCoherePrefixes[] = {{"command-"}};
constexpr ModelPrefix kHuggingFacePrefixes[] = {{"huggingface/", true}};
constexpr ModelPrefix kOllamaPrefixes[] = {{"ollama/", true}};

constexpr ProviderTypeInfo kTypes[] = {
    {v1::PROVIDER_TYPE_OPENAI, "openai", "https://api.openai.com/v1", "OPENAI_API_KEY",
     kOpenAiPrefixes, true},
    {v1::PROVIDER_TYPE_ANTHROPIC, "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY",
     kAnthropicPrefixes, true},
    {v1::PROVIDER_TYPE_GEMINI, "gemini", "https://generativelanguage.googleapis.com",
     "GEMINI_API_KEY", kGeminiPrefixes, true},
    {v1::PROVIDER_TYPE_COHERE, "cohere", "https://api.cohere.com", "CO_API_KEY", kCoherePrefixes,
     true},
    {v1::PROVIDER_TYPE_HUGGINGFACE, "huggingface", "https://router.huggingface.co", "HF_TOKEN",
     kHuggingFacePrefixes, true},
    {v1::PROVIDER_TYPE_OLLAMA, "ollama", "http://localhost:11434", "", kOllamaPrefixes, true},
    // Any server that speaks OpenAI's format: its URL is the user's, and nothing routes to it by
    // prefix.
    {v1::PROVIDER_TYPE_OPENAI_COMPATIBLE, "openai-compatible", "", "", {}, false},
};

}  // namespace

absl::Span<const ProviderTypeInfo> ProviderTypes() { return kTypes; }

const ProviderTypeInfo* FindProviderType(v1::ProviderType type) {
  for (const ProviderTypeInfo& t : kTypes) {
    if (t.type == type) return &t;
  }
  return nullptr;
}

absl::StatusOr<std::string> ProviderApiKey(const v1::ProviderConfig& provider) {
  if (provider.api_key_env().empty()) return std::string();
  const char* key = std::getenv(provider.api_key_env().c_str());
  if (key == nullptr || *key == '\0') {
    return absl::FailedPreconditionError(
        absl::StrCat("set ", provider.api_key_env(), " to use the provider ", provider.name()));
  }
  return std::string(key);
}

}  // namespace aimarket::config
