#include "services/edge/edge_handler.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/json/json_escape.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/status/grpc_status.h"
#include "services/edge/edge_metrics.h"
#include "services/edge/error_body.h"

namespace aimarket::edge {
namespace {

constexpr absl::string_view kModelsPrefix = "/v1/models/";

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string ModelJson(const router::v1::Model& m) {
  return absl::StrCat(R"({"id":)", json::Quote(m.id()), R"(,"object":"model","created":)", m.created(),
                      R"(,"owned_by":)", json::Quote(m.owned_by()), "}");
}

HttpResponse MethodNotAllowed(const HttpRequest& req, absl::string_view allow) {
  HttpResponse r = ErrorResponse(
      status::Error(absl::StatusCode::kInvalidArgument, "METHOD_NOT_ALLOWED",
                    absl::StrCat("Method ", req.method, " is not allowed on ", req.Path(), "; use ", allow, "."))
          .HttpStatus(405));
  r.headers.emplace_back("allow", std::string(allow));
  return r;
}

}  // namespace

EdgeHandler::EdgeHandler(router::RouterApi& router, std::function<absl::Status()> readiness)
    : router_(router), readiness_(std::move(readiness)) {}

void EdgeHandler::Handle(HttpRequest req, std::shared_ptr<ResponseWriter> writer) {
  const absl::Time start = absl::Now();
  rpc::CallContext ctx;
  ctx.request_id = rpc::NewRequestId();
  ctx.authorization = std::string(req.Header("authorization"));
  const absl::string_view path = req.Path();
  const bool get = req.method == "GET" || req.method == "HEAD";

  absl::string_view route = "unknown";
  HttpResponse resp;
  if (path == "/healthz") {
    route = "healthz";
    resp = get ? Json(200, R"({"status":"ok"})") : MethodNotAllowed(req, "GET");
  } else if (path == "/readyz") {
    route = "readyz";
    if (!get) {
      resp = MethodNotAllowed(req, "GET");
    } else if (absl::Status ready = readiness_(); ready.ok()) {
      resp = Json(200, R"({"status":"ready"})");
    } else {
      resp = Json(503, absl::StrCat(R"({"status":"not ready","detail":)", json::Quote(ready.message()), "}"));
    }
  } else if (path == "/metrics") {
    route = "metrics";
    if (get) {
      resp = Json(200, metrics::Serialize());
      resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
    } else {
      resp = MethodNotAllowed(req, "GET");
    }
  } else if (path == "/v1/models" || absl::StartsWith(path, kModelsPrefix)) {
    route = "models";
    absl::string_view model = path == "/v1/models" ? absl::string_view() : path.substr(kModelsPrefix.size());
    if (!get) {
      resp = MethodNotAllowed(req, "GET");
    } else if (path != "/v1/models" && model.empty()) {
      resp = ErrorResponse(
          status::Error(absl::StatusCode::kNotFound, "", absl::StrCat("Invalid URL (", req.method, " ", path, ")")));
    } else {
      resp = Models(req, ctx, model);
    }
  } else {
    resp = ErrorResponse(
        status::Error(absl::StatusCode::kNotFound, "", absl::StrCat("Invalid URL (", req.method, " ", path, ")")));
  }

  resp.headers.emplace_back("x-request-id", ctx.request_id);
  const double overhead = absl::ToDoubleSeconds(absl::Now() - start);
  resp.headers.emplace_back("x-aimarket-overhead-ms", absl::StrFormat("%.3f", overhead * 1000));
  EdgeMetrics::Get().CountRequest(route, resp.status);
  if (route == "models") EdgeMetrics::Get().ObserveOverhead(overhead);
  const absl::string_view client_id = req.Header("x-request-id");
  log::Debug("http request", {{"request_id", ctx.request_id},
                              {"client_request_id", client_id},
                              {"method", req.method},
                              {"route", route},
                              {"status", resp.status}});
  writer->Send(std::move(resp));
}

HttpResponse EdgeHandler::Models(const HttpRequest&, const rpc::CallContext& ctx, absl::string_view model) {
  router::v1::ListModelsRequest req;
  req.set_model(std::string(model));
  absl::StatusOr<router::v1::ListModelsResponse> list = router_.ListModels(ctx, req);
  if (!list.ok()) return ErrorResponse(list.status());
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
