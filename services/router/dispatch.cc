#include "services/router/dispatch.h"


#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "common/status/error.h"
#include "common/status/http_status.h"
#include "common/status/reasons.h"
#include "common/time/proto_time.h"
#include "services/router/reservation_book.h"
#include "services/router/routing_rules.h"

namespace aimarket::router {

int64_t EstimatePromptTokens(const common::v1::ChatRequest& req) {
  int64_t bytes = 0;
  int64_t images = 0;
  for (const common::v1::ChatMessage& m : req.messages()) {
    bytes +=
        m.content().size() + m.name().size() + m.refusal().size() + m.reasoning_content().size();
    for (const common::v1::ContentPart& p : m.parts()) {
      if (p.has_image_url()) {
        ++images;
      } else {
        bytes += p.text().size();
      }
    }
    for (const common::v1::ToolCall& c : m.tool_calls())
      bytes += c.name().size() + c.arguments().size();
  }
  for (const common::v1::Tool& t : req.tools()) {
    bytes += t.name().size() + t.description().size() + t.parameters_json().size();
  }
  bytes += req.response_format().schema_json().size();
  return (bytes + kPromptBytesPerToken - 1) / kPromptBytesPerToken + images * kTokensPerImage +
         req.messages_size() * kTokensPerMessage;
}

int64_t EstimatePromptTokens(const common::v1::EmbedRequest& req) {
  int64_t bytes = 0;
  for (const std::string& input : req.input()) bytes += input.size();
  return (bytes + kPromptBytesPerToken - 1) / kPromptBytesPerToken;
}

namespace {

// To microseconds, as the usage event keeps it.
// The most output `d` can produce for `ticket`.
int64_t MaxOutput(const Ticket& ticket, const pricing::Prices& prices) {
  if (!ticket.max_output_tokens) return prices.max_output_tokens;
  return std::min(*ticket.max_output_tokens, std::max(prices.max_output_tokens, int64_t{0}));
}

// A refusal (a limit, a budget) goes to the client as metering says it; metering itself failing
// (unreachable, timed out, a peer's words) is admission failing closed, in the gateway's words.
absl::Status AdmissionFailure(const absl::Status& s) {
  if (status::GetErrorInfo(s).has_value() || s.code() == absl::StatusCode::kCancelled) return s;
  // Once a second at most: while metering is down every request comes here.
  static std::atomic<int64_t> last_logged{0};
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  if (int64_t last = last_logged.load();
      now > last && last_logged.compare_exchange_strong(last, now)) {
    log::Warn("usage-metering could not admit a request; refusing requests until it can",
              {{"code", absl::StatusCodeToString(s.code())}, {"error", std::string(s.message())}});
  }
  return status::Error(absl::StatusCode::kUnavailable, "METERING_UNAVAILABLE",
                       "The gateway cannot admit requests right now; retry shortly.")
      .RetryAfter(absl::Seconds(1));
}

}  // namespace

money::Usd WorstCaseCost(const Ticket& ticket) {
  money::Usd worst;
  for (const Deployment& d : ticket.route->deployments) {
    if (!d.prices) continue;
    worst = std::max(
        worst, pricing::WorstCase(ticket.prompt_tokens, MaxOutput(ticket, *d.prices), *d.prices));
  }
  return worst;
}

int64_t WorstCaseTokens(const Ticket& ticket) {
  int64_t output = ticket.max_output_tokens.value_or(0);
  for (const Deployment& d : ticket.route->deployments) {
    output = std::max(
        output, d.prices ? MaxOutput(ticket, *d.prices)
                         : ticket.max_output_tokens.value_or(pricing::kDefaultMaxOutputTokens));
  }
  return ticket.prompt_tokens + output;
}

void MeteringAdmission::Admit(const rpc::CallContext& ctx, const Ticket& ticket,
                              rpc::Done<Admitted> done) {
  const common::v1::Principal& p = *ticket.principal;
  if (p.settings().monthly_budget_nano_usd() > 0 || p.key_limits().monthly_budget_nano_usd() > 0) {
    for (const Deployment& d : ticket.route->deployments) {
      if (d.prices) continue;
      return done(
          status::Error(absl::StatusCode::kNotFound, "MODEL_PRICE_UNKNOWN",
                        absl::StrCat("The model '", ticket.route->name,
                                     "' has no known price, so its cost cannot be held against "
                                     "the monthly budget of this team or key. Ask the gateway's "
                                     "operator to set its prices."))
              .Param("model"));
    }
  }
  auto req = std::make_shared<usage::v1::AdmitRequest>();
  req->set_request_id(ticket.request_id);
  req->set_team(p.team());
  // The limits that apply (not the model access list: that was checked already).
  common::v1::TeamSettings& limits = *req->mutable_settings();
  limits.set_monthly_budget_nano_usd(p.settings().monthly_budget_nano_usd());
  if (p.settings().has_rate_limits()) *limits.mutable_rate_limits() = p.settings().rate_limits();
  if (p.settings().budget_alert_percents_size() > 0) {
    *limits.mutable_budget_alert_percents() = p.settings().budget_alert_percents();
  }
  if (p.has_key_limits()) *req->mutable_key_limits() = p.key_limits();
  req->set_model(ticket.route->name);
  req->set_key_id(p.key_id());
  req->set_kind(ticket.kind);
  req->set_member(p.member());
  req->set_cost_center(p.settings().cost_center());
  if (book_) req->set_router_id(book_->router_id());
  const money::Usd reserve = WorstCaseCost(ticket);
  req->set_reserve_nano_usd(reserve.nanos());
  req->set_estimated_tokens(WorstCaseTokens(ticket));
  *req->mutable_start_time() = time::ToProto(ticket.start_time);
  const bool governed =
      usage::Limits::Of(p.settings().monthly_budget_nano_usd(), p.settings().rate_limits()).any() ||
      usage::Limits::Of(p.key_limits().monthly_budget_nano_usd(), p.key_limits().rate_limits())
          .any();
  metering_.Admit(ctx, *req,
                  [this, req, reserve, governed,
                   done = std::move(done)](absl::StatusOr<usage::v1::AdmitResponse> r) mutable {
                    if (!r.ok()) return done(AdmissionFailure(r.status()));
                    // Only a request under some limit matters to a restarted metering.
                    if (book_ && governed) book_->Admitted(*req, r->incarnation());
                    Admitted admitted{std::move(*r->mutable_reservation_id()), reserve, {}};
                    if (r->has_rate_limits()) admitted.rate_limits = r->rate_limits();
                    done(std::move(admitted));
                  });
}

std::vector<int> PriorityPlanner::Plan(const Ticket& ticket) {
  std::vector<int> plan(ticket.route->deployments.size());
  for (size_t i = 0; i < plan.size(); ++i) plan[i] = static_cast<int>(i);
  return plan;
}

namespace {

// One request through the pipeline, of either kind: admission, the attempts with failover, and
// the settlement. The kinds differ only in how an attempt calls the provider and how the answer
// goes back (Attempt, Deliver). Deletes itself once the caller has its answer.
class Call {
 public:
  Call(Dispatcher& d, rpc::CallContext ctx, Ticket ticket)
      : d_(d), ctx_(std::move(ctx)), ticket_(std::move(ticket)) {}
  virtual ~Call() = default;

