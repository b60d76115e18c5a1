#include "services/usage_metering/usage_metering.h"

#include <google/protobuf/util/time_util.h>

#include <limits>
#include <pqxx/pqxx>
#include <pqxx/tablewriter>
#include <random>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "common/db/transact.h"
#include "common/log/log.h"
#include "common/money/money.h"
#include "common/status/error.h"
#include "common/status/status_macros.h"
#include "common/time/proto_time.h"
#include "services/usage_metering/metering_metrics.h"

namespace aimarket::usage {
namespace {

constexpr char kPartitionPrefix[] = "usage_events_";
constexpr size_t kMaxIdBytes = 256;

std::string PartitionName(absl::CivilMonth m) {
  return absl::StrFormat("%s%04d%02d", kPartitionPrefix, m.year(), m.month());
}

// Postgres's timestamptz text, UTC, microseconds (partition bounds).
std::string PgTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
}

// Why `s` cannot be recorded; empty when it can. The router only sends well-formed settlements;
// this keeps one that is not from blocking the others behind it forever.
std::string Malformed(const v1::Settlement& s) {
  if (s.request_id().empty() || s.request_id().size() > kMaxIdBytes) return "request_id";
  const int64_t seconds = s.start_time().seconds();
  if (seconds < 946684800 || seconds > 32503680000 || s.start_time().nanos() < 0 ||
      s.start_time().nanos() > 999'999'999) {
    return "start_time";  // Before 2000 or after 3000.
  }
  if (s.kind() != "chat" && s.kind() != "embeddings") return "kind";
  if (s.outcome() != "ok" && s.outcome() != "error" && s.outcome() != "cancelled" &&
      s.outcome() != "cut" && s.outcome() != "unsettled") {
    return "outcome";
  }
  if (!s.team().empty() && !absl::StartsWith(s.team(), "teams/")) return "team";
  // Postgres text holds no NUL byte: one would fail the batch it is in, again and again.
  for (const std::string* text :
       {&s.request_id(), &s.team(), &s.key_id(), &s.member(), &s.cost_center(), &s.model(),
        &s.provider(), &s.upstream_model(), &s.experiment(), &s.variant()}) {
    if (text->find('\0') != std::string::npos) return "text with a NUL byte";
  }
  return "";
}

// The staging table's columns, as COPY writes them: usage_events's, with the start time as
// microseconds since the epoch (cheaper to write than a timestamp's text).
const std::vector<std::string>& StagingColumns() {
  static const std::vector<std::string>* columns =
      new std::vector<std::string>{"request_id",
                                   "start_us",
                                   "team_id",
                                   "key_id",
                                   "member",
                                   "cost_center",
                                   "kind",
                                   "model",
                                   "provider",
                                   "upstream_model",
                                   "deployment",
                                   "attempts",
                                   "experiment",
                                   "variant",
                                   "prompt_tokens",
                                   "cached_tokens",
                                   "cache_write_tokens",
                                   "completion_tokens",
                                   "reasoning_tokens",
                                   "cost_nano_usd",
                                   "reserved_nano_usd",
                                   "estimated",
                                   "unpriced",
                                   "outcome",
                                   "http_status",
                                   "latency_us",
                                   "ttft_us"};
  return *columns;
}

// Appends `text` as a field of COPY's text format: backslash, tab, newline and carriage return
// escaped (safe in UTF-8: no byte of a multi-byte character is ASCII).
void CopyText(absl::string_view text, std::string& out) {
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

// One line of the staging table's COPY, in StagingColumns' order, without its newline.
void CopyRow(const v1::Settlement& s, std::string& out) {
  const common::v1::Usage& u = s.usage();
  absl::string_view team = s.team();
  team.remove_prefix(std::min(team.size(), sizeof("teams/") - 1));
  const int64_t start_us =
      google::protobuf::util::TimeUtil::TimestampToMicroseconds(s.start_time());
  auto text = [&out](absl::string_view v) {
    CopyText(v, out);
    out += '\t';
  };
  auto num = [&out](int64_t v) { absl::StrAppend(&out, v, "\t"); };
  text(s.request_id());
  num(start_us);
  text(team);
  text(s.key_id());
  text(s.member());
  text(s.cost_center());
  text(s.kind());
  text(s.model());
  text(s.provider());
  text(s.upstream_model());
  num(s.deployment());
  num(s.attempts());
  text(s.experiment());
  text(s.variant());
  num(u.prompt_tokens());
  num(u.cached_tokens());
  num(u.cache_write_tokens());
  num(u.completion_tokens());
  num(u.reasoning_tokens());
  num(u.cost_nano_usd());
  num(s.reserved_nano_usd());
  text(s.estimated() ? "t" : "f");
  text(s.unpriced() ? "t" : "f");
  text(s.outcome());
  num(s.http_status());
  num(s.latency_us());
  absl::StrAppend(&out, s.time_to_first_token_us());  // The last field: no tab after it.
}

// The staging table, per connection, emptied by every commit.
constexpr char kCreateStaging[] =
    "CREATE TEMP TABLE IF NOT EXISTS usage_events_staging ("
    "request_id text, start_us bigint, team_id text, key_id text, member text, cost_center text, "
    "kind text, model text, provider text, upstream_model text, deployment integer, "
    "attempts integer, experiment text, variant text, prompt_tokens bigint, cached_tokens bigint, "
    "cache_write_tokens bigint, completion_tokens bigint, reasoning_tokens bigint, "
    "cost_nano_usd bigint, reserved_nano_usd bigint, estimated boolean, unpriced boolean, "
    "outcome text, http_status integer, latency_us bigint, ttft_us bigint) ON COMMIT DELETE ROWS";

// From the staging table into usage_events; a row already there (a retried settlement) is
// skipped.
const std::string& InsertFromStaging() {
  static const std::string* sql = [] {
    std::vector<std::string> target = StagingColumns();
    std::vector<std::string> source = StagingColumns();
    target[1] = "start_time";
    source[1] = "timestamptz 'epoch' + start_us * interval '1 microsecond'";
    return new std::string(absl::StrCat("INSERT INTO usage_events (", absl::StrJoin(target, ", "),
                                        ") SELECT ", absl::StrJoin(source, ", "),
                                        " FROM usage_events_staging ON CONFLICT DO NOTHING"
                                        " RETURNING request_id"));
  }();
  return *sql;
}

std::string Dollars(int64_t nanos) {
  return absl::StrCat("$", money::Usd::Nanos(nanos).ToDecimal());
}

// How long, as a person says it: "12s", "1m30s", "4h5m".
std::string Wait(absl::Duration d) { return absl::FormatDuration(absl::Ceil(d, absl::Seconds(1))); }

// The 429 for a refused request, in the words the client sees.
absl::Status Refusal(const Ledger::Decision& d, absl::Time start_time) {
  const absl::string_view whose = d.by_key ? "this API key's" : "the team's";
  if (d.refused == Limit::kMonthlyBudget) {
    const absl::CivilMonth next = absl::ToCivilMonth(start_time, absl::UTCTimeZone()) + 1;
    return status::Error(
               absl::StatusCode::kResourceExhausted, "BUDGET_EXCEEDED",
               absl::StrCat("This request would exceed ", whose, " monthly budget of ",
                            Dollars(d.budget_nanos), ": ", Dollars(d.remaining_nanos),
                            " remains this month and the request may cost up to ",
                            Dollars(d.requested),
                            " (its prompt's estimate and its max_tokens, or the model's largest "
                            "output). The budget starts again on ",
                            absl::FormatCivilTime(absl::CivilDay(next)), " (UTC)."))
        .Type("insufficient_quota")
        .HttpStatus(429)
        .Meta("limit", LimitName(d.refused))
        .Meta("scope", d.by_key ? "key" : "team")
        .RateLimits(d.status);
  }
  const bool tokens = d.refused == Limit::kTokensPerMinute;
  std::string message;
  if (d.refused == Limit::kParallelRequests) {
    message = absl::StrCat("Rate limit reached for parallel requests (", whose, " limit): limit ",
                           d.limit, ", in flight ", d.used, ". Retry when one has ended.");
  } else if (d.retry_after == absl::InfiniteDuration()) {
    message = absl::StrCat("Request too large for tokens per minute (", whose, " limit): limit ",
                           d.limit, ", requested ", d.requested,
                           " (the prompt's estimate plus max_tokens, or the model's largest "
                           "output when max_tokens is not set). Lower max_tokens or shorten the "
                           "prompt.");
  } else {
    const absl::string_view what = d.refused == Limit::kRequestsPerMinute ? "requests per minute"
                                   : d.refused == Limit::kRequestsPerDay  ? "requests per day"
                                                                          : "tokens per minute";
    message = absl::StrCat("Rate limit reached for ", what, " (", whose, " limit): limit ", d.limit,
                           ", used ", d.used, ", requested ", d.requested, ". Please try again in ",
                           Wait(d.retry_after), ".");
  }
  status::Error e(absl::StatusCode::kResourceExhausted, "RATE_LIMIT_EXCEEDED", message);
  e.Type(tokens ? "tokens" : "requests")
      .HttpStatus(429)
      .Meta("limit", LimitName(d.refused))
      .Meta("scope", d.by_key ? "key" : "team")
      .RateLimits(d.status);
  if (d.retry_after != absl::InfiniteDuration()) e.RetryAfter(d.retry_after);
  return e;
}

std::string NewIncarnation() {
  std::random_device random;
  return absl::StrFormat("%08x%08x", random(), random());
}

}  // namespace

UsageMetering::UsageMetering(std::unique_ptr<db::ConnectionPool> pool, Options options,
                             time::Clock& clock, std::unique_ptr<UsageAnalytics> analytics)
    : pool_(std::move(pool)),
      options_(options),
      clock_(clock),
      ledger_(clock, LedgerOptions{.reservation_ttl = options.reservation_ttl}),
      incarnation_(NewIncarnation()),
      recovered_at_us_(pool_ ? std::numeric_limits<int64_t>::max() : 0),
      analytics_(std::move(analytics)) {
  if (!pool_) return;
  alerts_ = std::make_unique<BudgetAlerts>(*pool_, ledger_, options_.alerts);
  starter_ = std::thread([this] { Start(); });
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
  sweeper_ = std::thread([this] { SweepLoop(); });
}

UsageMetering::~UsageMetering() {
  analytics_.reset();  // Its exports end first.
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (starter_.joinable()) starter_.join();
  for (std::thread& t : writers_) t.join();
  if (maintenance_.joinable()) maintenance_.join();
  if (sweeper_.joinable()) sweeper_.join();
  alerts_.reset();
  // What no writer took: the routers keep it and send it again.
  std::deque<Queued> left;
  {
    absl::MutexLock lock(&mu_);
    left.swap(queue_);
  }
  for (Queued& q : left) q.done(absl::UnavailableError("usage-metering is shutting down"));
}

void UsageMetering::Start() {
  while (true) {
    absl::Status loaded = LoadSpend();
    if (loaded.ok()) {
      loaded = alerts_->LoadFired(absl::ToCivilMonth(clock_.Now(), absl::UTCTimeZone()));
    }
    absl::MutexLock lock(&mu_);
    if (stop_) return;
    if (loaded.ok()) {
      loaded_ = true;
      recovered_at_us_ = absl::ToUnixMicros(clock_.Now() + options_.recovery_grace);
      for (int i = 0; i < std::max(1, options_.writer_threads); ++i) {
        writers_.emplace_back([this] { WriteLoop(); });
      }
      log::Info("usage-metering has loaded the month's spend",
                {{"incarnation", incarnation_},
                 {"recovery_grace", absl::FormatDuration(options_.recovery_grace)}});
      return;
    }
    log::Warn(
        "usage-metering cannot load the month's spend yet; requests with limits are "
        "refused until it can",
        {{"error", loaded.ToString()}});
    auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopped), absl::Seconds(1));
  }
}

