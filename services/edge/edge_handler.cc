#include "services/edge/edge_handler.h"

#include <algorithm>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/json/json_escape.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/status/error.h"
#include "services/edge/chat_request_parser.h"
#include "services/edge/edge_metrics.h"
#include "services/edge/embeddings.h"
#include "services/edge/error_body.h"
#include "services/edge/rest.h"
#include "services/edge/team_routes.h"
#include "services/edge/usage_routes.h"

namespace aimarket::edge {
namespace {

using rest::Json;

std::string ModelJson(const router::v1::Model& m) {
  return absl::StrCat(R"({"id":)", json::Quote(m.id()), R"(,"object":"model","created":)",
                      m.created(), R"(,"owned_by":)", json::Quote(m.owned_by()), "}");
}

// One chat completion in flight: receives the router's events and writes them as one JSON body or
// as SSE, exactly as OpenAI does. Deletes itself when the router completes.
class ChatExchange final : public rpc::StreamObserver<common::v1::ChatEvent> {
 public:
  ChatExchange(common::v1::ChatRequest req, rpc::CallContext ctx, Reply reply)
      : req_(std::move(req)), ctx_(std::move(ctx)), reply_(std::move(reply)) {}

  const common::v1::ChatRequest& request() const { return req_; }
  const rpc::CallContext& context() const { return ctx_; }

  void OnEvent(const common::v1::ChatEvent& ev) override {
    upstream_us_ = ev.upstream_us();
    if (ev.has_rate_limits()) rate_limits_ = ev.rate_limits();
    if (!req_.stream()) {
      if (ev.completion()) body_ = ev.raw_json();
      if (ev.has_usage()) cost_nano_usd_ = ev.usage().cost_nano_usd();
      return;
    }
    if (!started_) StartSse();
    // The usage chunk was asked for by the gateway for metering; the client gets it only when it
    // asked too.
    if (ev.usage_only() && !req_.include_usage()) return;
    std::string out;
    out.reserve(ev.raw_json().size() + 8);
    out += "data: ";
    out += ev.raw_json();
    out += "\n\n";
    reply_.Write(std::move(out));
  }

  void OnComplete(const absl::Status& status) override {
    if (req_.stream() && started_) {
      int http_status = 200;
      if (status.ok()) {
        reply_.Write("data: [DONE]\n\n");
      } else {
        // Once the stream has started, an error can only go out as a last event.
        HttpResponse err = ErrorResponse(status, ctx_.request_id);
        reply_.Write(absl::StrCat("data: ", err.body, "\n\n"));
        http_status = err.status;
      }
      reply_.End(http_status);
    } else if (status.ok() && req_.stream()) {
      StartSse();
      reply_.Write("data: [DONE]\n\n");
      reply_.End(200);
    } else if (status.ok() && !body_.empty()) {
      HttpResponse r;
      r.body = std::move(body_);
      AddHeaders(r);
      // What the answer cost, as the router priced it from the upstream's usage.
      if (cost_nano_usd_) r.headers.push_back(rest::CostHeader(*cost_nano_usd_));
      reply_.Send(std::move(r), absl::Microseconds(upstream_us_));
    } else {
      HttpResponse r = ErrorResponse(
          status.ok() ? status::Error(absl::StatusCode::kInternal, "EMPTY_UPSTREAM_ANSWER",
                                      "The upstream sent no answer.")
                            .status()
                      : status,
          ctx_.request_id);
      AddHeaders(r);
      reply_.Send(std::move(r), absl::Microseconds(upstream_us_));
    }
    delete this;
  }

 private:
  void StartSse() {
    started_ = true;
    HttpResponse head;
    head.content_type = "text/event-stream; charset=utf-8";
    AddHeaders(head);
    head.headers.emplace_back("cache-control", "no-cache");
    reply_.StartStream(std::move(head), absl::Microseconds(upstream_us_));
  }

  void AddHeaders(HttpResponse& r) {
    if (rate_limits_) rest::AddRateLimitHeaders(*rate_limits_, r.headers);
  }

