#pragma once

// What tokens cost: the default price table (default_prices.yaml, compiled in), each deployment's
// prices (its config over the table's), and the cost of a request's usage, priced the way each
// provider bills it. Every amount is an integer (common/money).
//
//   absl::StatusOr<pricing::Prices> p = pricing::DeploymentPrices(provider, deployment);
//   money::Usd cost = pricing::Cost(usage, *p);
//
// How a model name finds its row: the exact name, else the name without one version suffix
// (-YYYYMMDD, -YYYY-MM-DD, -NNN, -latest): claude-3-5-haiku-20241022 → claude-3-5-haiku,
// gpt-4o-2024-08-06 → gpt-4o, gemini-2.0-flash-001 → gemini-2.0-flash. Nothing else is guessed (a
// gpt-4o-audio-preview is not a gpt-4o).

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "aimarket/common/v1/usage.pb.h"
#include "aimarket/config/v1/config.pb.h"
#include "common/money/money.h"

namespace aimarket::pricing {

// The output a request may produce when neither it nor its deployment's table row says.
inline constexpr int64_t kDefaultMaxOutputTokens = 4096;

// Prices of one deployment, per million tokens.
struct Prices {
  money::PerMtok input;
  money::PerMtok cached_input;  // Read from the provider's prompt cache.
  money::PerMtok cache_write;   // Written to the prompt cache (Anthropic).
  money::PerMtok output;        // Reasoning tokens are output.
  int64_t max_output_tokens = kDefaultMaxOutputTokens;
};

// The compiled-in table, parsed once. Aborts the process if the file does not parse (a test checks
// that it does).
const config::v1::PriceTable& DefaultTable();

// The table's prices for `model` of a provider of `type`; nullopt when it has none.
std::optional<Prices> DefaultPrices(config::v1::ProviderType type, std::string_view model);

// The deployment's prices: each field it sets, else the table's. NOT_FOUND when neither gives an
// input and an output price; INVALID_ARGUMENT for a negative or non-finite price. Messages name
// the field (e.g. "input_per_mtok: must not be negative").
absl::StatusOr<Prices> DeploymentPrices(const config::v1::ProviderConfig& provider,
                                        const config::v1::DeploymentConfig& deployment);

// The cost of `usage` at `prices`, rounded up once to a whole nano-dollar:
//   (prompt − cached − cache_write) × input + cached × cached_input + cache_write × cache_write
//   + completion × output
// `usage` is in OpenAI's terms: prompt_tokens counts every input token (cached and written ones
// too), completion_tokens every output token (reasoning too). Counts that do not add up (more
// cached than prompt tokens) are clamped, never negative. When the provider bills other counts
// than it reports (billed_input_tokens, billed_output_tokens: Cohere), those are priced instead.
money::Usd Cost(const common::v1::Usage& usage, const Prices& prices);

// The most a request can cost: `prompt_tokens` all at the input price (the dearest of input and
// cache write) plus `output_tokens` at the output price.
money::Usd WorstCase(int64_t prompt_tokens, int64_t output_tokens, const Prices& prices);

}  // namespace aimarket::pricing