absl::Status UsageMetering::LoadSpend() {
  const absl::CivilMonth month = absl::ToCivilMonth(clock_.Now(), absl::UTCTimeZone());
  const int64_t from_us = absl::ToUnixMicros(absl::FromCivil(month, absl::UTCTimeZone()));
  const int64_t to_us = absl::ToUnixMicros(absl::FromCivil(month + 1, absl::UTCTimeZone()));
  // The sums per team and key of the month's events; nothing is written meanwhile (the writers
  // start after this), so none is counted twice.
  return db::Transact(*pool_, [&](pqxx::work& tx) -> absl::Status {
    int64_t rows = 0;
    for (const pqxx::row& row :
         tx.exec_params("SELECT team_id, key_id, sum(cost_nano_usd)::bigint FROM usage_events "
                        "WHERE start_time >= timestamptz 'epoch' + $1 * interval '1 microsecond' "
                        "AND start_time < timestamptz 'epoch' + $2 * interval '1 microsecond' "
                        "GROUP BY team_id, key_id",
                        from_us, to_us)) {
      const absl::string_view team_id(row[0].c_str(), row[0].size());
      ledger_.AddSpend(team_id.empty() ? "" : absl::StrCat("teams/", team_id),
                       absl::string_view(row[1].c_str(), row[1].size()), month,
                       row[2].as<int64_t>());
      ++rows;
    }
    // The rate windows: requests of the last day in five-minute slices, requests and tokens of
    // the last minute in seconds (as the windows keep them).
    const int64_t now_us = absl::ToUnixMicros(clock_.Now());
    for (const auto& [minute, slice_s, span_s] :
         {std::tuple<bool, int64_t, int64_t>{false, 300, 86400 + 300}, {true, 1, 61}}) {
      for (const pqxx::row& row : tx.exec_params(
               "SELECT team_id, key_id, (floor(extract(epoch from start_time) / $1) * $1)::bigint, "
               "count(*), sum(prompt_tokens + completion_tokens)::bigint FROM usage_events "
               "WHERE start_time >= timestamptz 'epoch' + $2 * interval '1 microsecond' "
               "GROUP BY 1, 2, 3",
               slice_s, now_us - span_s * 1'000'000)) {
        const absl::string_view team_id(row[0].c_str(), row[0].size());
        ledger_.AddHistory(team_id.empty() ? "" : absl::StrCat("teams/", team_id),
                           absl::string_view(row[1].c_str(), row[1].size()),
                           absl::FromUnixSeconds(row[2].as<int64_t>()), row[3].as<int64_t>(),
                           row[4].as<int64_t>(), minute);
      }
    }
    log::Info("month's spend and rate windows loaded",
              {{"month", absl::FormatCivilTime(month)}, {"accounts", absl::StrCat(rows)}});
    return absl::OkStatus();
  });
}

