#pragma once

// Usage as CSV (RFC 4180): a header row, then one row per group or event, each line ending in
// CRLF. A text field holding a quote, comma, CR or LF is quoted, its quotes doubled. A text that a
// spreadsheet would run as a formula (starting with =, +, -, @, tab or CR) is prefixed with a
// single quote first. Numbers are plain; money is exact decimal US dollars (`cost_usd`).

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "aimarket/usage/v1/metering_service.pb.h"

namespace aimarket::usage::csv {

// Appends `text` as one field.
void Text(absl::string_view text, std::string& out);

// Grouped usage: the dimensions' columns, then the sums.
void UsageHeader(const std::vector<absl::string_view>& dimensions, std::string& out);
void UsageRow(const std::vector<std::string>& values, const v1::UsageTotals& totals,
              std::string& out);

// Raw events, one per row.
void EventsHeader(std::string& out);
void EventRow(const v1::Settlement& event, std::string& out);

// Microseconds as milliseconds, exactly ("1234.567"); the mean of `sum_us` over `n` to the
// microsecond ("" when n is 0).
std::string Millis(int64_t us);
std::string MeanMillis(int64_t sum_us, int64_t n);

}  // namespace aimarket::usage::csv
