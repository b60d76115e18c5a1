#include "services/usage_metering/usage_analytics.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "common/db/pqxx_status.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/money/money.h"
#include "common/status/error.h"
#include "common/status/status_macros.h"
#include "common/time/proto_time.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "services/usage_metering/usage_csv.h"

namespace aimarket::usage {
namespace {

// ---- Metrics
//   aimarket_metering_analytics_requests_total{kind,result}  query | events | export; ok | error
//   aimarket_metering_analytics_seconds{kind}               time per call (an export: to its end)
//   aimarket_metering_export_rows_total                     CSV rows exported (headers excluded)
//   aimarket_metering_exports_running                       exports running or waiting a thread
class AnalyticsMetrics {
 public:
  static AnalyticsMetrics& Get() {
    static AnalyticsMetrics* m = new AnalyticsMetrics();
    return *m;
  }
  void Done(absl::string_view kind, bool ok, absl::Duration took) {
    requests_.Add({{"kind", std::string(kind)}, {"result", ok ? "ok" : "error"}}).Increment();
    seconds_
        .Add({{"kind", std::string(kind)}},
             prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                     2.5, 5, 10, 30, 60, 300})
        .Observe(absl::ToDoubleSeconds(took));
  }
  void Rows(int64_t n) { rows_.Increment(static_cast<double>(n)); }
  void Running(int n) { running_.Set(n); }

 private:
  AnalyticsMetrics()
      : requests_(prometheus::BuildCounter()
                      .Name("aimarket_metering_analytics_requests_total")
                      .Help("Usage analytics calls by kind (query, events, export) and result.")
                      .Register(metrics::Registry())),
        seconds_(prometheus::BuildHistogram()
                     .Name("aimarket_metering_analytics_seconds")
                     .Help("Time per usage analytics call; an export's until its last row.")
                     .Register(metrics::Registry())),
        rows_(prometheus::BuildCounter()
                  .Name("aimarket_metering_export_rows_total")
                  .Help("CSV rows exported (header rows excluded).")
                  .Register(metrics::Registry())
                  .Add({})),
        running_(prometheus::BuildGauge()
                     .Name("aimarket_metering_exports_running")
                     .Help("CSV exports running or waiting for an export thread.")
                     .Register(metrics::Registry())
                     .Add({})) {}

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  prometheus::Counter& rows_;
  prometheus::Gauge& running_;
};

// ---- Requests

absl::Status Invalid(absl::string_view param, absl::string_view message) {
  return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_VALUE", message).Param(param);
}

// [start, end) of a request: unset times are the current UTC month so far (today included).
struct Range {
  absl::Time start;
  absl::Time end;
};

absl::StatusOr<Range> RangeOf(const google::protobuf::Timestamp* start,
                              const google::protobuf::Timestamp* end, bool whole_days,
                              int max_days) {
  const absl::TimeZone utc = absl::UTCTimeZone();
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), utc);
  Range r;
  r.start =
      start != nullptr ? time::FromProto(*start) : absl::FromCivil(absl::CivilMonth(today), utc);
  r.end = end != nullptr ? time::FromProto(*end) : absl::FromCivil(today + 1, utc);
  if (whole_days) {
    const char* why =
        "Usage is kept by UTC day: give a date (2026-11-01) or a UTC midnight "
        "(2026-11-01T00:00:00Z).";
    if (absl::FromCivil(absl::ToCivilDay(r.start, utc), utc) != r.start)
      return Invalid("start", why);
    if (absl::FromCivil(absl::ToCivilDay(r.end, utc), utc) != r.end) return Invalid("end", why);
  }
  if (r.start >= r.end) return Invalid("end", "'end' must be after 'start'.");
  if (r.end - r.start > absl::Hours(24) * max_days) {
    return Invalid("end", absl::StrCat("A range may span ", max_days, " days at most."));
  }
  return r;
}