bool UsageMetering::recovered() {
  return absl::ToUnixMicros(clock_.Now()) >= recovered_at_us_.load(std::memory_order_relaxed);
}

void UsageMetering::Admit(const rpc::CallContext&, const v1::AdmitRequest& req,
                          rpc::Done<v1::AdmitResponse> done) {
  if (req.request_id().empty() || req.request_id().size() > kMaxIdBytes) {
    return done(absl::InvalidArgumentError("AdmitRequest.request_id is required"));
  }
  Ledger::Ask ask;
  ask.team_limits =
      Limits::Of(req.settings().monthly_budget_nano_usd(), req.settings().rate_limits());
  ask.key_limits =
      Limits::Of(req.key_limits().monthly_budget_nano_usd(), req.key_limits().rate_limits());
  if (!recovered() && (ask.team_limits.any() || ask.key_limits.any())) {
    // Until the spend is loaded and the routers have re-sent what they hold, admitting for a
    // team with limits could pass them.
    MeteringMetrics::Get().Unavailable();
    const int64_t at = recovered_at_us_.load(std::memory_order_relaxed);
    const absl::Duration wait = at == std::numeric_limits<int64_t>::max()
                                    ? absl::Seconds(1)
                                    : absl::FromUnixMicros(at) - clock_.Now();
    return done(status::Error(absl::StatusCode::kUnavailable, "METERING_RECOVERING",
                              "The gateway is restoring its budget and rate-limit counters "
                              "after a restart; retry shortly.")
                    .RetryAfter(std::max(wait, absl::Seconds(1))));
  }
  ask.reservation_id = req.request_id();
  ask.team = req.team();
  ask.key_id = req.key_id();
  ask.reserve_nanos = req.reserve_nano_usd();
  ask.tokens = req.estimated_tokens();
  ask.start_time = time::FromProto(req.start_time());
  ask.kind = req.kind();
  ask.model = req.model();
  ask.member = req.member();
  ask.cost_center = req.cost_center();
  ask.router = req.router_id();
  ask.alert_percents.assign(req.settings().budget_alert_percents().begin(),
                            req.settings().budget_alert_percents().end());
  const absl::Time start_time = ask.start_time;
  Ledger::Decision d = ledger_.Admit(std::move(ask));
  MeteringMetrics::Get().Admitted(d.refused);
  if (d.refused != Limit::kNone) return done(Refusal(d, start_time));
  v1::AdmitResponse resp;
  resp.set_reservation_id(req.request_id());
  if (d.status.limit_requests() > 0 || d.status.limit_tokens() > 0) {
    *resp.mutable_rate_limits() = std::move(d.status);
  }
  resp.set_incarnation(incarnation_);
  done(std::move(resp));
}

