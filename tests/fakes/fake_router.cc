#include "tests/fakes/fake_router.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status/error.h"

namespace aimarket::fakes {

FakeRouter::FakeRouter()
    : embed_status(
          status::Error(absl::StatusCode::kResourceExhausted, "TEAM_RATE_LIMITED", "slow down")
              .RetryAfter(absl::Seconds(7))
              .Param("model")) {}

FakeRouter::~FakeRouter() {
  absl::MutexLock lock(&mu_);
  for (std::thread& t : threads_) t.join();
}

void FakeRouter::Chat(rpc::CallContext ctx, const common::v1::ChatRequest& req,
                      rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  seen_authorization = ctx.authorization;
  seen_request_id = ctx.request_id;
  absl::MutexLock lock(&mu_);
  threads_.emplace_back([this, ctx, model = req.model(), &observer] {
    for (int i = 0; stream_until_cancelled || i < events_to_send; ++i) {
      if (ctx.cancellation->IsCancelled()) {
        saw_cancel = true;
        observer.OnComplete(absl::CancelledError("client went away"));
        return;
      }
      common::v1::ChatEvent ev;
      ev.set_id("chatcmpl-1");
      ev.set_model(model);
      ev.set_raw_json(absl::StrCat("tok", i));
      observer.OnEvent(ev);
      absl::SleepFor(absl::Milliseconds(stream_until_cancelled ? 20 : 1));
    }
    observer.OnComplete(final_status);
  });
}

absl::StatusOr<router::v1::ListModelsResponse> FakeRouter::ListModels(
    const rpc::CallContext& ctx, const router::v1::ListModelsRequest&) {
  seen_authorization = ctx.authorization;
  if (!list_called.HasBeenNotified()) list_called.Notify();
  absl::SleepFor(list_delay);
  router::v1::ListModelsResponse resp;
  resp.add_models()->set_id("m");
  return resp;
}

void FakeRouter::Embed(rpc::CallContext, const common::v1::EmbedRequest& req,
                       rpc::Done<common::v1::EmbedResponse> done) {
  if (!embed_status.ok()) return done(embed_status);
  common::v1::EmbedResponse resp;
  resp.set_model(req.model());
  done(std::move(resp));
}

}  // namespace aimarket::fakes
