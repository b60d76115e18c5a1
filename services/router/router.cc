#include "services/router/router.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/config/config.h"
#include "common/config/provider_types.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/status/error.h"
#include "common/status/reasons.h"
#include "common/status/status_macros.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "services/router/routing_rules.h"

namespace aimarket::router {
namespace {

// aimarket_router_principal_lookups_total{result}: hit (served from the cache), refresh (served,
// and refreshed ahead in the background), miss (asked team-management first).
struct LookupCounters {
  prometheus::Counter& hit;
  prometheus::Counter& refresh;
  prometheus::Counter& miss;
};

LookupCounters& Lookups() {
  static LookupCounters* c = [] {
    auto& family =
        prometheus::BuildCounter()
            .Name("aimarket_router_principal_lookups_total")
            .Help(
                "API keys looked up by the router, by result: hit, refresh (served while refreshed "
                "ahead), miss (asked team-management).")
            .Register(metrics::Registry());
    return new LookupCounters{family.Add({{"result", "hit"}}), family.Add({{"result", "refresh"}}),
                              family.Add({{"result", "miss"}})};
  }();
  return *c;
}

}  // namespace

Router::Router(const config::v1::Config& config, team::TeamApi& team, usage::MeteringApi& metering,
               provider::ProviderApi& provider, time::Clock& clock)
    : config_(config),
      team_(team),
      metering_(metering),
      provider_(provider),
      created_(absl::ToUnixSeconds(absl::Now())),
      principals_(clock, kPrincipalTtl) {
  // Which providers can serve: a provider whose key variable is unset is unavailable.
  std::map<std::string, std::string> unavailable;  // Providers without their key: why.
  for (const config::v1::ProviderConfig& p : config_.providers()) {
    if (absl::StatusOr<std::string> key = config::ProviderApiKey(p); !key.ok()) {
      unavailable[p.name()] = std::string(key.status().message());
    }
  }
  // The prefix routes of each type go to the first provider of that type in the config (there is
  // one for every built-in type: config::ApplyDefaults adds it).
  for (const config::ProviderTypeInfo& type : config::ProviderTypes()) {
    for (const config::ModelPrefix& prefix : type.prefixes) {
      PrefixRoute route{std::string(prefix.prefix), prefix.strip, "", ""};
      for (const config::v1::ProviderConfig& p : config_.providers()) {
        if (p.type() != type.type) continue;
        if (unavailable.contains(p.name())) {
          route.missing = absl::StrCat("set ", p.api_key_env(), " to route '", prefix.prefix,
                                       "*' models to ", p.name());
        } else {
          route.provider = p.name();
        }
        break;
      }
      prefixes_.push_back(std::move(route));
    }
  }
  for (const config::v1::ModelConfig& m : config_.models()) {
    // A catalog model is served by its deployments whose provider is available; with none, it
    // answers 404 saying which key to set.
    auto served = std::make_shared<config::v1::ModelConfig>(m);
    served->clear_deployments();
    std::string missing;
    for (const config::v1::DeploymentConfig& d : m.deployments()) {
      if (auto it = unavailable.find(d.provider()); it != unavailable.end()) {
        absl::StrAppend(&missing, missing.empty() ? "" : "; ", it->second);
      } else {
        *served->add_deployments() = d;
      }
    }
    if (served->deployments().empty()) {
      unserved_[m.name()] = missing;
    } else {
      catalog_[m.name()] = std::move(served);
    }
  }
}

absl::StatusOr<std::shared_ptr<const config::v1::ModelConfig>> Router::Resolve(
    const std::string& model) const {
  if (auto it = catalog_.find(model); it != catalog_.end()) return it->second;
  std::string hint;
  if (auto it = unserved_.find(model); it != unserved_.end()) hint = it->second;
  for (const PrefixRoute& r : prefixes_) {
    if (!hint.empty()) break;
    if (!absl::StartsWith(model, r.prefix) || (r.strip && model.size() == r.prefix.size()))
      continue;
    if (r.provider.empty()) {
      hint = r.missing;
      break;
    }
    auto m = std::make_shared<config::v1::ModelConfig>();
    m->set_name(model);
    m->set_strategy("priority");
    config::v1::DeploymentConfig& d = *m->add_deployments();
    d.set_provider(r.provider);
    d.set_model(r.strip ? model.substr(r.prefix.size()) : model);
    d.set_weight(1);
    return m;
  }
  return status::Error(
             absl::StatusCode::kNotFound, "MODEL_NOT_FOUND",
             absl::StrCat("The model '", model, "' does not exist or you do not have access to it.",
                          hint.empty() ? "" : absl::StrCat(" (", hint, ")")))
      .Param("model");
}

namespace {

// One Chat call: the attempts over the model's deployments. Deletes itself when done.
class ChatCall final : public rpc::StreamObserver<common::v1::ChatEvent> {
 public:
  ChatCall(rpc::CallContext ctx, const common::v1::ChatRequest& req,
           std::shared_ptr<const config::v1::ModelConfig> model, provider::ProviderApi& provider,
           rpc::StreamObserver<common::v1::ChatEvent>& client)
      : ctx_(std::move(ctx)),
        req_(req),
        model_(std::move(model)),
        provider_(provider),
        client_(client) {}