absl::StatusOr<v1::SyncResponse> UsageMetering::Sync(const rpc::CallContext&,
                                                     const v1::SyncRequest& req) {
  const absl::string_view router = absl::string_view(req.router_id()).substr(0, kMaxIdBytes);
  ledger_.Heard(router);
  if (req.full()) {
    for (const v1::HeldReservation& held : req.reservations()) {
      if (held.reservation_id().empty() || held.reservation_id().size() > kMaxIdBytes) continue;
      ledger_.Hold(held, router);
    }
    log::Info(
        "a router re-sent the reservations it holds",
        {{"router", std::string(router)}, {"reservations", absl::StrCat(req.reservations_size())}});
  }
  v1::SyncResponse resp;
  resp.set_incarnation(incarnation_);
  return resp;
}

absl::StatusOr<v1::GetBalanceResponse> UsageMetering::GetBalance(const rpc::CallContext&,
                                                                 const v1::GetBalanceRequest& req) {
  return ledger_.Balance(req.team());
}

void UsageMetering::Settle(const rpc::CallContext&, const v1::SettleRequest& req,
                           rpc::Done<v1::SettleResponse> done) {
  if (!pool_) {
    return done(absl::FailedPreconditionError("usage-metering has no database in this process"));
  }
  if (req.settlements().empty()) {
    v1::SettleResponse resp;
    resp.set_incarnation(incarnation_);
    return done(std::move(resp));
  }
  // The reservations hold the actual costs from now until the events are written (also when the
  // queue is full: the router sends the same again).
  for (const v1::Settlement& s : req.settlements()) {
    if (ledger_.Settling(s)) {
      MeteringMetrics::Get().AboveReservation(s.usage().cost_nano_usd() - s.reserved_nano_usd());
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (!stop_ && queued_rows_ + req.settlements_size() <= options_.max_queued_rows) {
      queued_rows_ += req.settlements_size();
      queue_.push_back({&req, std::move(done)});
      return;
    }
  }
  done(absl::ResourceExhaustedError("usage-metering's write queue is full; retry later"));
}

void UsageMetering::ExpireReservations() {
  std::vector<v1::Settlement> expired = ledger_.Expire();
  MeteringMetrics::Get().OpenReservations(ledger_.open_reservations());
  if (expired.empty() || !pool_) return;
  MeteringMetrics::Get().Unsettled(static_cast<int64_t>(expired.size()));
  log::Warn("reservations with no settlement in time charged at their reserved amount",
            {{"reservations", absl::StrCat(expired.size())}});
  auto req = std::make_shared<v1::SettleRequest>();
  for (v1::Settlement& s : expired) *req->add_settlements() = std::move(s);
  WriteUnsettled(std::move(req));
}

void UsageMetering::WriteUnsettled(std::shared_ptr<const v1::SettleRequest> req) {
  // Written like a router's settlements; until they are, the reservations hold their amounts.
  absl::MutexLock lock(&mu_);
  if (stop_) return;
  queued_rows_ += req->settlements_size();
  queue_.push_back({req.get(), [this, req](absl::StatusOr<v1::SettleResponse> r) {
                      if (r.ok()) return;
                      // Not written (the database failed): the sweeper tries again.
                      absl::MutexLock lock(&mu_);
                      unwritten_.push_back(req);
                    }});
}

void UsageMetering::SweepLoop() {
  absl::MutexLock lock(&mu_);
  auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
  while (!mu_.AwaitWithTimeout(absl::Condition(&stopped), absl::Seconds(1))) {
    std::vector<std::shared_ptr<const v1::SettleRequest>> again;
    again.swap(unwritten_);
    const bool loaded = loaded_;
    mu_.Unlock();
    for (auto& req : again) WriteUnsettled(std::move(req));
    ExpireReservations();
    // Alerts only once the month's spend (and the alerts already fired) are known.
    if (loaded) {
      if (absl::StatusOr<int> raised = alerts_->Raise(); !raised.ok()) {
        log::Warn("budget alerts not raised", {{"error", raised.status().ToString()}});
      }
    }
    mu_.Lock();
  }
}

void UsageMetering::WriteLoop() {
  while (true) {
    std::vector<Queued> batch;
    std::vector<const v1::Settlement*> rows;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      // Whatever has queued up, from every router, up to max_rows_per_write (at least one call).
      while (!queue_.empty() && (rows.empty() || static_cast<int>(rows.size()) +
                                                         queue_.front().req->settlements_size() <=
                                                     options_.max_rows_per_write)) {
        Queued q = std::move(queue_.front());
        queue_.pop_front();
        queued_rows_ -= q.req->settlements_size();
        for (const v1::Settlement& s : q.req->settlements()) rows.push_back(&s);
        batch.push_back(std::move(q));
      }
    }
    absl::Status written = Write(rows);
    if (!written.ok()) {
      log::Warn("usage events not written; the routers will retry",
                {{"settlements", absl::StrCat(rows.size())}, {"error", written.ToString()}});
    }
    v1::SettleResponse ok;
    ok.set_incarnation(incarnation_);
    for (Queued& q : batch) {
      if (written.ok()) {
        q.done(ok);
      } else {
        q.done(written);
      }
    }
  }
}

