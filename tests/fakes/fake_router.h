#pragma once

// A RouterApi whose behaviour each test scripts: Chat streams `events_to_send` events (raw_json
// "tok0", "tok1", ...) from a thread of its own, then `final_status`, or streams until cancelled;
// ListModels answers one model "m" after `list_delay`; Embed answers `embed_status` (by default a
// 429-style refusal with a Retry-After, so tests can check that errors keep their details).

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "services/router/router_api.h"

namespace aimarket::fakes {

class FakeRouter final : public router::RouterApi {
 public:
  FakeRouter();
  ~FakeRouter() override;  // Joins the streaming threads.

  void Chat(rpc::CallContext ctx, const common::v1::ChatRequest& req,
            rpc::StreamObserver<common::v1::ChatEvent>& observer) override;
  absl::StatusOr<router::v1::ListModelsResponse> ListModels(
      const rpc::CallContext& ctx, const router::v1::ListModelsRequest& req) override;
  void Embed(rpc::CallContext ctx, const common::v1::EmbedRequest& req,
             rpc::Done<common::v1::EmbedResponse> done) override;

  // Script (set before the calls).
  int events_to_send = 3;
  absl::Status final_status = absl::OkStatus();
  bool stream_until_cancelled = false;
  absl::Duration list_delay = absl::ZeroDuration();
  absl::Status embed_status;

  // What was seen.
  std::atomic<bool> saw_cancel{false};
  absl::Notification list_called;
  std::string seen_authorization;
  std::string seen_request_id;

 private:
  absl::Mutex mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aimarket::fakes
