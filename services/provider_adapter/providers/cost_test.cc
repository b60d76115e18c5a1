// What each provider type bills, priced: an upstream answer with cached input, cache writes or
// reasoning goes through the provider's translation, and the usage metering reads from it costs
// what a hand computation from the default price table (common/pricing/default_prices.yaml) says.
// The client's usage shows the cached tokens as OpenAI's prompt_tokens_details.cached_tokens.

#include "common/pricing/pricing.h"
#include "gtest/gtest.h"
#include "services/provider_adapter/providers/anthropic_provider.h"
#include "services/provider_adapter/providers/cohere_provider.h"
#include "services/provider_adapter/providers/gemini_provider.h"
#include "services/provider_adapter/providers/huggingface_provider.h"
#include "services/provider_adapter/providers/ollama_provider.h"
#include "services/provider_adapter/providers/openai_provider.h"
#include "services/provider_adapter/providers/translation_test_util.h"

namespace aimarket::provider {
namespace {

using testing::FakeHttp;
using testing::Folded;
using testing::Replay;
using testing::UpstreamConfig;

common::v1::ChatRequest Ask(const std::string& model) {
  common::v1::ChatRequest req;
  req.set_model(model);
  auto* m = req.add_messages();
  m->set_role("user");
  m->set_content("hi");
  return req;
}

// The cost of `f`'s usage at the default table's prices for `model`, in decimal dollars.
std::string Cost(const Folded& f, config::v1::ProviderType type, const std::string& model) {
  std::optional<pricing::Prices> prices = pricing::DefaultPrices(type, model);
  EXPECT_TRUE(prices.has_value()) << model;
  return prices ? pricing::Cost(f.usage, *prices).ToDecimal() : "";
}

TEST(ProviderCostTest, OpenAiCachedInputAndReasoningTokens) {
  FakeHttp http;
  OpenAiProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_OPENAI), http);
  Folded f = Replay(p, http, Ask("o4-mini"),
                    R"({"id":"c","object":"chat.completion","created":1,"model":"o4-mini",)"
                    R"("choices":[{"index":0,"message":{"role":"assistant","content":"hi"},)"
                    R"("finish_reason":"stop"}],"usage":{"prompt_tokens":1000,)"
                    R"("completion_tokens":500,"total_tokens":1500,)"
                    R"("prompt_tokens_details":{"cached_tokens":600},)"
                    R"("completion_tokens_details":{"reasoning_tokens":300}}})");
  ASSERT_TRUE(f.status.ok()) << f;
  EXPECT_EQ(f.cached_tokens, 600);
  EXPECT_EQ(f.usage.reasoning_tokens(), 300);
  // 400 × $1.10 + 600 × $0.275 + 500 × $4.40 per million.
  EXPECT_EQ(Cost(f, config::v1::PROVIDER_TYPE_OPENAI, "o4-mini"), "0.002805");
}

TEST(ProviderCostTest, AnthropicCacheWritesAndReadsApartFromInput) {
  FakeHttp http;
  AnthropicProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_ANTHROPIC), http);
  Folded f =
      Replay(p, http, Ask("claude-sonnet-4-5-20250929"),
             R"({"id":"msg_1","type":"message","role":"assistant",)"
             R"("model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"hi"}],)"
             R"("stop_reason":"end_turn","usage":{"input_tokens":100,)"
             R"("cache_creation_input_tokens":2000,"cache_read_input_tokens":3000,)"
             R"("output_tokens":200}})");
  ASSERT_TRUE(f.status.ok()) << f;
  EXPECT_EQ(f.prompt_tokens, 5100);  // All input, as OpenAI counts it.
  EXPECT_EQ(f.cached_tokens, 3000);  // What the client sees as cached.
  EXPECT_EQ(f.usage.cache_write_tokens(), 2000);
  // 100 × $3 + 2,000 × $3.75 + 3,000 × $0.30 + 200 × $15 per million.
  EXPECT_EQ(Cost(f, config::v1::PROVIDER_TYPE_ANTHROPIC, "claude-sonnet-4-5-20250929"), "0.0117");
}