absl::Status UsageMetering::Write(const std::vector<const v1::Settlement*>& rows) {
  const absl::Time start = absl::Now();
  std::vector<const v1::Settlement*> valid;
  valid.reserve(rows.size());
  for (const v1::Settlement* s : rows) {
    if (std::string field = Malformed(*s); !field.empty()) {
      log::Error("malformed settlement skipped",
                 {{"field", field}, {"request_id", s->request_id().substr(0, kMaxIdBytes)}});
      MeteringMetrics::Get().Rejected();
      continue;
    }
    valid.push_back(s);
  }
  if (valid.empty()) return absl::OkStatus();
  // The partitions of the batch's months (usually one).
  absl::flat_hash_set<int64_t> months;
  for (const v1::Settlement* s : valid) {
    const absl::CivilMonth m =
        absl::ToCivilMonth(time::FromProto(s->start_time()), absl::UTCTimeZone());
    if (months.insert(m.year() * 12 + m.month()).second) {
      AIM_RETURN_IF_ERROR(EnsurePartition(time::FromProto(s->start_time())));
    }
  }
  absl::flat_hash_set<std::string> inserted;  // The request ids of the events that were new.
  absl::Status status = db::Transact(*pool_, [&](pqxx::work& tx) -> absl::Status {
    inserted.clear();  // A retried transaction starts again.
    // COPY cannot skip rows already there (a retried settlement); INSERT ... ON CONFLICT from the
    // staging table can.
    tx.exec0("SET LOCAL client_min_messages = warning");
    tx.exec0(kCreateStaging);
    {
      // COPY's text format, each line built here in one buffer: pqxx::stream_to makes two
      // strings per field, which was most of the writer's CPU. tablewriter is deprecated in
      // libpqxx 6 only for its own escaping, which is not used (CopyText below escapes).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      pqxx::tablewriter copy(tx, "usage_events_staging", StagingColumns().begin(),
                             StagingColumns().end());
#pragma GCC diagnostic pop
      std::string line;
      for (const v1::Settlement* s : valid) {
        line.clear();
        CopyRow(*s, line);
        copy.write_raw_line(line);
      }
      copy.complete();
    }
    for (const pqxx::row& row : tx.exec(InsertFromStaging())) inserted.emplace(row[0].c_str());
    return absl::OkStatus();
  });
  const absl::Time end = absl::Now();
  MeteringMetrics::Get().Write(status.ok(), static_cast<int64_t>(valid.size()),
                               absl::ToDoubleSeconds(end - start));
  if (!status.ok()) return status;
  int64_t estimated = 0;
  int64_t unpriced = 0;
  for (const v1::Settlement* s : valid) {
    // New events join the spend; retried ones were counted when first written (or loaded). (A
    // malformed settlement was not written: its reservation stays until its router goes silent.)
    ledger_.Recorded(*s, inserted.contains(s->request_id()));
    estimated += s->estimated() ? 1 : 0;
    unpriced += s->unpriced() ? 1 : 0;
    const absl::Time ended = time::FromProto(s->start_time()) + absl::Microseconds(s->latency_us());
    MeteringMetrics::Get().IngestLag(absl::ToDoubleSeconds(end - ended));
  }
  MeteringMetrics::Get().Written(static_cast<int64_t>(inserted.size()), estimated, unpriced);
  return absl::OkStatus();
}

