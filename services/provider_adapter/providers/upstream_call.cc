#include "services/provider_adapter/providers/upstream_call.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/io/loop.h"
#include "common/status/error.h"
#include "services/provider_adapter/http/sse_parser.h"
#include "services/provider_adapter/providers/translate_util.h"

namespace aimarket::provider {

absl::Status Translator::OnHttpError(int http_status, absl::string_view body,
                                     absl::string_view retry_after) {
  return UpstreamFailure(provider_, http_status, ErrorMessage(body), retry_after);
}
namespace {

constexpr size_t kMaxBody = 16u << 20;

class UpstreamCall final : public HttpCallHandler, public EventSink {
 public:
  UpstreamCall(const rpc::CallContext& ctx, std::unique_ptr<Translator> translator, Framing framing,
               bool stream, rpc::StreamObserver<common::v1::ChatEvent>& observer)
      : cancellation_(ctx.cancellation),
        flow_(ctx.flow),
        translator_(std::move(translator)),
        framing_(framing),
        stream_(stream),
        observer_(observer),
        parser_([this](absl::string_view name, absl::string_view data) { Piece(name, data); }) {}

  void Start(HttpClient& http, HttpCallRequest req) {
    // OnComplete may run on another thread before Start returns; it waits for this lock.
    absl::MutexLock lock(&start_mu_);
    sent_ = absl::Now();
    call_ = http.Start(std::move(req), *this);
    cancel_id_ = cancellation_->OnCancel([call = call_] { call->Cancel(); });
  }

  void OnHeaders(int status,
                 const std::vector<std::pair<std::string, std::string>>& headers) override {
    status_ = status;
    for (const auto& [k, v] : headers) {
      if (k == "retry-after") retry_after_ = v;
    }
  }

  void OnData(absl::string_view data) override {
    if (!Ok() || !stream_) {
      if (body_.size() < kMaxBody)
        body_.append(data.data(), std::min(data.size(), kMaxBody - body_.size()));
      return;
    }
    if (!error_.ok()) return;
    if (framing_ == Framing::kSse) {
      parser_.Feed(data);
      if (parser_.pending() > kMaxBody)
        Fail(provider::BadResponse("", "a stream event larger than 16 MiB"));
      HoldBackIfFull();
      return;
    }
    // NDJSON: complete lines only, so that neither an object nor a UTF-8 character is cut.
    line_.append(data.data(), data.size());
    if (line_.size() > kMaxBody) {
      Fail(provider::BadResponse("", "a stream line larger than 16 MiB"));
      line_.clear();
      return;
    }
    size_t start = 0;
    for (size_t nl = line_.find('\n'); nl != std::string::npos; nl = line_.find('\n', start)) {
      Line(absl::string_view(line_).substr(start, nl - start));
      start = nl + 1;
      if (!error_.ok()) break;
    }
    line_.erase(0, start);
    HoldBackIfFull();
  }

  void OnComplete(const absl::Status& transport) override {
    { absl::MutexLock lock(&start_mu_); }
    // After an error of the stream itself the call was cancelled: that error is the result.
    absl::Status result = aborted_ ? error_ : transport;
    if (result.ok()) {
      if (!Ok()) {
        result = translator_->OnHttpError(status_, body_, retry_after_);
      } else if (stream_) {
        std::string unframed;
        if (framing_ == Framing::kSse) {
          unframed = parser_.Finish();
        } else if (error_.ok() && !line_.empty()) {
          Line(line_);
        }
        result = error_.ok() ? translator_->OnEnd(unframed, *this) : error_;
      } else {
        result = translator_->OnBody(std::move(body_), *this);
      }
    }
    cancellation_->RemoveCallback(cancel_id_);
    rpc::StreamObserver<common::v1::ChatEvent>& observer = observer_;
    delete this;
    observer.OnComplete(result);
  }

  void Emit(common::v1::ChatEvent event) override {
    event.set_upstream_us(absl::ToInt64Microseconds(absl::Now() - sent_));
    observer_.OnEvent(event);
  }

 private:
  bool Ok() const { return status_ >= 200 && status_ < 300; }

  void Piece(absl::string_view name, absl::string_view data) {
    if (!error_.ok()) return;
    if (absl::Status s = translator_->OnEvent(name, data, *this); !s.ok()) Fail(std::move(s));
  }

