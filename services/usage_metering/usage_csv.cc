#include "services/usage_metering/usage_csv.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/money/money.h"
#include "common/time/proto_time.h"

namespace aimarket::usage::csv {
namespace {

std::string Dollars(int64_t nanos) { return money::Usd::Nanos(nanos).ToDecimal(); }

// The sums' columns, after the dimensions'.
constexpr char kSumsHeader[] =
    "requests,errors,cancelled,prompt_tokens,cached_tokens,cache_write_tokens,"
    "completion_tokens,reasoning_tokens,cost_usd,avg_latency_ms,avg_ttft_ms\r\n";

constexpr char kEventsHeader[] =
    "request_id,start_time,team_id,key_id,member,cost_center,kind,model,provider,upstream_model,"
    "outcome,http_status,attempts,prompt_tokens,cached_tokens,cache_write_tokens,"
    "completion_tokens,reasoning_tokens,cost_usd,reserved_usd,estimated,unpriced,latency_ms,"
    "ttft_ms,experiment,variant\r\n";

}  // namespace

void Text(absl::string_view text, std::string& out) {
  const bool formula = !text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' ||
                                         text[0] == '@' || text[0] == '\t' || text[0] == '\r');
  const bool quote = text.find_first_of("\",\r\n") != absl::string_view::npos;
  if (quote) out.push_back('"');
  if (formula) out.push_back('\'');
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  if (quote) out.push_back('"');
}

std::string Millis(int64_t us) { return absl::StrFormat("%d.%03d", us / 1000, us % 1000); }

std::string MeanMillis(int64_t sum_us, int64_t n) {
  if (n <= 0) return "";
  // Rounded to the nearest microsecond.
  return Millis((sum_us + n / 2) / n);
}

void UsageHeader(const std::vector<absl::string_view>& dimensions, std::string& out) {
  for (absl::string_view d : dimensions) absl::StrAppend(&out, d, ",");
  out += kSumsHeader;
}

void UsageRow(const std::vector<std::string>& values, const v1::UsageTotals& t, std::string& out) {
  for (const std::string& v : values) {
    Text(v, out);
    out.push_back(',');
  }
  absl::StrAppend(&out, t.requests(), ",", t.errors(), ",", t.cancelled(), ",", t.prompt_tokens(),
                  ",", t.cached_tokens(), ",", t.cache_write_tokens(), ",", t.completion_tokens(),
                  ",", t.reasoning_tokens(), ",", Dollars(t.cost_nano_usd()), ",",
                  MeanMillis(t.latency_us(), t.requests()), ",",
                  MeanMillis(t.ttft_us(), t.ttft_requests()), "\r\n");
}

void EventsHeader(std::string& out) { out += kEventsHeader; }

void EventRow(const v1::Settlement& e, std::string& out) {
  auto text = [&out](absl::string_view s) {
    Text(s, out);
    out.push_back(',');
  };
  text(e.request_id());
  absl::StrAppend(&out,
                  absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time::FromProto(e.start_time()),
                                   absl::UTCTimeZone()),
                  ",");
  absl::string_view team = e.team();
  if (team.size() > 6) team.remove_prefix(6);  // "teams/"
  text(team);
  text(e.key_id());
  text(e.member());
  text(e.cost_center());
  text(e.kind());
  text(e.model());
  text(e.provider());
  text(e.upstream_model());
  text(e.outcome());
  const common::v1::Usage& u = e.usage();
  absl::StrAppend(&out, e.http_status(), ",", e.attempts(), ",", u.prompt_tokens(), ",",
                  u.cached_tokens(), ",", u.cache_write_tokens(), ",", u.completion_tokens(), ",",
                  u.reasoning_tokens(), ",", Dollars(u.cost_nano_usd()), ",",
                  Dollars(e.reserved_nano_usd()), ",", e.estimated() ? "true" : "false", ",",
                  e.unpriced() ? "true" : "false", ",", Millis(e.latency_us()), ",",
                  Millis(e.time_to_first_token_us()), ",");
  Text(e.experiment(), out);
  out.push_back(',');
  Text(e.variant(), out);
  out += "\r\n";
}

}  // namespace aimarket::usage::csv