absl::Status UsageMetering::EnsurePartition(absl::Time t) {
  const absl::CivilMonth month = absl::ToCivilMonth(t, absl::UTCTimeZone());
  const std::string name = PartitionName(month);
  absl::MutexLock lock(&partitions_mu_);
  if (partitions_.contains(name)) return absl::OkStatus();
  // The name and bounds come from integers: nothing of a client's shapes this text.
  const std::string sql = absl::StrCat(
      "CREATE TABLE IF NOT EXISTS ", name, " PARTITION OF usage_events FOR VALUES FROM ('",
      PgTime(absl::FromCivil(month, absl::UTCTimeZone())), "') TO ('",
      PgTime(absl::FromCivil(month + 1, absl::UTCTimeZone())), "')");
  absl::Status created = db::Transact(*pool_, [&](pqxx::work& tx) -> absl::Status {
    tx.exec0("SET LOCAL client_min_messages = warning");
    tx.exec0(sql);
    return absl::OkStatus();
  });
  if (!created.ok()) {
    // Another replica may have created it at the same moment.
    absl::StatusOr<bool> exists = db::Transact(*pool_, [&](pqxx::work& tx) -> absl::StatusOr<bool> {
      return !tx.exec_params1("SELECT to_regclass($1) IS NULL", name)[0].as<bool>();
    });
    if (!exists.ok() || !*exists) return created;
  }
  partitions_.insert(name);
  return absl::OkStatus();
}

