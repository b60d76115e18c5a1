#pragma once

// Money inside aimarket: integers, never floating point. One type for an amount (Usd, in
// nano-dollars) and one for a price per million tokens (PerMtok), with every conversion from and to
// the outside world's decimal dollars in this one place.
//
//   money::Usd budget = *money::Usd::FromDollars(12.5);         // config, REST or gRPC input
//   money::PerMtok price = *money::PerMtok::FromDollars(0.15);   // $0.15 per million tokens
//   money::Usd cost = money::CostOf({{10, price}});              // 1,500 nano-dollars, not zero
//   std::string shown = cost.ToDecimal();                        // "0.0000015"
//
// A nano-dollar is 1e-9 US dollars: an int64 holds ±9.2 billion dollars, and one token at the
// cheapest price anyone charges ($0.01 per million, 1e-8 dollars) is still ten units.

#include <compare>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace aimarket::money {

inline constexpr int64_t kNanosPerDollar = 1'000'000'000;
// The largest amount a conversion from dollars accepts (both signs): well inside int64 nanos, so
// that sums of many amounts do not overflow either.
inline constexpr double kMaxDollars = 1e9;

// An amount of US dollars, in nano-dollars.
class Usd {
 public:
  constexpr Usd() = default;
  static constexpr Usd Nanos(int64_t nanos) { return Usd(nanos); }
  // From dollars given as a double (config, REST and gRPC input), rounded to the nearest
  // nano-dollar. INVALID_ARGUMENT when not finite, negative or above kMaxDollars.
  static absl::StatusOr<Usd> FromDollars(double dollars);
  // From a decimal string ("12.5", "0.000001"): exact, at most 9 decimals. INVALID_ARGUMENT
  // otherwise, or when negative or above kMaxDollars.
  static absl::StatusOr<Usd> FromDecimal(std::string_view text);

  constexpr int64_t nanos() const { return nanos_; }
  // Exact decimal dollars, shortest form: "0", "12.5", "0.0000015", "-3".
  std::string ToDecimal() const;
  // For JSON numbers shown to people (may round beyond 15 significant digits).
  double ToDollars() const { return static_cast<double>(nanos_) / kNanosPerDollar; }

  constexpr Usd operator+(Usd o) const { return Usd(nanos_ + o.nanos_); }
  constexpr Usd operator-(Usd o) const { return Usd(nanos_ - o.nanos_); }
  constexpr Usd& operator+=(Usd o) {
    nanos_ += o.nanos_;
    return *this;
  }
  constexpr Usd& operator-=(Usd o) {
    nanos_ -= o.nanos_;
    return *this;
  }
  constexpr auto operator<=>(const Usd&) const = default;

 private:
  constexpr explicit Usd(int64_t nanos) : nanos_(nanos) {}
  int64_t nanos_ = 0;
};

// A price per million tokens, in nano-dollars per million tokens ($0.15 → 150,000,000).
class PerMtok {
 public:
  constexpr PerMtok() = default;
  static constexpr PerMtok Nanos(int64_t nanos_per_mtok) { return PerMtok(nanos_per_mtok); }
  // From dollars per million tokens, rounded to the nearest nano-dollar. INVALID_ARGUMENT when not
  // finite, negative or above kMaxDollars.
  static absl::StatusOr<PerMtok> FromDollars(double dollars_per_mtok);

  constexpr int64_t nanos() const { return nanos_; }
  std::string ToDecimal() const { return Usd::Nanos(nanos_).ToDecimal(); }
  constexpr auto operator<=>(const PerMtok&) const = default;

 private:
  constexpr explicit PerMtok(int64_t nanos) : nanos_(nanos) {}
  int64_t nanos_ = 0;
};

// The cost of several token counts, each at its price: the exact sum, rounded up once to a whole
// nano-dollar (so that a request is never free because each part was small). Token counts below
// zero count as zero; the result saturates at the largest Usd instead of overflowing.
Usd CostOf(std::initializer_list<std::pair<int64_t, PerMtok>> tokens_at_prices);

}  // namespace aimarket::money