  void Next() {
    const config::v1::DeploymentConfig& d = model_->deployments(attempt_);
    target_.set_provider(d.provider());
    target_.set_model(d.model());
    provider_.Generate(ctx_, target_, req_, *this);
  }

  void OnEvent(const common::v1::ChatEvent& event) override {
    started_ = true;
    client_.OnEvent(event);
  }

  void OnComplete(const absl::Status& status) override {
    if (!status.ok() && !started_ && Retryable(status) && !ctx_.cancellation->IsCancelled() &&
        attempt_ + 1 < model_->deployments_size()) {
      log::Warn("deployment failed; trying the next one",
                {{"request_id", ctx_.request_id},
                 {"provider", target_.provider()},
                 {"code", absl::StatusCodeToString(status.code())}});
      ++attempt_;
      Next();
      return;
    }
    absl::Status result = status;
    if (auto info = status::GetErrorInfo(status);
        !started_ && info && info->reason() == status::reason::kUpstreamUnreachable) {
      result = status::Error(
          absl::StatusCode::kUnavailable, status::reason::kNoDeploymentAvailable,
          absl::StrCat("No deployment of the model '", model_->name(), "' could be reached (",
                       model_->deployments_size(), " tried); last error: ", status.message()));
    }
    rpc::StreamObserver<common::v1::ChatEvent>& client = client_;
    delete this;
    client.OnComplete(result);
  }