// The dimensions one may group by: the API's name, the rollup's column (as SQL), the CSV header.
struct Dimension {
  const char* name;
  const char* sql;
  const char* header;
  bool across_teams_only;
};
constexpr Dimension kDimensions[] = {
    {"day", "day::text", "day", false},
    {"team", "team_id", "team_id", true},
    {"model", "model", "model", false},
    {"provider", "provider", "provider", false},
    {"key", "key_id", "key_id", false},
    {"member", "member", "member", false},
    {"cost_center", "cost_center", "cost_center", false},
    {"experiment", "experiment", "experiment", false},
    {"variant", "variant", "variant", false},
};

absl::StatusOr<std::vector<const Dimension*>> DimensionsOf(
    const google::protobuf::RepeatedPtrField<std::string>& group_by, bool across_teams) {
  std::vector<const Dimension*> dims;
  for (const std::string& name : group_by) {
    const Dimension* found = nullptr;
    for (const Dimension& d : kDimensions) {
      if (name == d.name && (across_teams || !d.across_teams_only)) found = &d;
    }
    if (found == nullptr) {
      return Invalid("group_by",
                     absl::StrCat("Cannot group by '", name.substr(0, 64),
                                  "': use day, model, provider, key, member, cost_center, "
                                  "experiment, variant",
                                  across_teams ? ", team." : "."));
    }
    if (std::find(dims.begin(), dims.end(), found) != dims.end()) {
      return Invalid("group_by", absl::StrCat("'", name, "' is named twice in group_by."));
    }
    dims.push_back(found);
  }
  return dims;
}

// "teams/{id}" -> id ("" for "": across teams). Anything else names no team.
absl::StatusOr<std::string> TeamIdOf(const std::string& team) {
  if (team.empty()) return std::string();
  if (team.size() > 6 + 64 || team.compare(0, 6, "teams/") != 0 || team.size() == 6) {
    return status::Error(absl::StatusCode::kNotFound, "TEAM_NOT_FOUND", "No such team.");
  }
  return team.substr(6);
}

// Who calls: the principal of the key in `ctx`, from team-management.
absl::StatusOr<common::v1::Principal> Caller(team::TeamApi& auth, const rpc::CallContext& ctx) {
  const std::string key = ctx.ApiKey();
  if (std::optional<common::v1::Principal> p = auth.AuthenticateAtOnce(key)) return *p;
  team::v1::AuthenticateRequest req;
  req.set_api_key(key);
  AIM_ASSIGN_OR_RETURN(team::v1::AuthenticateResponse resp, auth.Authenticate(ctx, req));
  return std::move(*resp.mutable_principal());
}

// What a request may read: its team's id ("" across teams) and its range, once the caller is
// known and allowed. Events need a team and take any instants; grouped usage, UTC days.
struct Scope {
  std::string team_id;
  Range range;
};
template <typename Request>
absl::StatusOr<Scope> ScopeOf(team::TeamApi& auth, const rpc::CallContext& ctx, const Request& req,
                              bool events, int max_days) {
  AIM_ASSIGN_OR_RETURN(const common::v1::Principal p, Caller(auth, ctx));
  if (events && req.team().empty()) return TeamIdOf("-").status();
  AIM_RETURN_IF_ERROR(UsageAnalytics::MayRead(p, req.team()));
  Scope scope;
  AIM_ASSIGN_OR_RETURN(scope.team_id, TeamIdOf(req.team()));
  AIM_ASSIGN_OR_RETURN(scope.range, RangeOf(req.has_start_time() ? &req.start_time() : nullptr,
                                            req.has_end_time() ? &req.end_time() : nullptr,
                                            /*whole_days=*/!events, max_days));
  return scope;
}

// `text` as an SQL string literal, escaped by libpq for the connection (tx.quote, whose own
// concatenation trips GCC 12's -Wstringop-overflow at -O3).
std::string Literal(pqxx::transaction_base& tx, const std::string& text) {
  return absl::StrCat("'", tx.esc(text), "'");
}

