#include "services/usage_metering/usage_metering.h"

#include <google/protobuf/util/time_util.h>

#include <pqxx/pqxx>
#include <pqxx/tablewriter>
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
#include "common/status/status_macros.h"
#include "services/usage_metering/metering_metrics.h"

namespace aimarket::usage {
namespace {

constexpr char kPartitionPrefix[] = "usage_events_";
constexpr size_t kMaxIdBytes = 256;

absl::Status NotBuiltYet(absl::string_view rpc) {
  return absl::UnimplementedError(absl::StrCat("MeteringService.", rpc, " is not implemented yet"));
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(google::protobuf::util::TimeUtil::TimestampToMicroseconds(t));
}

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
      s.outcome() != "cut") {
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
                                        " FROM usage_events_staging ON CONFLICT DO NOTHING"));
  }();
  return *sql;
}

}  // namespace

UsageMetering::UsageMetering(std::unique_ptr<db::ConnectionPool> pool, Options options,
                             time::Clock& clock)
    : pool_(std::move(pool)), options_(options), clock_(clock) {
  if (!pool_) return;
  for (int i = 0; i < std::max(1, options_.writer_threads); ++i) {
    writers_.emplace_back([this] { WriteLoop(); });
  }
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
}

UsageMetering::~UsageMetering() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : writers_) t.join();
  if (maintenance_.joinable()) maintenance_.join();
  // What no writer took: the routers keep it and send it again.
  std::deque<Queued> left;
  {
    absl::MutexLock lock(&mu_);
    left.swap(queue_);
  }
  for (Queued& q : left) q.done(absl::UnavailableError("usage-metering is shutting down"));
}

void UsageMetering::Admit(const rpc::CallContext&, const v1::AdmitRequest& req,
                          rpc::Done<v1::AdmitResponse> done) {
  if (req.request_id().empty() || req.request_id().size() > kMaxIdBytes) {
    MeteringMetrics::Get().Admitted(false);
    return done(absl::InvalidArgumentError("AdmitRequest.request_id is required"));
  }
  // Every request is admitted for now (budgets and rate limits come with the budget issue); its
  // worst case is held as a reservation until it is settled.
  int64_t open = 0;
  {
    const absl::Time now = clock_.Now();
    absl::MutexLock lock(&reservations_mu_);
    reservations_[req.request_id()] = Reservation{req.reserve_nano_usd(), now};
    // A router that dies leaves its reservations behind: forget them after their time.
    if (++admits_since_sweep_ >= 10'000) {
      admits_since_sweep_ = 0;
      absl::erase_if(reservations_, [&](const auto& entry) {
        return now - entry.second.since > options_.reservation_ttl;
      });
    }
    open = static_cast<int64_t>(reservations_.size());
  }
  MeteringMetrics::Get().Admitted(true);
  MeteringMetrics::Get().OpenReservations(open);
  v1::AdmitResponse resp;
  resp.set_reservation_id(req.request_id());
  done(std::move(resp));
}

void UsageMetering::Settle(const rpc::CallContext&, const v1::SettleRequest& req,
                           rpc::Done<v1::SettleResponse> done) {
  if (!pool_) {
    return done(absl::FailedPreconditionError("usage-metering has no database in this process"));
  }
  if (req.settlements().empty()) return done(v1::SettleResponse());
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
    if (written.ok()) {
      int64_t open = 0;
      {
        absl::MutexLock lock(&reservations_mu_);
        for (const v1::Settlement* s : rows) reservations_.erase(s->reservation_id());
        open = static_cast<int64_t>(reservations_.size());
      }
      MeteringMetrics::Get().OpenReservations(open);
    } else {
      log::Warn("usage events not written; the routers will retry",
                {{"settlements", absl::StrCat(rows.size())}, {"error", written.ToString()}});
    }
    for (Queued& q : batch) {
      if (written.ok()) {
        q.done(v1::SettleResponse());
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
    const absl::CivilMonth m = absl::ToCivilMonth(ToTime(s->start_time()), absl::UTCTimeZone());
    if (months.insert(m.year() * 12 + m.month()).second) {
      AIM_RETURN_IF_ERROR(EnsurePartition(ToTime(s->start_time())));
    }
  }
  int64_t inserted = 0;
  absl::Status status = db::Transact(*pool_, [&](pqxx::work& tx) -> absl::Status {
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
    inserted = tx.exec0(InsertFromStaging()).affected_rows();
    return absl::OkStatus();
  });
  const absl::Time end = absl::Now();
  MeteringMetrics::Get().Write(status.ok(), static_cast<int64_t>(valid.size()),
                               absl::ToDoubleSeconds(end - start));
  if (!status.ok()) return status;
  int64_t estimated = 0;
  int64_t unpriced = 0;
  for (const v1::Settlement* s : valid) {
    estimated += s->estimated() ? 1 : 0;
    unpriced += s->unpriced() ? 1 : 0;
    const absl::Time ended = ToTime(s->start_time()) + absl::Microseconds(s->latency_us());
    MeteringMetrics::Get().IngestLag(absl::ToDoubleSeconds(end - ended));
  }
  MeteringMetrics::Get().Written(inserted, estimated, unpriced);
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

int64_t UsageMetering::open_reservations() {
  absl::MutexLock lock(&reservations_mu_);
  return static_cast<int64_t>(reservations_.size());
}

absl::StatusOr<v1::QueryUsageResponse> UsageMetering::QueryUsage(const rpc::CallContext&,
                                                                 const v1::QueryUsageRequest&) {
  return NotBuiltYet("QueryUsage");
}

void UsageMetering::ExportUsage(rpc::CallContext, const v1::ExportUsageRequest&,
                                rpc::StreamObserver<v1::ExportUsageChunk>& observer) {
  observer.OnComplete(NotBuiltYet("ExportUsage"));
}

}  // namespace aimarket::usage
