#pragma once

// The router's dispatch pipeline: the one path every inference request takes, chat and embeddings
// alike, once the router has authenticated the key and authorized the model:
//
//   admit (Admission) → plan the attempts (Planner) → attempt each deployment in turn, failing over
//   before the first byte has gone to the caller → settle (Settler)
//
// Every admitted request is settled exactly once, whatever its end: success, an upstream's error,
// the client's cancellation (before the call or mid-stream), a stream cut by the upstream. No
// stage blocks the calling thread; a stage's callback may run on any thread, so cancellation is
// checked again before each provider call. Governance and routing grow inside the three seams,
// never around them: budgets and rate limits in Admission, weighted/cost/latency routing,
// experiments and breakers in Planner, what is recorded in Settler. docs/development.md walks
// through it.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "aimarket/common/v1/principal.pb.h"
#include "aimarket/usage/v1/metering_service.pb.h"
#include "common/money/money.h"
#include "common/pricing/pricing.h"
#include "common/rpc/call_context.h"
#include "common/time/clock.h"
#include "services/provider_adapter/provider_api.h"
#include "services/usage_metering/metering_api.h"

namespace aimarket::router {

// A deployment as the pipeline sees it: where to send a request and what its tokens cost.
struct Deployment {
  std::string provider;  // A ProviderConfig.name.
  std::string model;     // The name the upstream knows.
  // Unset for a model reached by a name prefix that the price table does not know: served, and
  // its events are marked unpriced.
  std::optional<pricing::Prices> prices;
};

// A public model and the deployments that may serve it, in the config's order.
struct Route {
  std::string name;
  std::vector<Deployment> deployments;
};

// One request, as the seams see it.
struct Ticket {
  std::string request_id;                                  // The gateway's own.
  std::string kind;                                        // "chat" or "embeddings".
  std::shared_ptr<const common::v1::Principal> principal;  // Never null.
  std::shared_ptr<const Route> route;
  // The prompt's conservative estimate (EstimatePromptTokens).
  int64_t prompt_tokens = 0;
  // The most output the request allows (max_tokens × n); unset: each deployment's maximum.
  std::optional<int64_t> max_output_tokens;
  absl::Time start_time;  // Fixed at admission; the usage event's key with request_id.
};

// No tokenizer runs here: a prompt is estimated at one token per two bytes of its text (real
// tokenizers average three to four bytes a token in English, fewer in other scripts and code),
// plus kTokensPerImage for each image and kTokensPerMessage for each message's framing. An
// overestimate on purpose: admission reserves the worst case.
inline constexpr int64_t kPromptBytesPerToken = 2;
inline constexpr int64_t kTokensPerImage = 2000;  // Above any provider's largest image cost.
inline constexpr int64_t kTokensPerMessage = 4;
int64_t EstimatePromptTokens(const common::v1::ChatRequest& req);
int64_t EstimatePromptTokens(const common::v1::EmbedRequest& req);

// The worst-case cost of `ticket`: its prompt estimate at the input price (or the dearer
// cache-write price) plus its largest output at the output price, for the dearest of its route's
// deployments (a failover may land on any of them). Unpriced deployments cost nothing.
money::Usd WorstCaseCost(const Ticket& ticket);
// The tokens `ticket` may use at most: its prompt estimate plus the largest output of any of its
// deployments.
int64_t WorstCaseTokens(const Ticket& ticket);

struct Admitted {
  std::string reservation_id;
  money::Usd reserved;
  // Where the caller stands against its rate limits, when any apply (x-ratelimit-* headers).
  std::optional<common::v1::RateLimitStatus> rate_limits;
};

// May a request start, and what does it reserve. Thread-safe.
class Admission {
 public:
  virtual ~Admission() = default;
  // `done` runs exactly once, on any thread; an error refuses the request (nothing was reserved).
  virtual void Admit(const rpc::CallContext& ctx, const Ticket& ticket,
                     rpc::Done<Admitted> done) = 0;
};

class ReservationBook;

// Admission by usage-metering (MeteringApi::Admit) with the ticket's worst case and the limits of
// its team and key. A model with no known price is refused (404 MODEL_PRICE_UNKNOWN) for a team
// or key with a budget: its cost could not be bounded.
class MeteringAdmission final : public Admission {
 public:
  // `book` (may be null) keeps what is admitted, for a restarted metering.
  explicit MeteringAdmission(usage::MeteringApi& metering, ReservationBook* book = nullptr)
      : metering_(metering), book_(book) {}
  void Admit(const rpc::CallContext& ctx, const Ticket& ticket, rpc::Done<Admitted> done) override;

 private:
  usage::MeteringApi& metering_;
  ReservationBook* book_;
};

// Which deployments to try, in which order. Thread-safe.
class Planner {
 public:
  virtual ~Planner() = default;
  // Indexes into ticket.route->deployments; empty when none may serve.
  virtual std::vector<int> Plan(const Ticket& ticket) = 0;
};

// The config's order (strategy "priority").
class PriorityPlanner final : public Planner {
 public:
  std::vector<int> Plan(const Ticket& ticket) override;
};

// Takes each request's settlement and sees it to usage-metering. Thread-safe.
class Settler {
 public:
  virtual ~Settler() = default;
  // Never blocks and never drops: the settlement is kept until metering acknowledges it.
  virtual void Settle(usage::v1::Settlement settlement) = 0;
  // False while the settlements not yet acknowledged are at their bound: new requests are then
  // refused (503) rather than any settlement dropped.
  virtual bool Accepting() = 0;
};

// The pipeline over its seams and the provider. Nothing is owned; everything outlives it.
class Dispatcher {
 public:
  Dispatcher(Admission& admission, Planner& planner, Settler& settler,
             provider::ProviderApi& provider, time::Clock& clock)
      : admission_(admission),
        planner_(planner),
        settler_(settler),
        provider_(provider),
        clock_(clock) {}

  // Streams the completion to `client` (see RouterApi::Chat). `req` and `client` must outlive
  // client.OnComplete. ticket.start_time is set here.
  void Chat(rpc::CallContext ctx, Ticket ticket, const common::v1::ChatRequest& req,
            rpc::StreamObserver<common::v1::ChatEvent>& client);
  // `req` must outlive `done`, which runs exactly once, on any thread.
  void Embed(rpc::CallContext ctx, Ticket ticket, const common::v1::EmbedRequest& req,
             rpc::Done<common::v1::EmbedResponse> done);

  Admission& admission() { return admission_; }
  Planner& planner() { return planner_; }
  Settler& settler() { return settler_; }
  provider::ProviderApi& provider() { return provider_; }
  time::Clock& clock() { return clock_; }

 private:
  Admission& admission_;
  Planner& planner_;
  Settler& settler_;
  provider::ProviderApi& provider_;
  time::Clock& clock_;
};

}  // namespace aimarket::router