constexpr char kSums[] =
    "coalesce(sum(requests), 0)::bigint, coalesce(sum(errors), 0)::bigint, "
    "coalesce(sum(cancelled), 0)::bigint, coalesce(sum(prompt_tokens), 0)::bigint, "
    "coalesce(sum(cached_tokens), 0)::bigint, coalesce(sum(cache_write_tokens), 0)::bigint, "
    "coalesce(sum(completion_tokens), 0)::bigint, coalesce(sum(reasoning_tokens), 0)::bigint, "
    "coalesce(sum(cost_nano_usd), 0)::bigint, coalesce(sum(latency_us), 0)::bigint, "
    "coalesce(sum(ttft_requests), 0)::bigint, coalesce(sum(ttft_us), 0)::bigint";
constexpr int kSumColumns = 12;

std::string Day(absl::Time t) {
  return absl::FormatCivilTime(absl::ToCivilDay(t, absl::UTCTimeZone()));
}

// The grouped query over the rollups; every value quoted by `tx` (the team id was checked too).
std::string GroupedSql(pqxx::transaction_base& tx, const std::vector<const Dimension*>& dims,
                       const std::string& team_id, const Range& range, int limit) {
  std::vector<std::string> columns;
  std::vector<std::string> positions;
  for (size_t i = 0; i < dims.size(); ++i) {
    columns.emplace_back(dims[i]->sql);
    positions.push_back(absl::StrCat(i + 1));
  }
  columns.emplace_back(kSums);
  std::string sql = absl::StrCat("SELECT ", absl::StrJoin(columns, ", "),
                                 " FROM usage_daily WHERE day >= ", Literal(tx, Day(range.start)),
                                 "::date AND day < ", Literal(tx, Day(range.end)), "::date");
  if (!team_id.empty()) absl::StrAppend(&sql, " AND team_id = ", Literal(tx, team_id));
  if (!dims.empty()) {
    const std::string by = absl::StrJoin(positions, ", ");
    absl::StrAppend(&sql, " GROUP BY ", by, " ORDER BY ", by);
  }
  if (limit > 0) absl::StrAppend(&sql, " LIMIT ", limit);
  return sql;
}

void ReadTotals(const pqxx::row& row, int first, v1::UsageTotals& t) {
  int64_t v[kSumColumns];
  for (int i = 0; i < kSumColumns; ++i) v[i] = row[first + i].as<int64_t>();
  t.set_requests(v[0]);
  t.set_errors(v[1]);
  t.set_cancelled(v[2]);
  t.set_prompt_tokens(v[3]);
  t.set_cached_tokens(v[4]);
  t.set_cache_write_tokens(v[5]);
  t.set_completion_tokens(v[6]);
  t.set_reasoning_tokens(v[7]);
  t.set_cost_nano_usd(v[8]);
  t.set_latency_us(v[9]);
  t.set_ttft_requests(v[10]);
  t.set_ttft_us(v[11]);
}

void AddTotals(const v1::UsageTotals& a, v1::UsageTotals& sum) {
  sum.set_requests(sum.requests() + a.requests());
  sum.set_errors(sum.errors() + a.errors());
  sum.set_cancelled(sum.cancelled() + a.cancelled());
  sum.set_prompt_tokens(sum.prompt_tokens() + a.prompt_tokens());
  sum.set_cached_tokens(sum.cached_tokens() + a.cached_tokens());
  sum.set_cache_write_tokens(sum.cache_write_tokens() + a.cache_write_tokens());
  sum.set_completion_tokens(sum.completion_tokens() + a.completion_tokens());
  sum.set_reasoning_tokens(sum.reasoning_tokens() + a.reasoning_tokens());
  sum.set_cost_nano_usd(sum.cost_nano_usd() + a.cost_nano_usd());
  sum.set_latency_us(sum.latency_us() + a.latency_us());
  sum.set_ttft_requests(sum.ttft_requests() + a.ttft_requests());
  sum.set_ttft_us(sum.ttft_us() + a.ttft_us());
}

