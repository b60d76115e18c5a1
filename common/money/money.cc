#include "common/money/money.h"

#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace aimarket::money {
namespace {

absl::StatusOr<int64_t> DollarsToNanos(double dollars) {
  if (!std::isfinite(dollars)) return absl::InvalidArgumentError("is not a finite number");
  if (dollars < 0) return absl::InvalidArgumentError("must not be negative");
  if (dollars > kMaxDollars) {
    return absl::InvalidArgumentError(absl::StrCat("must not exceed ", kMaxDollars, " dollars"));
  }
  return std::llround(dollars * static_cast<double>(kNanosPerDollar));
}

}  // namespace

absl::StatusOr<Usd> Usd::FromDollars(double dollars) {
  absl::StatusOr<int64_t> nanos = DollarsToNanos(dollars);
  if (!nanos.ok()) return nanos.status();
  return Usd(*nanos);
}

absl::StatusOr<Usd> Usd::FromDecimal(std::string_view text) {
  const absl::string_view s(text.data(), text.size());
  const size_t dot = s.find('.');
  const absl::string_view whole = s.substr(0, dot);
  const absl::string_view frac = dot == absl::string_view::npos ? "" : s.substr(dot + 1);
  auto digits = [](absl::string_view d) {
    for (char c : d) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    }
    return true;
  };
  if (whole.empty() || whole.size() > 10 || !digits(whole) || frac.size() > 9 || !digits(frac) ||
      (dot != absl::string_view::npos && frac.empty())) {
    return absl::InvalidArgumentError(
        "is not an amount of dollars (digits, optionally a point and up to 9 decimals)");
  }
  int64_t w = 0;
  if (!absl::SimpleAtoi(whole, &w)) return absl::InvalidArgumentError("is out of range");
  int64_t f = 0;
  if (!frac.empty() && !absl::SimpleAtoi(frac, &f)) {
    return absl::InvalidArgumentError("is out of range");
  }
  for (size_t i = frac.size(); i < 9; ++i) f *= 10;
  if (w > static_cast<int64_t>(kMaxDollars) || (w == static_cast<int64_t>(kMaxDollars) && f > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("must not exceed ", kMaxDollars, " dollars"));
  }
  return Usd(w * kNanosPerDollar + f);
}

std::string Usd::ToDecimal() const {
  // |INT64_MIN| does not fit an int64: work in unsigned.
  const bool negative = nanos_ < 0;
  const uint64_t magnitude =
      negative ? uint64_t{0} - static_cast<uint64_t>(nanos_) : static_cast<uint64_t>(nanos_);
  const uint64_t whole = magnitude / kNanosPerDollar;
  uint64_t frac = magnitude % kNanosPerDollar;
  std::string out = absl::StrCat(negative ? "-" : "", whole);
  if (frac == 0) return out;
  std::string digits = absl::StrFormat("%09d", frac);
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  absl::StrAppend(&out, ".", digits);
  return out;
}

absl::StatusOr<PerMtok> PerMtok::FromDollars(double dollars_per_mtok) {
  absl::StatusOr<int64_t> nanos = DollarsToNanos(dollars_per_mtok);
  if (!nanos.ok()) return nanos.status();
  return PerMtok(*nanos);
}

Usd CostOf(std::initializer_list<std::pair<int64_t, PerMtok>> tokens_at_prices) {
  // tokens (< 2^63) × nanos per Mtok (< 2^63) fits __int128 many times over.
  __int128 total = 0;
  for (const auto& [tokens, price] : tokens_at_prices) {
    if (tokens <= 0 || price.nanos() <= 0) continue;
    total += static_cast<__int128>(tokens) * price.nanos();
  }
  constexpr __int128 kMillion = 1'000'000;
  const __int128 nanos = (total + kMillion - 1) / kMillion;  // Rounded up.
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  return Usd::Nanos(nanos > kMax ? kMax : static_cast<int64_t>(nanos));
}

}  // namespace aimarket::money
