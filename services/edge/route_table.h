#pragma once

// The edge's route table: which handler answers a path, with which method, on which thread, under
// which metric label. EdgeHandler fills it once; a new resource is one file with its handler and
// one Add() (docs/development.md).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/rpc/call_context.h"
#include "services/edge/http.h"

namespace aimarket::edge {

// One request on its way to its handler.
struct Exchange {
  HttpRequest request;
  std::shared_ptr<ResponseWriter> writer;
  rpc::CallContext ctx;
  absl::Time start;
};

struct Route {
  enum class Match {
    kExact,    // the path itself
    kSubtree,  // the path, or anything under path + "/"
  };
  enum class Run {
    kIoThread,  // answers at once (must not block)
    kWorker,    // may block (a database, a remote call): on the edge's worker pool
  };
  using Respond = std::function<HttpResponse(const HttpRequest&, const rpc::CallContext&)>;
  using Take = std::function<void(Exchange)>;

  std::string path{};
  Match match = Match::kExact;
  // The one method it takes (GET also takes HEAD); another is a 405 naming it. Empty: the
  // handler checks (a subtree with several resources).
  std::string method{};
  // The `route` label of aimarket_edge_requests_total and of the request log.
  std::string name{};
  Run run = Run::kIoThread;
  // Whether the answer's overhead is observed into aimarket_edge_overhead_seconds (routes of the
  // data plane; not probes, scrapes or management calls).
  bool observe_overhead = false;
  // Exactly one of: `respond`, whose answer the table's owner sends with the request id and
  // overhead headers, counted and logged; or `take`, which owns the exchange and answers, counts
  // and logs it itself (streams, and calls that finish on another thread).
  Respond respond{};
  Take take{};
};

class RouteTable {
 public:
  // Routes are matched in the order added: add a more specific path before a subtree holding it.
  void Add(Route route) { routes_.push_back(std::move(route)); }

  // The route for `path`, or nullptr (a 404).
  const Route* Find(absl::string_view path) const;

  // Whether `route` takes `method`.
  static bool Allows(const Route& route, absl::string_view method);

 private:
  std::vector<Route> routes_;
};

}  // namespace aimarket::edge