// The events of a team in a range, newest first, from after `after` (its start time and request
// id) when given.
constexpr char kEventColumns[] =
    "request_id, (extract(epoch FROM start_time) * 1000000)::bigint, team_id, key_id, member, "
    "cost_center, kind, model, provider, upstream_model, deployment, attempts, experiment, "
    "variant, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, "
    "reasoning_tokens, cost_nano_usd, reserved_nano_usd, estimated, unpriced, outcome, "
    "http_status, latency_us, ttft_us";

// An instant as SQL, from an integer (nothing of a client's text).
std::string MicrosSql(absl::Time t) {
  return absl::StrCat("(timestamptz 'epoch' + ", absl::ToUnixMicros(t),
                      "::bigint * interval '1 microsecond')");
}

std::string EventsSql(pqxx::transaction_base& tx, const std::string& team_id, const Range& range,
                      const std::string& after_id, int64_t after_us, int limit) {
  std::string sql = absl::StrCat(
      "SELECT ", kEventColumns, " FROM usage_events WHERE team_id = ", Literal(tx, team_id),
      " AND start_time >= ", MicrosSql(range.start), " AND start_time < ", MicrosSql(range.end));
  if (!after_id.empty()) {
    // The first condition lets the (team_id, start_time) index start at the cursor.
    const std::string at = MicrosSql(absl::FromUnixMicros(after_us));
    absl::StrAppend(&sql, " AND start_time <= ", at, " AND (start_time, request_id) < (", at, ", ",
                    Literal(tx, after_id), ")");
  }
  absl::StrAppend(&sql, " ORDER BY start_time DESC, request_id DESC");
  if (limit > 0) absl::StrAppend(&sql, " LIMIT ", limit);
  return sql;
}

v1::Settlement EventOf(const pqxx::row& r) {
  v1::Settlement e;
  e.set_request_id(r[0].c_str());
  *e.mutable_start_time() = time::ToProto(absl::FromUnixMicros(r[1].as<int64_t>()));
  e.set_team(absl::StrCat("teams/", r[2].c_str()));
  e.set_key_id(r[3].c_str());
  e.set_member(r[4].c_str());
  e.set_cost_center(r[5].c_str());
  e.set_kind(r[6].c_str());
  e.set_model(r[7].c_str());
  e.set_provider(r[8].c_str());
  e.set_upstream_model(r[9].c_str());
  e.set_deployment(r[10].as<int32_t>());
  e.set_attempts(r[11].as<int32_t>());
  e.set_experiment(r[12].c_str());
  e.set_variant(r[13].c_str());
  common::v1::Usage& u = *e.mutable_usage();
  u.set_prompt_tokens(r[14].as<int64_t>());
  u.set_cached_tokens(r[15].as<int64_t>());
  u.set_cache_write_tokens(r[16].as<int64_t>());
  u.set_completion_tokens(r[17].as<int64_t>());
  u.set_reasoning_tokens(r[18].as<int64_t>());
  u.set_total_tokens(u.prompt_tokens() + u.completion_tokens());
  u.set_cost_nano_usd(r[19].as<int64_t>());
  e.set_reserved_nano_usd(r[20].as<int64_t>());
  e.set_estimated(r[21].as<bool>());
  e.set_unpriced(r[22].as<bool>());
  e.set_outcome(r[23].c_str());
  e.set_http_status(r[24].as<int32_t>());
  e.set_latency_us(r[25].as<int64_t>());
  e.set_time_to_first_token_us(r[26].as<int64_t>());
  return e;
}

