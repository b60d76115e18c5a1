#include "services/edge/reply.h"

#include "common/log/log.h"
#include "services/edge/edge_metrics.h"
#include "services/edge/rest.h"

namespace aimarket::edge {

Reply::Reply(std::shared_ptr<ResponseWriter> writer, std::string request_id, absl::Time start,
             absl::string_view route, bool observe_overhead, const HttpRequest& request)
    : writer_(std::move(writer)),
      request_id_(std::move(request_id)),
      start_(start),
      route_(route),
      observe_overhead_(observe_overhead),
      method_(request.method),
      client_request_id_(request.Header("x-request-id")) {}

void Reply::AddHeaders(HttpResponse& r, absl::Duration upstream) {
  r.headers.emplace_back("x-request-id", request_id_);
  r.headers.push_back(rest::OverheadHeader(start_, upstream, observe_overhead_));
}

void Reply::Count(int status) {
  EdgeMetrics::Get().CountRequest(route_, status);
  if (log::Enabled(log::Level::kDebug)) {
    log::Debug("http request", {{"request_id", request_id_},
                                {"client_request_id", client_request_id_},
                                {"method", method_},
                                {"route", route_},
                                {"status", status}});
  }
}

void Reply::Send(HttpResponse response, absl::Duration upstream) {
  AddHeaders(response, upstream);
  Count(response.status);
  writer_->Send(std::move(response));
}

void Reply::StartStream(HttpResponse head, absl::Duration upstream) {
  AddHeaders(head, upstream);
  writer_->StartStream(std::move(head));
}

void Reply::End(int status) {
  writer_->End();
  Count(status);
}

void Reply::Abort(int status) {
  writer_->Abort();
  Count(status);
}

}  // namespace aimarket::edge