  // The stream failed (an error event, a bad event, a limit): the upstream connection is closed at
  // once, so the caller hears of it now rather than when the upstream ends the stream.
  void Fail(absl::Status s) {
    error_ = std::move(s);
    aborted_ = true;
    absl::MutexLock lock(&start_mu_);
    if (call_ != nullptr) call_->Cancel();
  }

  // Backpressure: the consumer of the events (the client's connection, a gRPC stream) holds as
  // much as it will take, so the upstream's body is not read on until it has room again.
  void HoldBackIfFull() {
    if (flow_ == nullptr || !flow_->Full()) return;
    std::shared_ptr<HttpCall> call;
    {
      absl::MutexLock lock(&start_mu_);
      call = call_;
    }
    if (call == nullptr) return;
    call->Pause();
    flow_->WhenReady([call] { call->Resume(); });
  }

  void Line(absl::string_view line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (!line.empty()) Piece("", line);
  }

  absl::Mutex start_mu_;
  std::shared_ptr<rpc::Cancellation> cancellation_;
  const std::shared_ptr<rpc::FlowControl> flow_;
  std::unique_ptr<Translator> translator_;
  const Framing framing_;
  const bool stream_;
  rpc::StreamObserver<common::v1::ChatEvent>& observer_;
  SseParser parser_;
  std::shared_ptr<HttpCall> call_;
  int cancel_id_ = 0;
  absl::Time sent_;
  int status_ = 0;
  std::string retry_after_;
  std::string body_;
  std::string line_;
  absl::Status error_;
  bool aborted_ = false;
};

class BlockingCall final : public HttpCallHandler {
 public:
  void OnHeaders(int status,
                 const std::vector<std::pair<std::string, std::string>>& headers) override {
    answer.status = status;
    for (const auto& [k, v] : headers) {
      if (k == "retry-after") answer.retry_after = v;
    }
  }
  void OnData(absl::string_view data) override {
    if (answer.body.size() < kMaxBody)
      answer.body.append(data.data(), std::min(data.size(), kMaxBody - answer.body.size()));
  }
  void OnComplete(const absl::Status& s) override {
    status = s;
    answer.elapsed = absl::Now() - start;
    done.Notify();
  }
  const absl::Time start = absl::Now();
  UpstreamAnswer answer;
  absl::Status status;
  absl::Notification done;
};

}  // namespace

std::vector<absl::StatusOr<UpstreamAnswer>> CallUpstreamAll(HttpClient& http,
                                                            std::vector<HttpCallRequest> requests,
                                                            const rpc::CallContext& ctx) {
  std::vector<absl::StatusOr<UpstreamAnswer>> out;
  if (io::CurrentLoop() != nullptr) {
    out.assign(requests.size(), absl::FailedPreconditionError(
                                    "a blocking upstream call was made on an event-loop thread"));
    return out;
  }
  std::vector<std::unique_ptr<BlockingCall>> calls;
  std::vector<std::shared_ptr<HttpCall>> handles;
  for (HttpCallRequest& r : requests) {
    calls.push_back(std::make_unique<BlockingCall>());
    handles.push_back(http.Start(std::move(r), *calls.back()));
  }
  const int cancel_id = ctx.cancellation->OnCancel([handles] {
    for (const auto& h : handles) h->Cancel();
  });
  for (const auto& c : calls) c->done.WaitForNotification();
  ctx.cancellation->RemoveCallback(cancel_id);
  for (const auto& c : calls) {
    if (c->status.ok()) {
      out.push_back(std::move(c->answer));
    } else {
      out.push_back(c->status);
    }
  }
  return out;
}

absl::StatusOr<UpstreamAnswer> CallUpstream(HttpClient& http, HttpCallRequest request,
                                            const rpc::CallContext& ctx) {
  std::vector<HttpCallRequest> one;
  one.push_back(std::move(request));
  return std::move(CallUpstreamAll(http, std::move(one), ctx).front());
}

void StartUpstreamCall(HttpClient& http, HttpCallRequest request, const rpc::CallContext& ctx,
                       std::unique_ptr<Translator> translator, Framing framing, bool stream,
                       rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  auto* call = new UpstreamCall(ctx, std::move(translator), framing, stream, observer);
  call->Start(http, std::move(request));
}

}  // namespace aimarket::provider
