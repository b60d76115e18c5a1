#include "services/edge/usage_routes.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "common/json/json_escape.h"
#include "common/money/money.h"
#include "common/status/status_macros.h"
#include "common/time/proto_time.h"
#include "services/edge/error_body.h"
#include "services/edge/rest.h"
#include "services/usage_metering/usage_csv.h"

namespace aimarket::edge {
namespace {

using rest::BadField;

constexpr size_t kMaxGroupBy = 9;

std::string Usd(int64_t nanos) { return money::Usd::Nanos(nanos).ToDecimal(); }

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

// What every usage route reads: the range, group_by (where it applies) and the format.
struct UsageParams {
  std::optional<absl::Time> start;
  std::optional<absl::Time> end;
  std::vector<std::string> group_by;
  bool csv = false;
};

absl::StatusOr<UsageParams> ReadParams(const HttpRequest& req, bool grouped) {
  UsageParams p;
  for (const char* name : {"start", "end"}) {
    std::optional<std::string> v = rest::Query(req, name);
    if (!v) continue;
    AIM_ASSIGN_OR_RETURN(const absl::Time t, ParseTimeParam(*v, name));
    (name[0] == 's' ? p.start : p.end) = t;
  }
  if (std::optional<std::string> g = rest::Query(req, "group_by")) {
    if (!grouped)
      return BadField("group_by", "Events are listed one by one: group_by does not apply.");
    if (!g->empty()) {
      for (absl::string_view d : absl::StrSplit(*g, ',')) {
        if (d.empty() || d.size() > 32 || p.group_by.size() == kMaxGroupBy) {
          return BadField("group_by",
                          "'group_by' is a comma-separated list of dimensions, such as day,model.");
        }
        p.group_by.emplace_back(d);
      }
    }
  }
  if (std::optional<std::string> f = rest::Query(req, "format")) {
    if (*f != "csv" && *f != "json") {
      return BadField("format", "'format' must be \"json\" or \"csv\".");
    }
    p.csv = *f == "csv";
  } else {
    p.csv = absl::StrContains(absl::AsciiStrToLower(req.Header("accept")), "text/csv");
  }
  return p;
}

template <typename Request>
void SetRange(const UsageParams& p, Request& r) {
  if (p.start) *r.mutable_start_time() = time::ToProto(*p.start);
  if (p.end) *r.mutable_end_time() = time::ToProto(*p.end);
}

std::string MeanOrNull(int64_t sum_us, int64_t n) {
  const std::string mean = usage::csv::MeanMillis(sum_us, n);
  return mean.empty() ? "null" : mean;
}

// The sums' members, without braces.
std::string TotalsMembers(const usage::v1::UsageTotals& t) {
  return absl::StrCat(R"("requests":)", t.requests(), R"(,"errors":)", t.errors(),
                      R"(,"cancelled":)", t.cancelled(), R"(,"prompt_tokens":)", t.prompt_tokens(),
                      R"(,"cached_tokens":)", t.cached_tokens(), R"(,"cache_write_tokens":)",
                      t.cache_write_tokens(), R"(,"completion_tokens":)", t.completion_tokens(),
                      R"(,"reasoning_tokens":)", t.reasoning_tokens(), R"(,"total_tokens":)",
                      t.prompt_tokens() + t.completion_tokens(), R"(,"cost_usd":)",
                      Usd(t.cost_nano_usd()), R"(,"avg_latency_ms":)",
                      MeanOrNull(t.latency_us(), t.requests()), R"(,"avg_ttft_ms":)",
                      MeanOrNull(t.ttft_us(), t.ttft_requests()));
}

std::string ReportJson(const usage::v1::QueryUsageResponse& r, const UsageParams& p,
                       absl::string_view team_id, const std::string& month) {
  std::string data;
  for (const usage::v1::UsageRow& row : r.rows()) {
    absl::StrAppend(&data, data.empty() ? "{" : ",{");
    for (int i = 0; i < r.columns_size() && i < row.dimensions_size(); ++i) {
      absl::StrAppend(&data, json::Quote(r.columns(i)), ":", json::Quote(row.dimensions(i)), ",");
    }
    absl::StrAppend(&data, TotalsMembers(row.totals()), "}");
  }
  std::string group_by;
  for (const std::string& g : p.group_by) {
    absl::StrAppend(&group_by, group_by.empty() ? "" : ",", json::Quote(g));
  }
  return absl::StrCat(
      R"({"object":"usage.report",)",
      team_id.empty() ? "" : absl::StrCat(R"("team_id":)", json::Quote(team_id), ","),
      R"("start":)", json::Quote(Rfc3339(time::FromProto(r.start_time()))), R"(,"end":)",
      json::Quote(Rfc3339(time::FromProto(r.end_time()))), R"(,"group_by":[)", group_by,
      R"(],"data":[)", data, R"(],"total":{)", TotalsMembers(r.total()), "}",
      month.empty() ? "" : absl::StrCat(R"(,"month":)", month), "}");
}

std::string EventJson(const usage::v1::Settlement& e) {
  const common::v1::Usage& u = e.usage();
  absl::string_view team = e.team();
  absl::ConsumePrefix(&team, "teams/");
  return absl::StrCat(
      R"({"id":)", json::Quote(e.request_id()), R"(,"object":"usage.event","start_time":)",
      json::Quote(Rfc3339(time::FromProto(e.start_time()))), R"(,"team_id":)", json::Quote(team),
      R"(,"key_id":)", json::Quote(e.key_id()), R"(,"member":)", json::Quote(e.member()),
      R"(,"cost_center":)", json::Quote(e.cost_center()), R"(,"kind":)", json::Quote(e.kind()),
      R"(,"model":)", json::Quote(e.model()), R"(,"provider":)", json::Quote(e.provider()),
      R"(,"upstream_model":)", json::Quote(e.upstream_model()), R"(,"outcome":)",
      json::Quote(e.outcome()), R"(,"http_status":)", e.http_status(), R"(,"attempts":)",
      e.attempts(), R"(,"usage":{"prompt_tokens":)", u.prompt_tokens(), R"(,"cached_tokens":)",
      u.cached_tokens(), R"(,"cache_write_tokens":)", u.cache_write_tokens(),
      R"(,"completion_tokens":)", u.completion_tokens(), R"(,"reasoning_tokens":)",
      u.reasoning_tokens(), R"(,"total_tokens":)", u.prompt_tokens() + u.completion_tokens(),
      R"(},"cost_usd":)", Usd(u.cost_nano_usd()), R"(,"reserved_usd":)", Usd(e.reserved_nano_usd()),
      R"(,"estimated":)", e.estimated() ? "true" : "false", R"(,"unpriced":)",
      e.unpriced() ? "true" : "false", R"(,"latency_ms":)", usage::csv::Millis(e.latency_us()),
      R"(,"ttft_ms":)", usage::csv::Millis(e.time_to_first_token_us()), R"(,"experiment":)",
      json::Quote(e.experiment()), R"(,"variant":)", json::Quote(e.variant()), "}");
}

// One CSV export in flight: usage-metering's chunks written as a chunked HTTP answer, as fast as
// the client reads (the export reads ctx.flow). Deletes itself when the export completes.
class CsvExport final : public rpc::StreamObserver<usage::v1::ExportUsageChunk> {
 public:
  CsvExport(usage::v1::ExportUsageRequest req, rpc::CallContext ctx, Reply reply,
            std::string filename)
      : req_(std::move(req)),
        ctx_(std::move(ctx)),
        reply_(std::move(reply)),
        filename_(std::move(filename)) {}

