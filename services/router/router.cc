#include "services/router/router.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status/grpc_status.h"
#include "common/status/status_macros.h"

namespace aimarket::router {

Router::Router(const config::v1::Config& config, team::TeamApi& team, usage::MeteringApi& metering,
               provider::ProviderApi& provider)
    : config_(config),
      team_(team),
      metering_(metering),
      provider_(provider),
      created_(absl::ToUnixSeconds(absl::Now())) {}

absl::StatusOr<common::v1::Principal> Router::Authenticate(const rpc::CallContext& ctx) {
  team::v1::AuthenticateRequest req;
  req.set_api_key(ctx.ApiKey());
  AIM_ASSIGN_OR_RETURN(team::v1::AuthenticateResponse resp, team_.Authenticate(ctx, req));
  return std::move(*resp.mutable_principal());
}

void Router::Chat(rpc::CallContext ctx, const common::v1::ChatRequest&,
                  rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  absl::StatusOr<common::v1::Principal> principal = Authenticate(ctx);
  if (!principal.ok()) {
    observer.OnComplete(principal.status());
    return;
  }
  (void)metering_;
  (void)provider_;
  observer.OnComplete(absl::UnimplementedError("RouterService.Chat is not implemented yet"));
}

absl::StatusOr<v1::ListModelsResponse> Router::ListModels(const rpc::CallContext& ctx,
                                                          const v1::ListModelsRequest& req) {
  AIM_ASSIGN_OR_RETURN(common::v1::Principal principal, Authenticate(ctx));
  v1::ListModelsResponse resp;
  for (const config::v1::ModelConfig& m : config_.models()) {
    if (!req.model().empty() && m.name() != req.model()) continue;
    v1::Model& out = *resp.add_models();
    out.set_id(m.name());
    out.set_owned_by(m.deployments().empty() ? "aimarket" : m.deployments(0).provider());
    out.set_created(created_);
  }
  if (!req.model().empty() && resp.models().empty()) {
    return status::Error(absl::StatusCode::kNotFound, "MODEL_NOT_FOUND",
                         absl::StrCat("The model '", req.model(), "' does not exist or you do not have access to it."))
        .Param("model");
  }
  return resp;
}

absl::StatusOr<common::v1::EmbedResponse> Router::Embed(const rpc::CallContext& ctx, const common::v1::EmbedRequest&) {
  AIM_ASSIGN_OR_RETURN(common::v1::Principal principal, Authenticate(ctx));
  return absl::UnimplementedError("RouterService.Embed is not implemented yet");
}

}  // namespace aimarket::router