  void Start() {
    if (!d_.settler().Accepting()) {
      // Settlements not yet acknowledged are at their bound: refuse rather than lose one.
      return End(status::Error(absl::StatusCode::kUnavailable, "METERING_BACKLOG",
                               "The gateway cannot record usage right now; retry shortly.")
                     .RetryAfter(absl::Seconds(1)));
    }
    d_.admission().Admit(ctx_, ticket_, [this](absl::StatusOr<Admitted> admitted) {
      if (!admitted.ok()) return End(admitted.status());
      admitted_ = *std::move(admitted);
      plan_ = d_.planner().Plan(ticket_);
      if (plan_.empty()) {
        return End(status::Error(
            absl::StatusCode::kUnavailable, status::reason::kNoDeploymentAvailable,
            absl::StrCat("No deployment is available for the model '", ticket_.route->name, "'.")));
      }
      Next();
    });
  }

 protected:
  // Calls the provider for `deployment`; ends with AttemptEnded.
  virtual void Attempt(const Deployment& deployment) = 0;
  // Gives the caller `status` (or the answer the attempt kept, when OK). Called once, last.
  virtual void Deliver(const absl::Status& status) = 0;

  // What an attempt reports as it goes.
  void OutputStarted() {
    if (output_started_) return;
    output_started_ = true;
    first_output_ = d_.clock().Now();
  }
  void ChunkDelivered() { ++chunks_; }
  // The provider's usage of the call; priced here. Returns the cost, for the caller's answer.
  money::Usd SetUsage(const common::v1::Usage& usage, bool estimated = false) {
    usage_ = usage;
    usage_estimated_ = estimated;
    const Deployment& d = current();
    money::Usd cost = d.prices ? pricing::Cost(usage, *d.prices) : money::Usd();
    usage_->set_cost_nano_usd(cost.nanos());
    return cost;
  }
  const Deployment& current() const { return ticket_.route->deployments[plan_[index_]]; }
  // Where the caller stands against its rate limits, when any apply.
  const std::optional<common::v1::RateLimitStatus>& rate_limits() const {
    return admitted_->rate_limits;
  }
  const Ticket& ticket() const { return ticket_; }
  rpc::CallContext& ctx() { return ctx_; }
  Dispatcher& dispatcher() { return d_; }

