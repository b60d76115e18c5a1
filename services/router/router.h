#pragma once

// The router's logic: authentication (through team-management's AuthService), the model catalog
// from the config, and (as later issues add them) admission, routing, failover and settlement.
// Never sees gRPC: its peers are injected as their C++ APIs, in process or remote.
//
// Models: the config's catalog first (each model with those of its deployments whose provider is
// available: it needs no key, or its key's environment variable is set; a model with none left is
// NOT_FOUND naming the variables); then a name's prefix (config::ProviderTypes) picks the provider
// of a wire format (the first one of that type in the config, or the built-in one):
// `ollama/<model>` → Ollama, `huggingface/<repo>` → Hugging Face (the prefix is dropped), `gpt-*`,
// `o1*`, `o3*`, `o4*` → OpenAI, `claude-*` → Anthropic, `gemini-*` → Gemini, `command-*` →
// Cohere, as long as that provider is available. Anything else is NOT_FOUND MODEL_NOT_FOUND.
// GET /v1/models lists the catalog only.
//
// Chat and embeddings: authenticate (a key not in the principal cache is looked up on the router's
// own worker threads, never on the caller's thread, which may be an I/O thread; a cached key past
// half its 2-second life is refreshed there in the background while requests go on), refuse a
// viewer's key and a model outside the team's model_access (PERMISSION_DENIED, MODEL_NOT_ALLOWED),
// resolve the model as above, then hand the request to the dispatch pipeline (dispatch.h): admit,
// plan, attempt the deployments with failover before the first byte, settle.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "aimarket/config/v1/config.pb.h"
#include "common/thread/worker_pool.h"
#include "services/router/dispatch.h"
#include "services/router/principal_cache.h"
#include "services/router/router_api.h"
#include "services/team_management/team_api.h"

namespace aimarket::router {

class Router final : public RouterApi {
 public:
  // How long an authenticated key is trusted without asking team-management again: the bound
  // within which a revoked key or a changed setting takes effect.
  static constexpr absl::Duration kPrincipalTtl = absl::Seconds(2);

  // Nothing is owned; everything outlives the router.
  Router(const config::v1::Config& config, team::TeamApi& team, Dispatcher& dispatcher,
         time::Clock& clock = time::RealClock::Get());

  void Chat(rpc::CallContext ctx, const common::v1::ChatRequest& req,
            rpc::StreamObserver<common::v1::ChatEvent>& observer) override;
  absl::StatusOr<v1::ListModelsResponse> ListModels(const rpc::CallContext& ctx,
                                                    const v1::ListModelsRequest& req) override;
  void Embed(rpc::CallContext ctx, const common::v1::EmbedRequest& req,
             rpc::Done<common::v1::EmbedResponse> done) override;

 private:
  using PrincipalDone = absl::AnyInvocable<void(
      rpc::CallContext, absl::StatusOr<std::shared_ptr<const common::v1::Principal>>)>;
  // Calls `then` with `ctx` and the caller's principal: at once from the cache (refreshing it in
  // the background when due) or for the bootstrap admin; otherwise from a worker thread once
  // team-management has answered.
  void WithPrincipal(rpc::CallContext ctx, PrincipalDone then);
  // The caller's principal: from the cache, else from team-management. Blocks.
  absl::StatusOr<common::v1::Principal> Authenticate(const rpc::CallContext& ctx);
  // Asks team-management about `key` and updates the cache with the answer.
  absl::StatusOr<common::v1::Principal> AskTeam(const rpc::CallContext& ctx,
                                                const std::string& key);
  // Authorizes `model` for `principal` and resolves it into the ticket of a request.
  absl::StatusOr<Ticket> Admissible(std::shared_ptr<const common::v1::Principal> principal,
                                    const rpc::CallContext& ctx, const std::string& model);
  // The catalog entry for `model`, or one made from its prefix; NOT_FOUND MODEL_NOT_FOUND.
  absl::StatusOr<std::shared_ptr<const Route>> Resolve(const std::string& model) const;

  struct PrefixRoute {
    std::string prefix;
    bool strip;            // ollama/ and huggingface/ are not part of the upstream's name.
    std::string provider;  // Empty when no provider of the type can serve (no key).
    config::v1::ProviderType type = config::v1::PROVIDER_TYPE_UNSPECIFIED;
    std::string missing;  // Why not, for the error.
  };

  const config::v1::Config& config_;
  team::TeamApi& team_;
  Dispatcher& dispatcher_;
  const int64_t created_;  // Unix seconds reported as every model's `created`.
  // By public name, with the deployments whose provider is available.
  std::map<std::string, std::shared_ptr<const Route>> catalog_;
  std::map<std::string, std::string> unserved_;  // Catalog models without one: why.
  std::vector<PrefixRoute> prefixes_;
  PrincipalCache principals_;
  thread::WorkerPool auth_pool_{
      4};  // Lookups of keys not in the cache; declared last, joined first.
};

}  // namespace aimarket::router
