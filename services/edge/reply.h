#pragma once

// How every route answers, whole or streamed: the request id and overhead headers added, the
// answer counted under the route's name (aimarket_edge_requests_total) and logged, once, whatever
// the handler and whichever thread it answers on.
//
//   reply.Send(rest::Json(200, body));                    // whole
//   reply.StartStream(head); reply.Write(chunk); ...; reply.End(200);   // streamed

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/edge/http.h"

namespace aimarket::edge {

class Reply {
 public:
  // `route` (its metric label) must outlive the reply; `observe_overhead` as Route's.
  Reply(std::shared_ptr<ResponseWriter> writer, std::string request_id, absl::Time start,
        absl::string_view route, bool observe_overhead, const HttpRequest& request);
  Reply(Reply&&) = default;
  Reply& operator=(Reply&&) = delete;

  // A whole answer. `upstream`: the time spent waiting for an upstream, left out of the
  // overhead header.
  void Send(HttpResponse response, absl::Duration upstream = absl::ZeroDuration());
  // Starts a streamed answer with `head`'s status, headers and content type.
  void StartStream(HttpResponse head, absl::Duration upstream = absl::ZeroDuration());
  // Appends to a started stream; false once the client is gone.
  bool Write(std::string data) { return writer_->Write(std::move(data)); }
  // Ends a started stream; `status` is what is counted and logged (a stream that began 200 and
  // ended with an error event counts as that error's status).
  void End(int status);
  // Cuts a started stream (its client sees it incomplete), counted and logged as `status`: for
  // a stream whose format has no way to carry an error (CSV).
  void Abort(int status);

  const std::string& request_id() const { return request_id_; }
  absl::Time start() const { return start_; }
  // For OnDisconnect and Flow.
  ResponseWriter& writer() { return *writer_; }

 private:
  void AddHeaders(HttpResponse& r, absl::Duration upstream);
  void Count(int status);

  std::shared_ptr<ResponseWriter> writer_;
  std::string request_id_;
  absl::Time start_;
  absl::string_view route_;
  bool observe_overhead_;
  std::string method_;
  std::string client_request_id_;
};

}  // namespace aimarket::edge
