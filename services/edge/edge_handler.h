#pragma once

// The edge's routes: HTTP in, calls to the router (or team-management, usage-metering) out, and
// nothing more. Only the edge knows HTTP. The table (route_table.h) is filled in the constructor:
//
//   GET /healthz            liveness: 200 while the process runs
//   GET /readyz             readiness: 200 when every service this process needs is SERVING
//   GET /metrics            Prometheus exposition of the process
//   POST /v1/chat/completions         OpenAI chat completions, JSON or SSE (`stream`)
//   POST /v1/chat/completions/stream  the same, always streamed
//   POST /v1/embeddings     OpenAI embeddings (float or base64), on a worker thread: the call
//                           blocks until the upstream answers
//   GET /v1/models          OpenAI's model list, from the router's catalog
//   GET /v1/models/{model}  one model object
//   /v1/teams..., /v1/usage  the teams API and usage analytics (team_routes.h), on worker threads
// Anything else: 404 (unknown path) or 405 (known path, wrong method) in OpenAI's error format.

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/thread/worker_pool.h"
#include "services/edge/http.h"
#include "services/edge/route_table.h"
#include "services/router/router_api.h"
#include "services/team_management/team_api.h"
#include "services/usage_metering/metering_api.h"

namespace aimarket::edge {

// The services the edge calls, in this process or as gRPC clients of peers. Not owned; they
// outlive the handler.
struct EdgeApis {
  router::RouterApi& router;
  team::TeamApi& team;
  usage::MeteringApi& metering;
};

// Thread-safe; called on the HTTP server's I/O threads.
class EdgeHandler {
 public:
  // `readiness` returns OK when the process can serve traffic, else a status whose message says
  // what is missing.
  EdgeHandler(EdgeApis apis, std::function<absl::Status()> readiness);
  // Waits for the embeddings calls in flight.
  ~EdgeHandler();

  void Handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer);

 private:
  void AddRoutes();

  // The handlers of the data plane and the probes.
  void Chat(Exchange x, bool force_stream);
  void Embeddings(Exchange x);
  // The model list, or one model when `model` is given.
  HttpResponse Models(const Call& call, const std::string& model);
  HttpResponse Ready() const;

  const EdgeApis apis_;
  std::function<absl::Status()> readiness_;
  std::unique_ptr<thread::WorkerPool> workers_;
  RouteTable routes_;
};

}  // namespace aimarket::edge