TEST(ProviderCostTest, GeminiCachedContentAndThoughtsAsOutput) {
  FakeHttp http;
  GeminiProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_GEMINI), http);
  Folded f = Replay(p, http, Ask("gemini-2.5-flash"),
                    R"({"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"},)"
                    R"("finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10000,)"
                    R"("cachedContentTokenCount":8000,"candidatesTokenCount":600,)"
                    R"("thoughtsTokenCount":400,"totalTokenCount":11000},)"
                    R"("modelVersion":"gemini-2.5-flash"})");
  ASSERT_TRUE(f.status.ok()) << f;
  EXPECT_EQ(f.cached_tokens, 8000);
  EXPECT_EQ(f.completion_tokens, 1000);  // Thoughts are output.
  // 2,000 × $0.30 + 8,000 × $0.03 + 1,000 × $2.50 per million.
  EXPECT_EQ(Cost(f, config::v1::PROVIDER_TYPE_GEMINI, "gemini-2.5-flash"), "0.00334");
}

TEST(ProviderCostTest, CohereTokens) {
  FakeHttp http;
  CohereProvider p(UpstreamConfig(config::v1::PROVIDER_TYPE_COHERE), http);
  Folded f = Replay(p, http, Ask("command-r-08-2024"),
                    R"({"id":"c","finish_reason":"COMPLETE","message":{"role":"assistant",)"
                    R"("content":[{"type":"text","text":"hi"}]},"usage":{"billed_units":)"
                    R"({"input_tokens":1000,"output_tokens":200},"tokens":{"input_tokens":1010,)"
                    R"("output_tokens":200}}})");
  ASSERT_TRUE(f.status.ok()) << f;
  EXPECT_EQ(f.prompt_tokens, 1010);  // What the model processed, its preamble included...
  // ...but Cohere bills its billed_units: 1,000 × $0.15 + 200 × $0.60 per million.
  EXPECT_EQ(Cost(f, config::v1::PROVIDER_TYPE_COHERE, "command-r-08-2024"), "0.00027");
}

TEST(ProviderCostTest, OllamaIsFreeAndHuggingFaceCostsWhatTheDeploymentStates) {
  FakeHttp http;
  OllamaProvider ollama(UpstreamConfig(config::v1::PROVIDER_TYPE_OLLAMA), http);
  Folded f = Replay(ollama, http, Ask("llama3.2"),
                    R"({"model":"llama3.2","created_at":"2025-01-01T00:00:00Z",)"
                    R"("message":{"role":"assistant","content":"hi"},"done":true,)"
                    R"("done_reason":"stop","prompt_eval_count":50,"eval_count":7})");
  ASSERT_TRUE(f.status.ok()) << f;
  EXPECT_EQ(f.usage.prompt_tokens(), 50);
  EXPECT_EQ(Cost(f, config::v1::PROVIDER_TYPE_OLLAMA, "llama3.2"), "0");

  FakeHttp hf_http;
  HuggingFaceProvider hf(UpstreamConfig(config::v1::PROVIDER_TYPE_HUGGINGFACE, "tgi"), hf_http);
  Folded g = Replay(hf, hf_http, Ask("tgi"),
                    R"({"id":"c","object":"chat.completion","created":1,"model":"tgi",)"
                    R"("choices":[{"index":0,"message":{"role":"assistant","content":"hi"},)"
                    R"("finish_reason":"stop"}],"usage":{"prompt_tokens":300,)"
                    R"("completion_tokens":100,"total_tokens":400}})");
  ASSERT_TRUE(g.status.ok()) << g;
  EXPECT_FALSE(pricing::DefaultPrices(config::v1::PROVIDER_TYPE_HUGGINGFACE, "tgi").has_value());
  config::v1::DeploymentConfig d;
  d.set_model("tgi");
  d.set_input_per_mtok(0.5);
  d.set_output_per_mtok(1.5);
  absl::StatusOr<pricing::Prices> stated =
      pricing::DeploymentPrices(UpstreamConfig(config::v1::PROVIDER_TYPE_HUGGINGFACE, "tgi"), d);
  ASSERT_TRUE(stated.ok());
  // 300 × $0.50 + 100 × $1.50 per million.
  EXPECT_EQ(pricing::Cost(g.usage, *stated).ToDecimal(), "0.0003");
}

}  // namespace
}  // namespace aimarket::provider
