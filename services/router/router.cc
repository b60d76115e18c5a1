#include "services/router/router.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/config/config.h"
#include "common/config/provider_types.h"
#include "common/log/log.h"
#include "common/pricing/pricing.h"
#include "common/status/error.h"
#include "common/status/reasons.h"
#include "common/status/status_macros.h"
#include "services/router/router_metrics.h"
#include "services/router/routing_rules.h"

namespace aimarket::router {
Router::Router(const config::v1::Config& config, team::TeamApi& team, Dispatcher& dispatcher,
               time::Clock& clock)
    : config_(config),
      team_(team),
      dispatcher_(dispatcher),
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
      PrefixRoute route{std::string(prefix.prefix), prefix.strip, "", type.type, ""};
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
  std::map<std::string, const config::v1::ProviderConfig*> provider_of;
  for (const config::v1::ProviderConfig& p : config_.providers()) provider_of[p.name()] = &p;
  for (const config::v1::ModelConfig& m : config_.models()) {
    // A catalog model is served by its deployments whose provider is available; with none, it
    // answers 404 saying which key to set.
    auto served = std::make_shared<Route>();
    served->name = m.name();
    std::string missing;
    for (const config::v1::DeploymentConfig& d : m.deployments()) {
      if (auto it = unavailable.find(d.provider()); it != unavailable.end()) {
        absl::StrAppend(&missing, missing.empty() ? "" : "; ", it->second);
        continue;
      }
      Deployment& out = served->deployments.emplace_back();
      out.provider = d.provider();
      out.model = d.model();
      // The config was validated: every catalog deployment has its prices.
      if (auto p = provider_of.find(d.provider()); p != provider_of.end()) {
        if (absl::StatusOr<pricing::Prices> prices = pricing::DeploymentPrices(*p->second, d);
            prices.ok()) {
          out.prices = *prices;
        }
      }
    }
    if (served->deployments.empty()) {
      unserved_[m.name()] = missing;
    } else {
      catalog_[m.name()] = std::move(served);
    }
  }
}

absl::StatusOr<std::shared_ptr<const Route>> Router::Resolve(const std::string& model) const {
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
    auto route = std::make_shared<Route>();
    route->name = model;
    Deployment& d = route->deployments.emplace_back();
    d.provider = r.provider;
    d.model = r.strip ? model.substr(r.prefix.size()) : model;
    d.prices = pricing::DefaultPrices(r.type, d.model);  // None known: served, marked unpriced.
    return std::shared_ptr<const Route>(std::move(route));
  }
  return status::Error(
             absl::StatusCode::kNotFound, "MODEL_NOT_FOUND",
             absl::StrCat("The model '", model, "' does not exist or you do not have access to it.",
                          hint.empty() ? "" : absl::StrCat(" (", hint, ")")))
      .Param("model");
}

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
      RouterMetrics::Get().CountLookup(RouterMetrics::Lookup::kHit);
      return *cached.principal;
    }
    RouterMetrics::Get().CountLookup(cached.principal ? RouterMetrics::Lookup::kRefresh
                                                      : RouterMetrics::Lookup::kMiss);
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

void Router::WithPrincipal(rpc::CallContext ctx, PrincipalDone then) {
  const std::string key = ctx.ApiKey();
  if (!key.empty()) {
    PrincipalCache::Result cached = principals_.Lookup(key);
    if (cached.principal) {
      RouterMetrics::Get().CountLookup(cached.refresh ? RouterMetrics::Lookup::kRefresh
                                                      : RouterMetrics::Lookup::kHit);
      if (cached.refresh) {
        // Refreshed ahead, in the background: this request goes on with what is cached.
        rpc::CallContext refresh;
        refresh.authorization = ctx.authorization;
        refresh.request_id = ctx.request_id;
        auth_pool_.Run([this, refresh = std::move(refresh), key] { (void)AskTeam(refresh, key); });
      }
      return then(std::move(ctx), std::move(cached.principal));
    }
  }
  // The bootstrap admin key never waits, not even behind lookups stuck on a hung database.
  if (std::optional<common::v1::Principal> at_once = team_.AuthenticateAtOnce(key)) {
    return then(std::move(ctx), std::make_shared<const common::v1::Principal>(*std::move(at_once)));
  }
  RouterMetrics::Get().CountLookup(RouterMetrics::Lookup::kMiss);
  // team-management may block on its database: ask it from a worker, not from this thread.
  auth_pool_.Run([this, ctx = std::move(ctx), then = std::move(then)]() mutable {
    absl::StatusOr<common::v1::Principal> principal = Authenticate(ctx);
    if (!principal.ok()) return then(std::move(ctx), principal.status());
    then(std::move(ctx), std::make_shared<const common::v1::Principal>(*std::move(principal)));
  });
}

absl::StatusOr<Ticket> Router::Admissible(std::shared_ptr<const common::v1::Principal> principal,
                                          const rpc::CallContext& ctx, const std::string& model) {
  AIM_RETURN_IF_ERROR(AuthorizeModel(*principal, model));
  AIM_ASSIGN_OR_RETURN(std::shared_ptr<const Route> route, Resolve(model));
  if (route->deployments.empty()) {
    return status::Error(absl::StatusCode::kUnavailable, status::reason::kNoDeploymentAvailable,
                         absl::StrCat("No deployment is available for the model '", model, "'."));
  }
  Ticket ticket;
  ticket.request_id = ctx.request_id.empty() ? rpc::NewRequestId() : ctx.request_id;
  ticket.principal = std::move(principal);
  ticket.route = std::move(route);
  return ticket;
}

void Router::Chat(rpc::CallContext ctx, const common::v1::ChatRequest& req,
                  rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  // The request and the observer stay valid until the observer's OnComplete.
  WithPrincipal(
      std::move(ctx), [this, &req, &observer](
                          rpc::CallContext ctx,
                          absl::StatusOr<std::shared_ptr<const common::v1::Principal>> principal) {
        if (!principal.ok()) return observer.OnComplete(principal.status());
        absl::StatusOr<Ticket> ticket = Admissible(*std::move(principal), ctx, req.model());
        if (!ticket.ok()) return observer.OnComplete(ticket.status());
        ticket->prompt_tokens = EstimatePromptTokens(req);
        if (req.has_max_tokens()) {
          ticket->max_output_tokens = req.max_tokens() * std::max(req.n(), 1);
        }
        dispatcher_.Chat(std::move(ctx), *std::move(ticket), req, observer);
      });
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

void Router::Embed(rpc::CallContext ctx, const common::v1::EmbedRequest& req,
                   rpc::Done<common::v1::EmbedResponse> done) {
  WithPrincipal(
      std::move(ctx),
      [this, &req, done = std::move(done)](
          rpc::CallContext ctx,
          absl::StatusOr<std::shared_ptr<const common::v1::Principal>> principal) mutable {
        if (!principal.ok()) return done(principal.status());
        absl::StatusOr<Ticket> ticket = Admissible(*std::move(principal), ctx, req.model());
        if (!ticket.ok()) return done(ticket.status());
        ticket->prompt_tokens = EstimatePromptTokens(req);
        ticket->max_output_tokens = 0;  // Embeddings produce no output tokens.
        dispatcher_.Embed(std::move(ctx), *std::move(ticket), req, std::move(done));
      });
}

}  // namespace aimarket::router