absl::Status UsageMetering::MaintainPartitions() {
  if (!pool_) return absl::OkStatus();
  const absl::CivilMonth now = absl::ToCivilMonth(clock_.Now(), absl::UTCTimeZone());
  for (int i = 0; i <= options_.months_ahead; ++i) {
    AIM_RETURN_IF_ERROR(EnsurePartition(absl::FromCivil(now + i, absl::UTCTimeZone())));
  }
  if (options_.rollup_retention_months > 0) {
    // Rollups outlive the events' partitions: whole days before the oldest month kept go.
    const std::string oldest_day =
        absl::FormatCivilTime(absl::CivilDay(now - (options_.rollup_retention_months - 1)));
    AIM_ASSIGN_OR_RETURN(
        const int64_t deleted, db::Transact(*pool_, [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
          return tx.exec_params0("DELETE FROM usage_daily WHERE day < $1::date", oldest_day)
              .affected_rows();
        }));
    if (deleted > 0) {
      log::Info("usage rollups past their retention deleted",
                {{"rows", absl::StrCat(deleted)}, {"before", oldest_day}});
    }
  }
  if (options_.retention_months <= 0) return absl::OkStatus();
  const std::string oldest_kept = PartitionName(now - (options_.retention_months - 1));
  absl::StatusOr<std::vector<std::string>> expired =
      db::Transact(*pool_, [&](pqxx::work& tx) -> absl::StatusOr<std::vector<std::string>> {
        std::vector<std::string> names;
        for (const pqxx::row& row :
             tx.exec("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                     "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'usage_events'")) {
          // usage_events_YYYYMM sorts by month. (Built in place from the field: moving a
          // std::string into the vector trips GCC 12's -Warray-bounds false positive at -O3.)
          const absl::string_view name(row[0].c_str(), row[0].size());
          if (name.size() == sizeof(kPartitionPrefix) - 1 + 6 && name < oldest_kept) {
            names.emplace_back(name);
          }
        }
        return names;
      });
  if (!expired.ok()) return expired.status();
  for (const std::string& name : *expired) {
    AIM_RETURN_IF_ERROR(db::Transact(*pool_, [&](pqxx::work& tx) -> absl::Status {
      tx.exec0(absl::StrCat("ALTER TABLE usage_events DETACH PARTITION ", name));
      tx.exec0(absl::StrCat("DROP TABLE ", name));
      return absl::OkStatus();
    }));
    {
      absl::MutexLock lock(&partitions_mu_);
      partitions_.erase(name);
    }
    log::Info("usage events past the retention dropped", {{"partition", name}});
  }
  return absl::OkStatus();
}

void UsageMetering::MaintenanceLoop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    mu_.Unlock();
    if (absl::Status s = MaintainPartitions(); !s.ok()) {
      log::Warn("usage_events partition maintenance failed; retrying in a minute",
                {{"error", s.ToString()}});
      mu_.Lock();
      auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopped), absl::Minutes(1));
      continue;
    }
    mu_.Lock();
    auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopped), absl::Hours(6));
  }
}