 private:
  rpc::CallContext ctx_;
  const common::v1::ChatRequest& req_;
  std::shared_ptr<const config::v1::ModelConfig> model_;
  provider::ProviderApi& provider_;
  rpc::StreamObserver<common::v1::ChatEvent>& client_;
  provider::v1::Target target_;
  int attempt_ = 0;
  bool started_ = false;
};

}  // namespace

absl::StatusOr<common::v1::Principal> Router::Authenticate(const rpc::CallContext& ctx) {
  const std::string key = ctx.ApiKey();
  if (std::optional<common::v1::Principal> at_once = team_.AuthenticateAtOnce(key))
    return *std::move(at_once);
  std::shared_ptr<const common::v1::Principal> known;
  if (!key.empty()) {
    PrincipalCache::Result cached = principals_.Lookup(key);
    // Callers of this blocking path run on worker threads: an entry due for refresh is refreshed
    // here and now.
    if (cached.principal && !cached.refresh) {
      Lookups().hit.Increment();
      return *cached.principal;
    }
    (cached.principal ? Lookups().refresh : Lookups().miss).Increment();
    known = cached.principal ? cached.principal : cached.stale;
  }
  absl::StatusOr<common::v1::Principal> asked = AskTeam(ctx, key);
  // team-management (or its database) unreachable: a key it vouched for recently goes on working.
  if (!asked.ok() && known && asked.status().code() != absl::StatusCode::kUnauthenticated)
    return *known;
  return asked;
}

absl::StatusOr<common::v1::Principal> Router::AskTeam(const rpc::CallContext& ctx,
                                                      const std::string& key) {
  team::v1::AuthenticateRequest req;
  req.set_api_key(key);
  absl::StatusOr<team::v1::AuthenticateResponse> resp = team_.Authenticate(ctx, req);
  if (!resp.ok()) {
    if (resp.status().code() == absl::StatusCode::kUnauthenticated) {
      principals_.Erase(key);  // Revoked, expired, removed: at once.
    } else {
      // team-management or its database unreachable: the entry goes on serving for a while (no
      // key can be revoked meanwhile: revoking writes to that database).
      principals_.Unclaim(key);
    }
    return resp.status();
  }
  principals_.Put(key, resp->principal());
  return std::move(*resp->mutable_principal());
}

void Router::Chat(rpc::CallContext ctx, const common::v1::ChatRequest& req,
                  rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  const std::string key = ctx.ApiKey();
  if (!key.empty()) {
    PrincipalCache::Result cached = principals_.Lookup(key);
    if (cached.principal) {
      (cached.refresh ? Lookups().refresh : Lookups().hit).Increment();
      if (cached.refresh) {
        // Refreshed ahead, in the background: this request goes on with what is cached.
        rpc::CallContext refresh;
        refresh.authorization = ctx.authorization;
        refresh.request_id = ctx.request_id;
        auth_pool_.Run([this, refresh = std::move(refresh), key] { (void)AskTeam(refresh, key); });
      }
      return ChatAs(*cached.principal, std::move(ctx), req, observer);
    }
  }
  // The bootstrap admin key never waits, not even behind lookups stuck on a hung database.
  if (std::optional<common::v1::Principal> at_once = team_.AuthenticateAtOnce(key)) {
    return ChatAs(*at_once, std::move(ctx), req, observer);
  }
  Lookups().miss.Increment();
  // team-management may block on its database: ask it from a worker, not from this thread. The
  // request and the observer stay valid until the observer's OnComplete.
  auth_pool_.Run([this, ctx = std::move(ctx), &req, &observer]() mutable {
    absl::StatusOr<common::v1::Principal> principal = Authenticate(ctx);
    if (!principal.ok()) return observer.OnComplete(principal.status());
    ChatAs(*principal, std::move(ctx), req, observer);
  });
}

void Router::ChatAs(const common::v1::Principal& principal, rpc::CallContext ctx,
                    const common::v1::ChatRequest& req,
                    rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  if (absl::Status allowed = AuthorizeModel(principal, req.model()); !allowed.ok()) {
    observer.OnComplete(allowed);
    return;
  }
  absl::StatusOr<std::shared_ptr<const config::v1::ModelConfig>> model = Resolve(req.model());
  if (!model.ok()) {
    observer.OnComplete(model.status());
    return;
  }
  if ((*model)->deployments().empty()) {
    observer.OnComplete(status::Error(
        absl::StatusCode::kUnavailable, status::reason::kNoDeploymentAvailable,
        absl::StrCat("No deployment is available for the model '", req.model(), "'.")));
    return;
  }
  (void)metering_;  // Admission comes with metering: asynchronous (MeteringApi::Admit), so it can
                    // run here.
  (new ChatCall(std::move(ctx), req, *std::move(model), provider_, observer))->Next();
}

absl::StatusOr<v1::ListModelsResponse> Router::ListModels(const rpc::CallContext& ctx,
                                                          const v1::ListModelsRequest& req) {
  AIM_ASSIGN_OR_RETURN(common::v1::Principal principal, Authenticate(ctx));
  if (!req.model().empty() && !config::IsValidModelName(req.model())) {
    return status::Error(absl::StatusCode::kNotFound, "MODEL_NOT_FOUND",
                         "The model does not exist or you do not have access to it.")
        .Param("model");
  }
  v1::ListModelsResponse resp;
  for (const config::v1::ModelConfig& m : config_.models()) {
    if (!req.model().empty() && m.name() != req.model()) continue;
    if (!ModelAllowed(principal, m.name())) continue;
    v1::Model& out = *resp.add_models();
    out.set_id(m.name());
    out.set_owned_by(m.deployments().empty() ? "aimarket" : m.deployments(0).provider());
    out.set_created(created_);
  }
  if (!req.model().empty() && resp.models().empty()) {
    return status::Error(absl::StatusCode::kNotFound, "MODEL_NOT_FOUND",
                         absl::StrCat("The model '", req.model(),
                                      "' does not exist or you do not have access to it."))
        .Param("model");
  }
  return resp;
}

absl::StatusOr<common::v1::EmbedResponse> Router::Embed(const rpc::CallContext& ctx,
                                                        const common::v1::EmbedRequest& req) {
  AIM_ASSIGN_OR_RETURN(common::v1::Principal principal, Authenticate(ctx));
  AIM_RETURN_IF_ERROR(AuthorizeModel(principal, req.model()));
  AIM_ASSIGN_OR_RETURN(std::shared_ptr<const config::v1::ModelConfig> model, Resolve(req.model()));
  // The deployments in order, failing over as Chat does.
  absl::Status last =
      status::Error(absl::StatusCode::kUnavailable, status::reason::kNoDeploymentAvailable,
                    absl::StrCat("No deployment is available for the model '", req.model(), "'."));
  for (int i = 0; i < model->deployments_size(); ++i) {
    provider::v1::EmbedRequest call;
    call.mutable_target()->set_provider(model->deployments(i).provider());
    call.mutable_target()->set_model(model->deployments(i).model());
    *call.mutable_request() = req;
    absl::StatusOr<common::v1::EmbedResponse> resp = provider_.Embed(ctx, call);
    if (resp.ok()) return resp;
    last = resp.status();
    if (!Retryable(last) || ctx.cancellation->IsCancelled()) return last;
    log::Warn("deployment failed; trying the next one",
              {{"request_id", ctx.request_id}, {"provider", call.target().provider()}});
  }
  return last;
}

}  // namespace aimarket::router