// Waits until the export's client has room for more, it goes away, or it has taken nothing for
// `stall`.
absl::Status WaitForRoom(const rpc::CallContext& ctx, absl::Duration stall,
                         const std::atomic<bool>& stopping) {
  if (ctx.cancellation->IsCancelled()) return absl::CancelledError("the client went away");
  if (ctx.flow == nullptr || !ctx.flow->Full()) return absl::OkStatus();
  struct Wake {
    absl::Mutex mu;
    bool woken ABSL_GUARDED_BY(mu) = false;
    void Set() {
      absl::MutexLock lock(&mu);
      woken = true;
    }
  };
  auto wake = std::make_shared<Wake>();
  ctx.flow->WhenReady([wake] { wake->Set(); });
  const int id = ctx.cancellation->OnCancel([wake] { wake->Set(); });
  const absl::Time give_up = absl::Now() + stall;
  bool woken = false;
  {
    absl::MutexLock lock(&wake->mu);
    // In slices, to notice a shutdown. The flag itself decides: a thread that ran late (exports
    // run at a low priority) may find it set after its time is up.
    while (!wake->woken && !stopping.load() && absl::Now() < give_up) {
      wake->mu.AwaitWithTimeout(absl::Condition(&wake->woken), absl::Milliseconds(250));
    }
    woken = wake->woken;
  }
  ctx.cancellation->RemoveCallback(id);
  if (ctx.cancellation->IsCancelled()) return absl::CancelledError("the client went away");
  if (stopping.load()) return absl::UnavailableError("usage-metering is shutting down");
  if (!woken) {
    return status::Error(absl::StatusCode::kDeadlineExceeded, "EXPORT_STALLED",
                         absl::StrCat("The client read nothing of the export for ",
                                      absl::FormatDuration(stall), "."))
        .status();
  }
  return absl::OkStatus();
}

}  // namespace

UsageAnalytics::UsageAnalytics(std::unique_ptr<db::ConnectionPool> pool, team::TeamApi& auth,
                               AnalyticsOptions options)
    : pool_(std::move(pool)),
      auth_(auth),
      options_(options),
      export_threads_(std::make_unique<thread::WorkerPool>(std::max(1, options.export_threads))) {}

UsageAnalytics::~UsageAnalytics() {
  stopping_ = true;
  export_threads_.reset();  // Joins: every export ends at its next wait or fetch.
}