absl::Status NoAnalytics() {
  return absl::FailedPreconditionError("usage analytics are not served by this process");
}

absl::StatusOr<v1::QueryUsageResponse> UsageMetering::QueryUsage(const rpc::CallContext& ctx,
                                                                 const v1::QueryUsageRequest& req) {
  if (!analytics_) return NoAnalytics();
  AIM_ASSIGN_OR_RETURN(v1::QueryUsageResponse resp, analytics_->Query(ctx, req));
  if (!req.team().empty()) {
    v1::GetBalanceResponse b = ledger_.Balance(req.team());
    resp.set_month(b.month());
    *resp.mutable_balance() = std::move(*b.mutable_team());
  }
  return resp;
}

absl::StatusOr<v1::ListUsageEventsResponse> UsageMetering::ListUsageEvents(
    const rpc::CallContext& ctx, const v1::ListUsageEventsRequest& req) {
  if (!analytics_) return NoAnalytics();
  return analytics_->ListEvents(ctx, req);
}

void UsageMetering::ExportUsage(rpc::CallContext ctx, const v1::ExportUsageRequest& req,
                                rpc::StreamObserver<v1::ExportUsageChunk>& observer) {
  if (!analytics_) return observer.OnComplete(NoAnalytics());
  analytics_->Export(std::move(ctx), req, observer);
}

}  // namespace aimarket::usage
