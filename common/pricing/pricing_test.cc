#include "common/pricing/pricing.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aimarket::pricing {
namespace {

using config::v1::ProviderType;
using ::testing::HasSubstr;

config::v1::ProviderConfig Provider(ProviderType type) {
  config::v1::ProviderConfig p;
  p.set_name("p");
  p.set_type(type);
  return p;
}

common::v1::Usage MakeUsage(int64_t prompt, int64_t cached, int64_t written, int64_t completion,
                            int64_t reasoning = 0) {
  common::v1::Usage u;
  u.set_prompt_tokens(prompt);
  u.set_cached_tokens(cached);
  u.set_cache_write_tokens(written);
  u.set_completion_tokens(completion);
  u.set_reasoning_tokens(reasoning);
  return u;
}

TEST(PricingTest, TheCompiledInTableParsesAndIsDated) {
  const config::v1::PriceTable& t = DefaultTable();
  EXPECT_EQ(t.as_of().size(), 10u);
  EXPECT_GE(t.providers_size(), 5);
  for (const config::v1::ProviderPrices& p : t.providers()) EXPECT_FALSE(p.source().empty());
}

TEST(PricingTest, ModelNamesMatchExactlyOrWithoutAVersionSuffix) {
  const ProviderType kOpenAi = config::v1::PROVIDER_TYPE_OPENAI;
  const ProviderType kAnthropic = config::v1::PROVIDER_TYPE_ANTHROPIC;
  const ProviderType kGemini = config::v1::PROVIDER_TYPE_GEMINI;
  EXPECT_EQ(DefaultPrices(kOpenAi, "gpt-4o-mini")->input.nanos(), 150'000'000);
  EXPECT_EQ(DefaultPrices(kOpenAi, "gpt-4o-mini-2024-07-18")->input.nanos(), 150'000'000);
  EXPECT_EQ(DefaultPrices(kOpenAi, "gpt-4o-2024-08-06")->input.nanos(), 2'500'000'000);
  EXPECT_EQ(DefaultPrices(kAnthropic, "claude-3-5-haiku-20241022")->output.nanos(), 4'000'000'000);
  EXPECT_EQ(DefaultPrices(kAnthropic, "claude-3-7-sonnet-latest")->cache_write.nanos(),
            3'750'000'000);
  EXPECT_EQ(DefaultPrices(kGemini, "gemini-2.0-flash-001")->cached_input.nanos(), 25'000'000);
  // Not a guess: another model of the family, or another provider's type, has no default.
  EXPECT_FALSE(DefaultPrices(kOpenAi, "gpt-4o-audio-preview").has_value());
  EXPECT_FALSE(DefaultPrices(kOpenAi, "claude-3-5-haiku").has_value());
  EXPECT_FALSE(DefaultPrices(config::v1::PROVIDER_TYPE_OPENAI_COMPATIBLE, "gpt-4o").has_value());
  // Ollama runs locally: every model is free.
  EXPECT_EQ(DefaultPrices(config::v1::PROVIDER_TYPE_OLLAMA, "llama3.2:3b")->output.nanos(), 0);
  // A row without cache prices: they default to input.
  EXPECT_EQ(DefaultPrices(kOpenAi, "gpt-3.5-turbo")->cached_input.nanos(), 500'000'000);
}

TEST(PricingTest, TheDeploymentOverridesTheTableFieldByField) {
  config::v1::DeploymentConfig d;
  d.set_model("gpt-4o-mini");
  d.set_output_per_mtok(1.0);
  Prices p = *DeploymentPrices(Provider(config::v1::PROVIDER_TYPE_OPENAI), d);
  EXPECT_EQ(p.input.nanos(), 150'000'000);
  EXPECT_EQ(p.cached_input.nanos(), 75'000'000);
  EXPECT_EQ(p.output.nanos(), 1'000'000'000);
  EXPECT_EQ(p.max_output_tokens, 16384);

  config::v1::DeploymentConfig own;
  own.set_model("my-model");
  own.set_input_per_mtok(2);
  own.set_output_per_mtok(0);  // 0 is a price.
  p = *DeploymentPrices(Provider(config::v1::PROVIDER_TYPE_OPENAI_COMPATIBLE), own);
  EXPECT_EQ(p.cached_input.nanos(), 2'000'000'000);
  EXPECT_EQ(p.cache_write.nanos(), 2'000'000'000);
  EXPECT_EQ(p.output.nanos(), 0);
  EXPECT_EQ(p.max_output_tokens, kDefaultMaxOutputTokens);

  own.clear_output_per_mtok();
  absl::StatusOr<Prices> missing =
      DeploymentPrices(Provider(config::v1::PROVIDER_TYPE_OPENAI_COMPATIBLE), own);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("output_per_mtok"));
}

// Hand-computed costs, one per provider's way of billing.
TEST(PricingTest, OpenAiCachedInputAndReasoning) {
  // o4-mini: 1,000 prompt tokens of which 600 cached, 500 completion of which 300 reasoning:
  // 400 × 1.10 + 600 × 0.275 + 500 × 4.40 = 440 + 165 + 2,200 = 2,805 $/M → $0.002805.
  Prices p = *DefaultPrices(config::v1::PROVIDER_TYPE_OPENAI, "o4-mini");
  EXPECT_EQ(Cost(MakeUsage(1000, 600, 0, 500, 300), p).ToDecimal(), "0.002805");
}

TEST(PricingTest, AnthropicCacheWritesAndReadsApartFromInput) {
  // claude-sonnet-4-5: 100 plain input, 2,000 written to the cache, 3,000 read from it (prompt
  // 5,100), 200 output: 100 × 3 + 2,000 × 3.75 + 3,000 × 0.30 + 200 × 15
  // = 300 + 7,500 + 900 + 3,000 = 11,700 $/M → $0.0117.
  Prices p = *DefaultPrices(config::v1::PROVIDER_TYPE_ANTHROPIC, "claude-sonnet-4-5-20250929");
  EXPECT_EQ(Cost(MakeUsage(5100, 3000, 2000, 200), p).ToDecimal(), "0.0117");
}

TEST(PricingTest, GeminiCachedContent) {
  // gemini-2.5-flash: 10,000 prompt of which 8,000 cached, 1,000 output (thoughts included):
  // 2,000 × 0.30 + 8,000 × 0.03 + 1,000 × 2.50 = 600 + 240 + 2,500 = 3,340 $/M → $0.00334.
  Prices p = *DefaultPrices(config::v1::PROVIDER_TYPE_GEMINI, "gemini-2.5-flash");
  EXPECT_EQ(Cost(MakeUsage(10000, 8000, 0, 1000, 400), p).ToDecimal(), "0.00334");
}

TEST(PricingTest, BilledCountsArePricedWhenTheProviderGivesThem) {
  // Cohere reports 1,010 input tokens (its preamble included) and bills 1,000.
  Prices p = *DefaultPrices(config::v1::PROVIDER_TYPE_COHERE, "command-r-08-2024");
  common::v1::Usage u = MakeUsage(1010, 0, 0, 200);
  u.set_billed_input_tokens(1000);
  u.set_billed_output_tokens(200);
  EXPECT_EQ(Cost(u, p).ToDecimal(), "0.00027");
}

TEST(PricingTest, CountsThatDoNotAddUpAreClamped) {
  Prices p;
  p.input = money::PerMtok::Nanos(1'000'000'000);
  p.cached_input = money::PerMtok::Nanos(0);
  // More cached than prompt tokens: all 10 prompt tokens count as cached, none negative.
  EXPECT_EQ(Cost(MakeUsage(10, 50, 0, 0), p).nanos(), 0);
  EXPECT_EQ(Cost(MakeUsage(-10, 0, 0, -3), p).nanos(), 0);
}

TEST(PricingTest, WorstCaseTakesTheDearerInputPrice) {
  Prices p = *DefaultPrices(config::v1::PROVIDER_TYPE_ANTHROPIC, "claude-3-5-haiku");
  // 1,000 prompt tokens at the cache-write price (1.00 > 0.80) + 100 output × 4.
  EXPECT_EQ(WorstCase(1000, 100, p).ToDecimal(), "0.0014");
}

}  // namespace
}  // namespace aimarket::pricing