absl::Status UsageAnalytics::MayRead(const common::v1::Principal& p, const std::string& team) {
  if (p.bootstrap_admin()) return absl::OkStatus();
  if (team.empty()) {
    return status::Error(absl::StatusCode::kPermissionDenied, "PERMISSION_DENIED",
                         "Only the platform admin reads usage across teams.")
        .status();
  }
  // Every role of the team reads its usage; another team's does not exist for it.
  if (p.team() != team) {
    return status::Error(absl::StatusCode::kNotFound, "TEAM_NOT_FOUND", "No such team.").status();
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::QueryUsageResponse> UsageAnalytics::Query(const rpc::CallContext& ctx,
                                                             const v1::QueryUsageRequest& req) {
  const absl::Time began = absl::Now();
  absl::StatusOr<v1::QueryUsageResponse> out = [&]() -> absl::StatusOr<v1::QueryUsageResponse> {
    AIM_ASSIGN_OR_RETURN(const Scope scope,
                         ScopeOf(auth_, ctx, req, /*events=*/false, options_.max_days));
    const std::string& team_id = scope.team_id;
    const Range& range = scope.range;
    AIM_ASSIGN_OR_RETURN(const std::vector<const Dimension*> dims,
                         DimensionsOf(req.group_by(), req.team().empty()));
    AIM_ASSIGN_OR_RETURN(db::ConnectionPool::Lease lease, pool_->Acquire());
    try {
      pqxx::read_transaction tx(*lease);
      const pqxx::result rows =
          tx.exec(GroupedSql(tx, dims, team_id, range, options_.max_rows + 1));
      if (static_cast<int>(rows.size()) > options_.max_rows) {
        return Invalid("group_by",
                       absl::StrCat("More than ", options_.max_rows,
                                    " groups: narrow the range or group_by, or export them as CSV "
                                    "(format=csv)."));
      }
      v1::QueryUsageResponse resp;
      *resp.mutable_start_time() = time::ToProto(range.start);
      *resp.mutable_end_time() = time::ToProto(range.end);
      for (const Dimension* d : dims) resp.add_columns(d->header);
      for (const pqxx::row& row : rows) {
        v1::UsageRow& r = *resp.add_rows();
        for (size_t i = 0; i < dims.size(); ++i) r.add_dimensions(row[static_cast<int>(i)].c_str());
        ReadTotals(row, static_cast<int>(dims.size()), *r.mutable_totals());
        AddTotals(r.totals(), *resp.mutable_total());
      }
      return resp;
    } catch (const std::exception& e) {
      return db::FromPqxx(e);
    }
  }();
  AnalyticsMetrics::Get().Done("query", out.ok(), absl::Now() - began);
  return out;
}

absl::StatusOr<v1::ListUsageEventsResponse> UsageAnalytics::ListEvents(
    const rpc::CallContext& ctx, const v1::ListUsageEventsRequest& req) {
  const absl::Time began = absl::Now();
  absl::StatusOr<v1::ListUsageEventsResponse> out =
      [&]() -> absl::StatusOr<v1::ListUsageEventsResponse> {
    AIM_ASSIGN_OR_RETURN(const Scope scope,
                         ScopeOf(auth_, ctx, req, /*events=*/true, options_.max_days));
    const std::string& team_id = scope.team_id;
    const Range& range = scope.range;
    if (req.page_size() < 0 || req.page_size() > 100) {
      return Invalid("limit", "'limit' must be from 1 to 100.");
    }
    const int size = req.page_size() == 0 ? 20 : req.page_size();
    AIM_ASSIGN_OR_RETURN(db::ConnectionPool::Lease lease, pool_->Acquire());
    try {
      pqxx::read_transaction tx(*lease);
      int64_t after_us = 0;
      if (!req.page_token().empty()) {
        const pqxx::result at = tx.exec_params(
            "SELECT (extract(epoch FROM start_time) * 1000000)::bigint FROM usage_events "
            "WHERE request_id = $1 AND team_id = $2 LIMIT 1",
            req.page_token(), team_id);
        if (at.empty()) return Invalid("after", "'after' is not an event of this team.");
        after_us = at[0][0].as<int64_t>();
      }
      const pqxx::result rows =
          tx.exec(EventsSql(tx, team_id, range, req.page_token(), after_us, size + 1));
      v1::ListUsageEventsResponse resp;
      for (const pqxx::row& row : rows) {
        if (resp.events_size() == size) {
          resp.set_next_page_token(resp.events(size - 1).request_id());
          break;
        }
        *resp.add_events() = EventOf(row);
      }
      return resp;
    } catch (const std::exception& e) {
      return db::FromPqxx(e);
    }
  }();
  AnalyticsMetrics::Get().Done("events", out.ok(), absl::Now() - began);
  return out;
}

void UsageAnalytics::Export(rpc::CallContext ctx, const v1::ExportUsageRequest& req,
                            rpc::StreamObserver<v1::ExportUsageChunk>& observer) {
  // Running ones and as many waiting for a thread; beyond, the client retries.
  if (exports_.fetch_add(1) >= 2 * std::max(1, options_.export_threads)) {
    exports_.fetch_sub(1);
    AnalyticsMetrics::Get().Done("export", false, absl::ZeroDuration());
    return observer.OnComplete(status::Error(absl::StatusCode::kResourceExhausted, "EXPORTS_BUSY",
                                             "Too many usage exports are running; retry shortly.")
                                   .status());
  }
  AnalyticsMetrics::Get().Running(exports_.load());
  export_threads_->Run([this, ctx = std::move(ctx), &req, &observer] {
    // Exports yield the CPU to the data plane: their threads run at nice 10 (once per thread).
    static thread_local const bool niced = [] {
      return setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10) == 0;
    }();
    (void)niced;
    const absl::Time began = absl::Now();
    const absl::Status status = stopping_.load()
                                    ? absl::UnavailableError("usage-metering is shutting down")
                                    : RunExport(ctx, req, observer);
    if (!status.ok() && !absl::IsCancelled(status)) {
      log::Info("usage export ended early",
                {{"request_id", ctx.request_id}, {"error", status.ToString()}});
    }
    AnalyticsMetrics::Get().Done("export", status.ok(), absl::Now() - began);
    AnalyticsMetrics::Get().Running(exports_.fetch_sub(1) - 1);
    observer.OnComplete(status);
  });
}

absl::Status UsageAnalytics::RunExport(const rpc::CallContext& ctx,
                                       const v1::ExportUsageRequest& req,
                                       rpc::StreamObserver<v1::ExportUsageChunk>& observer) {
  AIM_ASSIGN_OR_RETURN(const Scope scope,
                       ScopeOf(auth_, ctx, req, req.events(), options_.max_days));
  const std::string& team_id = scope.team_id;
  const Range& range = scope.range;
  std::vector<const Dimension*> dims;
  if (req.events()) {
    if (req.group_by_size() > 0) {
      return Invalid("group_by", "Events are exported one per row: group_by does not apply.");
    }
  } else {
    AIM_ASSIGN_OR_RETURN(dims, DimensionsOf(req.group_by(), req.team().empty()));
  }
  AIM_ASSIGN_OR_RETURN(db::ConnectionPool::Lease lease, pool_->Acquire());
  int64_t unsent = 0;  // Rows in `csv`.
  try {
    pqxx::read_transaction tx(*lease);
    // A stalled export is ended by its own thread; this is the server's backstop.
    tx.exec0(
        absl::StrCat("SET LOCAL idle_in_transaction_session_timeout = ",
                     absl::ToInt64Milliseconds(options_.export_stall_timeout + absl::Seconds(30))));
    tx.exec0(absl::StrCat("DECLARE usage_export NO SCROLL CURSOR FOR ",
                          req.events() ? EventsSql(tx, team_id, range, "", 0, 0)
                                       : GroupedSql(tx, dims, team_id, range, 0)));
    std::string csv;
    if (req.events()) {
      csv::EventsHeader(csv);
    } else {
      std::vector<absl::string_view> headers;
      for (const Dimension* d : dims) headers.emplace_back(d->header);
      csv::UsageHeader(headers, csv);
    }
    const std::string fetch =
        absl::StrCat("FETCH FORWARD ", options_.fetch_rows, " FROM usage_export");
    v1::ExportUsageChunk chunk;
    auto send = [&]() -> absl::Status {
      AIM_RETURN_IF_ERROR(WaitForRoom(ctx, options_.export_stall_timeout, stopping_));
      lease.Renew();
      chunk.set_csv(std::move(csv));
      csv.clear();
      observer.OnEvent(chunk);
      AnalyticsMetrics::Get().Rows(unsent);
      unsent = 0;
      return absl::OkStatus();
    };
    v1::UsageTotals totals;
    std::vector<std::string> values(dims.size());
    while (true) {
      if (stopping_.load()) return absl::UnavailableError("usage-metering is shutting down");
      lease.Renew();
      const pqxx::result rows = tx.exec(fetch);
      for (const pqxx::row& row : rows) {
        if (req.events()) {
          csv::EventRow(EventOf(row), csv);
        } else {
          for (size_t i = 0; i < dims.size(); ++i) values[i] = row[static_cast<int>(i)].c_str();
          totals.Clear();
          ReadTotals(row, static_cast<int>(dims.size()), totals);
          csv::UsageRow(values, totals, csv);
        }
        ++unsent;
        if (csv.size() >= options_.chunk_bytes) AIM_RETURN_IF_ERROR(send());
      }
      if (static_cast<int>(rows.size()) < options_.fetch_rows) break;
    }
    if (!csv.empty()) AIM_RETURN_IF_ERROR(send());
  } catch (const std::exception& e) {
    return db::FromPqxx(e);
  }
  return absl::OkStatus();
}

}  // namespace aimarket::usage