  void AttemptEnded(const absl::Status& status) {
    if (!status.ok() && !output_started_ && Retryable(status) &&
        !ctx_.cancellation->IsCancelled() && index_ + 1 < plan_.size()) {
      log::Warn("deployment failed; trying the next one",
                {{"request_id", ticket_.request_id},
                 {"provider", current().provider},
                 {"code", absl::StatusCodeToString(status.code())}});
      ++index_;
      usage_.reset();
      return Next();
    }
    absl::Status result = status;
    if (auto info = status::GetErrorInfo(status);
        !output_started_ && info && info->reason() == status::reason::kUpstreamUnreachable) {
      result = status::Error(
          absl::StatusCode::kUnavailable, status::reason::kNoDeploymentAvailable,
          absl::StrCat("No deployment of the model '", ticket_.route->name, "' could be reached (",
                       attempts_, " tried); last error: ", status.message()));
    }
    End(result);
  }

 private:
  void Next() {
    // Admission's answer, or a failed attempt, may come on any thread and after the client left.
    if (ctx_.cancellation->IsCancelled()) {
      return End(absl::CancelledError("The client cancelled the request."));
    }
    ++attempts_;
    Attempt(current());
  }

  void End(const absl::Status& status) {
    if (!admitted_) {
      Deliver(status);
    } else {
      d_.settler().Settle(Settlement(status));
      std::optional<common::v1::ErrorInfo> info;
      if (!status.ok() && admitted_->rate_limits) info = status::GetErrorInfo(status);
      if (!info) {
        Deliver(status);
      } else {
        // An error after admission tells the caller where it stands too.
        *info->mutable_rate_limits() = *admitted_->rate_limits;
        Deliver(status::WithErrorInfo(status, *info));
      }
    }
    delete this;
  }

  usage::v1::Settlement Settlement(const absl::Status& status) {
    const absl::Time now = d_.clock().Now();
    const common::v1::Principal& p = *ticket_.principal;
    usage::v1::Settlement s;
    s.set_request_id(ticket_.request_id);
    s.set_kind(ticket_.kind);
    s.set_team(p.team());
    s.set_key_id(p.key_id());
    s.set_member(p.member());
    s.set_cost_center(p.settings().cost_center());
    s.set_reservation_id(admitted_->reservation_id);
    s.set_reserved_nano_usd(admitted_->reserved.nanos());
    s.set_model(ticket_.route->name);
    *s.mutable_start_time() = time::ToProto(ticket_.start_time);
    s.set_latency_us(absl::ToInt64Microseconds(now - ticket_.start_time));
    if (output_started_) {
      s.set_time_to_first_token_us(absl::ToInt64Microseconds(first_output_ - ticket_.start_time));
    }
    s.set_attempts(attempts_);
    s.set_deployment(attempts_ > 0 ? plan_[index_] : -1);

    const bool cancelled =
        status.code() == absl::StatusCode::kCancelled || ctx_.cancellation->IsCancelled();
    if (status.ok()) {
      s.set_outcome("ok");
    } else if (cancelled) {
      s.set_outcome("cancelled");
    } else if (output_started_) {
      s.set_outcome("cut");
    } else {
      s.set_outcome("error");
    }
    s.set_http_status(output_started_ ? 200 : status::HttpStatusFor(status));

    if (attempts_ == 0) return s;  // Nothing was sent upstream: nothing to pay.
    const Deployment& d = current();
    s.set_provider(d.provider);
    s.set_upstream_model(d.model);
    s.set_unpriced(!d.prices.has_value());
    if (usage_) {
      *s.mutable_usage() = *usage_;
      s.set_estimated(usage_estimated_);
    } else if (output_started_ || cancelled) {
      // The upstream read the prompt (and maybe wrote some of the answer) but said nothing of it:
      // the prompt's estimate plus a token for each chunk delivered (docs/usage.md).
      common::v1::Usage estimate;
      estimate.set_prompt_tokens(ticket_.prompt_tokens);
      estimate.set_completion_tokens(chunks_);
      estimate.set_total_tokens(ticket_.prompt_tokens + chunks_);
      usage_ = estimate;
      SetUsage(estimate);
      *s.mutable_usage() = *usage_;
      s.set_estimated(true);
    }
    return s;
  }

