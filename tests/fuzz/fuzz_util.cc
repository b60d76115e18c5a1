#include "tests/fuzz/fuzz_util.h"

namespace aimarket::fuzz {

const std::vector<NamedConfig>& ProviderConfigs() {
  static const auto* configs = [] {
    auto* v = new std::vector<NamedConfig>;
    auto add = [v](const char* name, config::v1::ProviderType type, const char* base_url,
                   const char* api = "") {
      config::v1::ProviderConfig c;
      c.set_name(name);
      c.set_type(type);
      c.set_base_url(base_url);
      c.set_api(api);
      v->push_back({name, std::move(c)});
    };
    add("openai", config::v1::PROVIDER_TYPE_OPENAI, "http://127.0.0.1:9/v1");
    add("openai-compatible", config::v1::PROVIDER_TYPE_OPENAI_COMPATIBLE, "http://127.0.0.1:9/v1");
    add("anthropic", config::v1::PROVIDER_TYPE_ANTHROPIC, "http://127.0.0.1:9");
    add("gemini", config::v1::PROVIDER_TYPE_GEMINI, "http://127.0.0.1:9");
    add("cohere", config::v1::PROVIDER_TYPE_COHERE, "http://127.0.0.1:9");
    add("ollama", config::v1::PROVIDER_TYPE_OLLAMA, "http://127.0.0.1:9");
    add("huggingface", config::v1::PROVIDER_TYPE_HUGGINGFACE, "https://router.huggingface.co",
        "router");
    add("tgi", config::v1::PROVIDER_TYPE_HUGGINGFACE, "http://127.0.0.1:9", "tgi");
    add("tgi-generate", config::v1::PROVIDER_TYPE_HUGGINGFACE, "http://127.0.0.1:9", "generate");
    return v;
  }();
  return *configs;
}

}  // namespace aimarket::fuzz
