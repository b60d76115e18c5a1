#pragma once

// The edge's route table: which handler answers a method on a path template, on which thread,
// under which metric label. EdgeHandler fills it once; a resource is a file with its handlers and
// a few Add() rows (docs/development.md):
//
//   table.Add({.pattern = "/v1/teams/{team_id}/usage", .method = "GET", .name = "usage",
//              .run = Route::Run::kWorker,
//              .respond = [&](const Call& c) { return Usage(api, c.params["team_id"], ...); }});
//
// A template's segments are literal or captures: `{name}` takes one segment, `{name...}` (last
// only) the rest of the path. Captured values are percent-decoded and must be clean parameters
// (rest::IsCleanParam; one segment's may not hold "/"): a path whose capture is not names nothing,
// a 404. A path some route matches, with no route for its method, is a 405 naming the methods.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/rpc/call_context.h"
#include "services/edge/http.h"
#include "services/edge/reply.h"

namespace aimarket::edge {

// The values a template captured, by name.
class PathParams {
 public:
  // The value of `name`; "" when the template has no such capture.
  const std::string& operator[](absl::string_view name) const;
  void Add(std::string name, std::string value) {
    values_.emplace_back(std::move(name), std::move(value));
  }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

// A request as a `respond` handler sees it.
struct Call {
  const HttpRequest& request;
  const PathParams& params;
  const rpc::CallContext& ctx;
};

// A request handed whole to a `take` handler, which answers through `reply`.
struct Exchange {
  HttpRequest request;
  PathParams params;
  rpc::CallContext ctx;
  Reply reply;
};

struct Route {
  // Where `respond` or `take` runs.
  enum class Run {
    kIoThread,  // answers at once, or hands on (must not block)
    kWorker,    // may block (a database, a remote call): on the edge's worker pool
  };
  using Respond = std::function<HttpResponse(const Call&)>;
  using Take = std::function<void(Exchange)>;

  std::string pattern{};
  // The method it takes (GET also takes HEAD). Several routes may share a template.
  std::string method{};
  // The `route` label of aimarket_edge_requests_total and of the request log.
  std::string name{};
  Run run = Run::kIoThread;
  // Whether the answer's overhead is observed into aimarket_edge_overhead_seconds (routes of the
  // data plane; not probes, scrapes or management calls).
  bool observe_overhead = false;
  // Exactly one of: `respond`, a whole answer that the table's owner sends through a Reply; or
  // `take`, which owns the exchange and answers through its Reply (streams, and calls that
  // finish on another thread).
  Respond respond{};
  Take take{};
};

class RouteTable {
 public:
  struct Found {
    const Route* route = nullptr;
    PathParams params;
    // When `route` is null: the methods the path takes ("GET, POST"), or "" when no template
    // matches it (a 404).
    std::string allow;
  };

  // Routes are matched in the order added: add a literal path before a template that would also
  // match it.
  void Add(Route route);

  Found Find(absl::string_view method, absl::string_view path) const;

  // What answers a request no route takes: 404 naming the path or 405 naming the methods.
  static HttpResponse Refusal(const Found& found, const HttpRequest& request);

  // Answers `request` synchronously with its `respond` route, or the refusal (tests, fuzzers).
  HttpResponse RespondNow(const HttpRequest& request, const rpc::CallContext& ctx) const;

 private:
  struct Segment {
    std::string text;      // The literal, or the capture's name.
    bool capture = false;  // `{text}`
    bool rest = false;     // `{text...}`
  };
  struct Entry {
    Route route;
    std::vector<Segment> segments;
    bool literal = false;  // No captures: the path must equal the pattern.
  };
  static bool Matches(const Entry& e, const std::vector<absl::string_view>& parts,
                      PathParams* params);

  std::vector<Entry> routes_;
};

}  // namespace aimarket::edge