  void Start(usage::MeteringApi& metering) {
    // A client that goes away ends the export (and frees its connection); one that reads slowly
    // slows the cursor.
    reply_.writer().OnDisconnect([c = ctx_.cancellation] { c->Cancel(); });
    ctx_.flow = reply_.writer().Flow();
    metering.ExportUsage(ctx_, req_, *this);
  }

  void OnEvent(const usage::v1::ExportUsageChunk& chunk) override {
    if (!started_) {
      started_ = true;
      HttpResponse head;
      head.content_type = "text/csv; charset=utf-8";
      head.headers.emplace_back("content-disposition",
                                absl::StrCat("attachment; filename=\"", filename_, "\""));
      head.headers.emplace_back("cache-control", "no-store");
      reply_.StartStream(std::move(head));
    }
    reply_.Write(chunk.csv());
  }

  void OnComplete(const absl::Status& status) override {
    if (!started_) {
      reply_.Send(ErrorResponse(status.ok() ? absl::InternalError("empty export") : status,
                                reply_.request_id()));
    } else if (status.ok()) {
      reply_.End(200);
    } else {
      // CSV has no way to say it is incomplete: the connection is cut before the last chunk.
      reply_.Abort(ErrorResponse(status).status);
    }
    delete this;
  }

 private:
  const usage::v1::ExportUsageRequest req_;
  rpc::CallContext ctx_;
  Reply reply_;
  const std::string filename_;
  bool started_ = false;
};

void Export(usage::MeteringApi& metering, Exchange x, usage::v1::ExportUsageRequest req,
            std::string filename) {
  auto* e =
      new CsvExport(std::move(req), std::move(x.ctx), std::move(x.reply), std::move(filename));
  e->Start(metering);
}

// The team, as GET /v1/teams/{id} would answer it: a team that does not exist (or is another
// team's) is a 404 like the rest of the teams API, before anything is asked of usage-metering.
absl::StatusOr<team::v1::Team> TeamOf(team::TeamApi& team, const Exchange& x,
                                      const std::string& team_name) {
  team::v1::GetTeamRequest g;
  g.set_name(team_name);
  return team.GetTeam(x.ctx, g);
}

// GET /v1/teams/{team_id}/usage and GET /v1/usage (team_id "").
void Usage(team::TeamApi& team, usage::MeteringApi& metering, Exchange x,
           const std::string& team_id) {
  absl::StatusOr<UsageParams> p = ReadParams(x.request, /*grouped=*/true);
  if (!p.ok()) return x.reply.Send(ErrorResponse(p.status()));
  const std::string team_name = team_id.empty() ? "" : absl::StrCat("teams/", team_id);
  std::optional<team::v1::Team> t;
  if (!team_id.empty()) {
    absl::StatusOr<team::v1::Team> got = TeamOf(team, x, team_name);
    if (!got.ok()) return x.reply.Send(ErrorResponse(got.status(), x.reply.request_id()));
    t = *std::move(got);
  }
  if (p->csv) {
    usage::v1::ExportUsageRequest r;
    r.set_team(team_name);
    SetRange(*p, r);
    for (const std::string& g : p->group_by) r.add_group_by(g);
    return Export(metering, std::move(x), std::move(r), "usage.csv");
  }
  usage::v1::QueryUsageRequest r;
  r.set_team(team_name);
  SetRange(*p, r);
  for (const std::string& g : p->group_by) r.add_group_by(g);
  absl::StatusOr<usage::v1::QueryUsageResponse> resp = metering.QueryUsage(x.ctx, r);
  if (!resp.ok()) return x.reply.Send(ErrorResponse(resp.status(), x.reply.request_id()));
  // Remaining budget from the team's stored budget, as GET /v1/teams/{id} shows it.
  const std::string month =
      t ? rest::BalanceJson(resp->balance(), resp->month(), t->settings().monthly_budget_nano_usd())
        : "";
  x.reply.Send(rest::Json(200, ReportJson(*resp, *p, team_id, month)));
}

// GET /v1/teams/{team_id}/usage/events
void Events(team::TeamApi& team, usage::MeteringApi& metering, Exchange x) {
  absl::StatusOr<UsageParams> p = ReadParams(x.request, /*grouped=*/false);
  if (!p.ok()) return x.reply.Send(ErrorResponse(p.status()));
  const std::string team_name = absl::StrCat("teams/", x.params["team_id"]);
  if (absl::Status s = TeamOf(team, x, team_name).status(); !s.ok()) {
    return x.reply.Send(ErrorResponse(s, x.reply.request_id()));
  }
  if (p->csv) {
    usage::v1::ExportUsageRequest r;
    r.set_team(team_name);
    r.set_events(true);
    SetRange(*p, r);
    return Export(metering, std::move(x), std::move(r), "usage-events.csv");
  }
  usage::v1::ListUsageEventsRequest r;
  r.set_team(team_name);
  SetRange(*p, r);
  if (absl::Status s = rest::ReadPage(x.request, r); !s.ok()) {
    return x.reply.Send(ErrorResponse(s));
  }
  absl::StatusOr<usage::v1::ListUsageEventsResponse> resp = metering.ListUsageEvents(x.ctx, r);
  if (!resp.ok()) return x.reply.Send(ErrorResponse(resp.status(), x.reply.request_id()));
  x.reply.Send(rest::Json(
      200, rest::ListJson(resp->events(), !resp->next_page_token().empty(), EventJson,
                          [](const usage::v1::Settlement& e) { return e.request_id(); })));
}

}  // namespace

absl::StatusOr<absl::Time> ParseTimeParam(absl::string_view text, absl::string_view param) {
  absl::Time t;
  std::string err;
  if (text.size() == 10) {
    absl::CivilDay day;
    if (absl::ParseCivilTime(text, &day)) return absl::FromCivil(day, absl::UTCTimeZone());
  } else if (text.size() <= 40 && absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return t;
  }
  return BadField(param, absl::StrCat("'", param,
                                      "' must be a date (2026-11-01) or an RFC 3339 time "
                                      "(2026-11-01T00:00:00Z)."));
}

void AddUsageRoutes(RouteTable& table, team::TeamApi& team, usage::MeteringApi& metering) {
  // On a worker: a JSON answer blocks on the database; a CSV export only starts there.
  table.Add({.pattern = "/v1/teams/{team_id}/usage",
             .method = "GET",
             .name = "usage",
             .run = Route::Run::kWorker,
             .take = [&team, &metering](Exchange x) {
               const std::string team_id = x.params["team_id"];
               Usage(team, metering, std::move(x), team_id);
             }});
  table.Add({.pattern = "/v1/teams/{team_id}/usage/events",
             .method = "GET",
             .name = "usage",
             .run = Route::Run::kWorker,
             .take = [&team, &metering](Exchange x) { Events(team, metering, std::move(x)); }});
  table.Add({.pattern = "/v1/usage",
             .method = "GET",
             .name = "usage",
             .run = Route::Run::kWorker,
             .take = [&team, &metering](Exchange x) { Usage(team, metering, std::move(x), ""); }});
}

}  // namespace aimarket::edge