  common::v1::ChatRequest req_;
  rpc::CallContext ctx_;
  Reply reply_;
  int64_t upstream_us_ = 0;
  bool started_ = false;
  std::string body_;
  std::optional<int64_t> cost_nano_usd_;
  std::optional<common::v1::RateLimitStatus> rate_limits_;
};

}  // namespace

EdgeHandler::EdgeHandler(EdgeApis apis, std::function<absl::Status()> readiness)
    : apis_(apis),
      readiness_(std::move(readiness)),
      workers_(std::make_unique<thread::WorkerPool>(8)) {
  AddRoutes();
}

EdgeHandler::~EdgeHandler() = default;

void EdgeHandler::AddRoutes() {
  using Run = Route::Run;
  // The data plane first: the table is searched in order.
  routes_.Add({.pattern = "/v1/chat/completions",
               .method = "POST",
               .name = "chat_completions",
               .observe_overhead = true,
               .take = [this](Exchange x) { Chat(std::move(x), /*force_stream=*/false); }});
  routes_.Add({.pattern = "/v1/chat/completions/stream",
               .method = "POST",
               .name = "chat_completions",
               .observe_overhead = true,
               .take = [this](Exchange x) { Chat(std::move(x), /*force_stream=*/true); }});
  routes_.Add({.pattern = "/v1/embeddings",
               .method = "POST",
               .name = "embeddings",
               .take = [this](Exchange x) { Embeddings(std::move(x)); }});
  // The router may have to ask team-management about the key (a database query): on a worker.
  routes_.Add({.pattern = "/v1/models",
               .method = "GET",
               .name = "models",
               .run = Run::kWorker,
               .observe_overhead = true,
               .respond = [this](const Call& c) { return Models(c, ""); }});
  // Model names may hold "/" ("meta-llama/Llama-3.1-8B-Instruct").
  routes_.Add({.pattern = "/v1/models/{model...}",
               .method = "GET",
               .name = "models",
               .run = Run::kWorker,
               .observe_overhead = true,
               .respond = [this](const Call& c) { return Models(c, c.params["model"]); }});
  // team-management and usage-metering block on their database: never on an I/O thread.
  AddTeamRoutes(routes_, apis_.team, &apis_.metering);
  AddUsageRoutes(routes_, apis_.team, apis_.metering);
  routes_.Add(
      {.pattern = "/healthz", .method = "GET", .name = "healthz", .respond = [](const Call&) {
         return Json(200, R"({"status":"ok"})");
       }});
  routes_.Add(
      {.pattern = "/readyz", .method = "GET", .name = "readyz", .respond = [this](const Call&) {
         return Ready();
       }});
  routes_.Add(
      {.pattern = "/metrics", .method = "GET", .name = "metrics", .respond = [](const Call&) {
         HttpResponse r = Json(200, metrics::Serialize());
         r.content_type = "text/plain; version=0.0.4; charset=utf-8";
         return r;
       }});
}

void EdgeHandler::Handle(HttpRequest req, std::shared_ptr<ResponseWriter> writer) {
  const absl::Time start = absl::Now();
  rpc::CallContext ctx;
  ctx.request_id = rpc::NewRequestId();
  ctx.authorization = std::string(req.Header("authorization"));
  // Every /v1/... route answers under /api/v1/... too (the base URL earlier documents promised).
  if (absl::StartsWith(req.target, "/api/v1/") || req.target == "/api/v1" ||
      absl::StartsWith(req.target, "/api/v1?")) {
    req.target.erase(0, 4);
  }
  RouteTable::Found found = routes_.Find(req.method, req.Path());
  const Route* route = found.route;
  Reply reply(std::move(writer), ctx.request_id, start,
              route ? absl::string_view(route->name) : "unknown",
              route != nullptr && route->observe_overhead, req);
  // Two credentials: a front proxy may have checked the other one (it may keep the last where we
  // would keep the first), so neither is used.
  if (std::count_if(req.headers.begin(), req.headers.end(),
                    [](const auto& h) { return h.first == "authorization"; }) > 1) {
    return reply.Send(
        ErrorResponse(status::Error(absl::StatusCode::kInvalidArgument, "AMBIGUOUS_CREDENTIALS",
                                    "The request has more than one Authorization "
                                    "header; send exactly one.")));
  }
  if (route == nullptr) return reply.Send(RouteTable::Refusal(found, req));
  Exchange x{std::move(req), std::move(found.params), std::move(ctx), std::move(reply)};
  auto run = [route](Exchange x) {
    if (route->take) return route->take(std::move(x));
    x.reply.Send(route->respond(Call{x.request, x.params, x.ctx}));
  };
  if (route->run == Route::Run::kWorker) {
    workers_->Run([run, x = std::move(x)]() mutable { run(std::move(x)); });
    return;
  }
  run(std::move(x));
}

HttpResponse EdgeHandler::Ready() const {
  if (absl::Status ready = readiness_(); !ready.ok()) {
    return Json(
        503, absl::StrCat(R"({"status":"not ready","detail":)", json::Quote(ready.message()), "}"));
  }
  return Json(200, R"({"status":"ready"})");
}

void EdgeHandler::Chat(Exchange x, bool force_stream) {
  absl::StatusOr<common::v1::ChatRequest> parsed = ParseChatRequest(std::move(x.request.body));
  if (!parsed.ok()) return x.reply.Send(ErrorResponse(parsed.status(), x.ctx.request_id));
  if (force_stream) parsed->set_stream(true);
  parsed->set_request_id(x.ctx.request_id);
  parsed->set_client_request_id(std::string(x.request.Header("x-request-id")));
  // A client that goes away cancels the whole chain, up to the upstream connection.
  x.reply.writer().OnDisconnect([c = x.ctx.cancellation] { c->Cancel(); });
  // A client that reads slowly holds back the upstream read instead of filling memory.
  x.ctx.flow = x.reply.writer().Flow();
  auto* exchange = new ChatExchange(*std::move(parsed), std::move(x.ctx), std::move(x.reply));
  apis_.router.Chat(exchange->context(), exchange->request(), *exchange);
}

void EdgeHandler::Embeddings(Exchange x) {
  absl::StatusOr<common::v1::EmbedRequest> parsed = ParseEmbedRequest(std::move(x.request.body));
  if (!parsed.ok()) return x.reply.Send(ErrorResponse(parsed.status(), x.ctx.request_id));
  parsed->set_request_id(x.ctx.request_id);
  x.reply.writer().OnDisconnect([c = x.ctx.cancellation] { c->Cancel(); });
  // The request lives until the answer is written; the router answers on any thread.
  auto req = std::make_shared<common::v1::EmbedRequest>(*std::move(parsed));
  auto reply = std::make_shared<Reply>(std::move(x.reply));
  apis_.router.Embed(
      std::move(x.ctx), *req, [req, reply](absl::StatusOr<common::v1::EmbedResponse> resp) {
        HttpResponse r = resp.ok() ? Json(200, RenderEmbeddings(*resp, req->model(),
                                                                req->encoding_format() == "base64"))
                                   : ErrorResponse(resp.status(), reply->request_id());
        if (resp.ok() && resp->has_usage()) {
          r.headers.push_back(rest::CostHeader(resp->usage().cost_nano_usd()));
        }
        if (resp.ok() && resp->has_rate_limits()) {
          rest::AddRateLimitHeaders(resp->rate_limits(), r.headers);
        }
        // Excluding the wait for the upstream, as for chat.
        reply->Send(std::move(r), absl::Microseconds(resp.ok() ? resp->upstream_us() : 0));
      });
}

HttpResponse EdgeHandler::Models(const Call& c, const std::string& model) {
  router::v1::ListModelsRequest req;
  req.set_model(model);
  absl::StatusOr<router::v1::ListModelsResponse> list = apis_.router.ListModels(c.ctx, req);
  if (!list.ok()) return ErrorResponse(list.status(), c.ctx.request_id);
  if (!model.empty()) return Json(200, ModelJson(list->models(0)));
  std::string body = R"({"object":"list","data":[)";
  for (int i = 0; i < list->models_size(); ++i) {
    if (i > 0) body.push_back(',');
    body += ModelJson(list->models(i));
  }
  body += "]}";
  return Json(200, std::move(body));
}

}  // namespace aimarket::edge
