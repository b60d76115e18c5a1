#include "common/pricing/pricing.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/config/yaml_to_proto.h"
#include "common/log/log.h"

namespace aimarket::pricing {

std::string_view DefaultPricesYaml();  // Generated from default_prices.yaml (embed_file.cmake).

namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c));
  });
}

// `model` without one version suffix, or empty when it has none.
std::string_view WithoutVersion(std::string_view model) {
  const size_t dash = model.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return {};
  const std::string_view last = model.substr(dash + 1);
  const std::string_view head = model.substr(0, dash);
  if (last == "latest" || (AllDigits(last) && (last.size() == 8 || last.size() == 3))) return head;
  // -YYYY-MM-DD: three dash-separated groups of 4, 2 and 2 digits.
  if (last.size() == 2 && AllDigits(last) && head.size() > 8) {
    const std::string_view date = model.substr(model.size() - 10);
    if (date[4] == '-' && date[7] == '-' && AllDigits(date.substr(0, 4)) &&
        AllDigits(date.substr(5, 2)) && model[model.size() - 11] == '-') {
      return model.substr(0, model.size() - 11);
    }
  }
  return {};
}

absl::StatusOr<money::PerMtok> Field(bool present, double value, const char* name,
                                     std::optional<money::PerMtok> fallback) {
  if (!present) {
    if (fallback) return *fallback;
    return absl::NotFoundError(name);
  }
  absl::StatusOr<money::PerMtok> price = money::PerMtok::FromDollars(value);
  if (!price.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": ", price.status().message()));
  }
  return *price;
}

// A table row as Prices (cached_input and cache_write default to input).
Prices FromRow(const config::v1::ModelPrice& row) {
  Prices p;
  p.input = money::PerMtok::FromDollars(row.input_per_mtok()).value();
  p.output = money::PerMtok::FromDollars(row.output_per_mtok()).value();
  p.cached_input = row.has_cached_input_per_mtok()
                       ? money::PerMtok::FromDollars(row.cached_input_per_mtok()).value()
                       : p.input;
  p.cache_write = row.has_cache_write_per_mtok()
                      ? money::PerMtok::FromDollars(row.cache_write_per_mtok()).value()
                      : p.input;
  if (row.max_output_tokens() > 0) p.max_output_tokens = row.max_output_tokens();
  return p;
}

}  // namespace

const config::v1::PriceTable& DefaultTable() {
  static const config::v1::PriceTable* table = [] {
    auto* t = new config::v1::PriceTable;
    const std::string_view yaml = DefaultPricesYaml();
    absl::Status parsed =
        config::MergeYamlIntoProto(absl::string_view(yaml.data(), yaml.size()), *t);
    bool valid = parsed.ok();
    for (const config::v1::ProviderPrices& p : t->providers()) {
      auto check = [&](const config::v1::ModelPrice& row) {
        for (double v : {row.input_per_mtok(), row.cached_input_per_mtok(),
                         row.cache_write_per_mtok(), row.output_per_mtok()}) {
          valid = valid && money::PerMtok::FromDollars(v).ok();
        }
        valid = valid && row.has_input_per_mtok() && row.has_output_per_mtok();
      };
      if (p.has_any_model()) check(p.any_model());
      for (const config::v1::ModelPrice& row : p.models()) check(row);
    }
    if (!valid) {
      log::Error("the compiled-in price table is invalid", {{"error", parsed.ToString()}});
      std::abort();
    }
    return t;
  }();
  return *table;
}

std::optional<Prices> DefaultPrices(config::v1::ProviderType type, std::string_view model) {
  for (const config::v1::ProviderPrices& p : DefaultTable().providers()) {
    if (p.type() != type) continue;
    if (p.has_any_model()) return FromRow(p.any_model());
    for (std::string_view name : {model, WithoutVersion(model)}) {
      if (name.empty()) continue;
      for (const config::v1::ModelPrice& row : p.models()) {
        if (row.model() == name) return FromRow(row);
      }
    }
  }
  return std::nullopt;
}

absl::StatusOr<Prices> DeploymentPrices(const config::v1::ProviderConfig& provider,
                                        const config::v1::DeploymentConfig& d) {
  const std::optional<Prices> table = DefaultPrices(provider.type(), d.model());
  auto or_table = [&](money::PerMtok Prices::*field) -> std::optional<money::PerMtok> {
    if (table) return (*table).*field;
    return std::nullopt;
  };
  Prices p;
  absl::StatusOr<money::PerMtok> input =
      Field(d.has_input_per_mtok(), d.input_per_mtok(), "input_per_mtok", or_table(&Prices::input));
  absl::StatusOr<money::PerMtok> output = Field(d.has_output_per_mtok(), d.output_per_mtok(),
                                                "output_per_mtok", or_table(&Prices::output));
  for (const absl::StatusOr<money::PerMtok>* s : {&input, &output}) {
    if (s->ok()) continue;
    if (s->status().code() != absl::StatusCode::kNotFound) return s->status();
    return absl::NotFoundError(absl::StrCat(
        s->status().message(), ": the default price table has no price for the model \"", d.model(),
        "\" of this provider; state input_per_mtok and output_per_mtok (0 is a price)"));
  }
  p.input = *input;
  p.output = *output;
  // Without a table row, cache reads and writes cost what plain input costs.
  absl::StatusOr<money::PerMtok> cached =
      Field(d.has_cached_input_per_mtok(), d.cached_input_per_mtok(), "cached_input_per_mtok",
            table ? table->cached_input : p.input);
  if (!cached.ok()) return cached.status();
  absl::StatusOr<money::PerMtok> write =
      Field(d.has_cache_write_per_mtok(), d.cache_write_per_mtok(), "cache_write_per_mtok",
            table ? table->cache_write : p.input);
  if (!write.ok()) return write.status();
  p.cached_input = *cached;
  p.cache_write = *write;
  if (d.max_output_tokens() < 0) {
    return absl::InvalidArgumentError("max_output_tokens: must not be negative");
  }
  if (d.max_output_tokens() > 0) {
    p.max_output_tokens = d.max_output_tokens();
  } else if (table) {
    p.max_output_tokens = table->max_output_tokens;
  }
  return p;
}

money::Usd Cost(const common::v1::Usage& u, const Prices& prices) {
  if (u.billed_input_tokens() > 0 || u.billed_output_tokens() > 0) {
    return money::CostOf(
        {{u.billed_input_tokens(), prices.input}, {u.billed_output_tokens(), prices.output}});
  }
  const int64_t prompt = std::max<int64_t>(u.prompt_tokens(), 0);
  const int64_t cached = std::clamp<int64_t>(u.cached_tokens(), 0, prompt);
  const int64_t written = std::clamp<int64_t>(u.cache_write_tokens(), 0, prompt - cached);
  return money::CostOf({{prompt - cached - written, prices.input},
                        {cached, prices.cached_input},
                        {written, prices.cache_write},
                        {u.completion_tokens(), prices.output}});
}

money::Usd WorstCase(int64_t prompt_tokens, int64_t output_tokens, const Prices& prices) {
  return money::CostOf({{prompt_tokens, std::max(prices.input, prices.cache_write)},
                        {output_tokens, prices.output}});
}

}  // namespace aimarket::pricing