  Dispatcher& d_;
  rpc::CallContext ctx_;
  Ticket ticket_;
  std::optional<Admitted> admitted_;
  std::vector<int> plan_;
  size_t index_ = 0;  // Into plan_.
  int attempts_ = 0;
  bool output_started_ = false;
  absl::Time first_output_;
  int64_t chunks_ = 0;
  std::optional<common::v1::Usage> usage_;
  bool usage_estimated_ = false;
};

class ChatCall final : public Call, public rpc::StreamObserver<common::v1::ChatEvent> {
 public:
  ChatCall(Dispatcher& d, rpc::CallContext ctx, Ticket ticket, const common::v1::ChatRequest& req,
           rpc::StreamObserver<common::v1::ChatEvent>& client)
      : Call(d, std::move(ctx), std::move(ticket)), req_(req), client_(client) {}

 private:
  void Attempt(const Deployment& deployment) override {
    target_.set_provider(deployment.provider);
    target_.set_model(deployment.model);
    dispatcher().provider().Generate(ctx(), target_, req_, *this);
  }

  void OnEvent(const common::v1::ChatEvent& event) override {
    // The first event carries the rate-limit status for the answer's headers.
    const bool headers = !forwarded_ && rate_limits().has_value();
    forwarded_ = true;
    OutputStarted();
    if (!event.has_usage() && !headers) {
      ChunkDelivered();
      return client_.OnEvent(event);
    }
    common::v1::ChatEvent out = event;
    if (headers) *out.mutable_rate_limits() = *rate_limits();
    if (event.has_usage()) {
      // The usage event of a stream, or a plain completion: priced, and the price goes with it.
      out.mutable_usage()->set_cost_nano_usd(SetUsage(event.usage()).nanos());
    }
    if (!event.usage_only()) ChunkDelivered();
    client_.OnEvent(out);
  }

  void OnComplete(const absl::Status& status) override { AttemptEnded(status); }

  void Deliver(const absl::Status& status) override { client_.OnComplete(status); }

  const common::v1::ChatRequest& req_;
  rpc::StreamObserver<common::v1::ChatEvent>& client_;
  provider::v1::Target target_;
  bool forwarded_ = false;
};

class EmbedCall final : public Call {
 public:
  EmbedCall(Dispatcher& d, rpc::CallContext ctx, Ticket ticket, const common::v1::EmbedRequest& req,
            rpc::Done<common::v1::EmbedResponse> done)
      : Call(d, std::move(ctx), std::move(ticket)), req_(req), done_(std::move(done)) {}

 private:
  void Attempt(const Deployment& deployment) override {
    call_.mutable_target()->set_provider(deployment.provider);
    call_.mutable_target()->set_model(deployment.model);
    if (!call_.has_request()) *call_.mutable_request() = req_;
    dispatcher().provider().Embed(
        ctx(), call_, [this](absl::StatusOr<common::v1::EmbedResponse> resp) {
          if (!resp.ok()) return AttemptEnded(resp.status());
          OutputStarted();
          ChunkDelivered();
          resp_ = *std::move(resp);
          common::v1::Usage usage = resp_.usage();
          // Some upstreams count no tokens for embeddings (Gemini): the input's estimate,
          // marked as such.
          const bool estimated = usage.prompt_tokens() <= 0;
          if (estimated) {
            usage.set_prompt_tokens(ticket().prompt_tokens);
            usage.set_total_tokens(ticket().prompt_tokens);
          }
          resp_.mutable_usage()->set_cost_nano_usd(SetUsage(usage, estimated).nanos());
          AttemptEnded(absl::OkStatus());
        });
  }

  void Deliver(const absl::Status& status) override {
    if (!status.ok()) return done_(status);
    if (rate_limits()) *resp_.mutable_rate_limits() = *rate_limits();
    done_(std::move(resp_));
  }

  const common::v1::EmbedRequest& req_;
  rpc::Done<common::v1::EmbedResponse> done_;
  provider::v1::EmbedRequest call_;
  common::v1::EmbedResponse resp_;
};

}  // namespace

void Dispatcher::Chat(rpc::CallContext ctx, Ticket ticket, const common::v1::ChatRequest& req,
                      rpc::StreamObserver<common::v1::ChatEvent>& client) {
  ticket.kind = "chat";
  ticket.start_time = clock_.Now();
  (new ChatCall(*this, std::move(ctx), std::move(ticket), req, client))->Start();
}

void Dispatcher::Embed(rpc::CallContext ctx, Ticket ticket, const common::v1::EmbedRequest& req,
                       rpc::Done<common::v1::EmbedResponse> done) {
  ticket.kind = "embeddings";
  ticket.start_time = clock_.Now();
  (new EmbedCall(*this, std::move(ctx), std::move(ticket), req, std::move(done)))->Start();
}

}  // namespace aimarket::router
