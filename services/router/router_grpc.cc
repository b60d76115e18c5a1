#include "services/router/router_grpc.h"

#include <utility>

#include "aimarket/router/v1/router_service.grpc.pb.h"
#include "common/grpc/call_adapters.h"
#include "common/json/parse.h"
#include "common/status/status_macros.h"
#include "rapidjson/document.h"

namespace aimarket::router {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

// A gRPC caller's original body is held to the edge's rules (json::Parse, strict), here where it
// enters: what the adapters later forward as it is must be what was checked and authorized.
absl::Status CheckOriginalJson(const std::string& original_json) {
  if (original_json.empty()) return absl::OkStatus();
  rapidjson::Document d;
  return json::Parse(d, original_json);
}

class RouterServiceShim final : public v1::RouterService::CallbackService {
 public:
  RouterServiceShim(RouterApi& api, std::string internal_token)
      : api_(api), internal_token_(std::move(internal_token)) {}

  grpc::ServerWriteReactor<common::v1::ChatEvent>* Chat(
      CallbackServerContext* ctx, const common::v1::ChatRequest* req) override {
    return grpcutil::ServeStream<common::v1::ChatRequest, common::v1::ChatEvent>(
        ctx, req,
        [this](rpc::CallContext cc, const common::v1::ChatRequest& r,
               rpc::StreamObserver<common::v1::ChatEvent>& o) {
          if (absl::Status s = CheckOriginalJson(r.original_json()); !s.ok())
            return o.OnComplete(s);
          api_.Chat(WithRequestId(std::move(cc)), r, o);
        });
  }
  ServerUnaryReactor* ListModels(CallbackServerContext* ctx, const v1::ListModelsRequest* req,
                                 v1::ListModelsResponse* resp) override {
    return grpcutil::ServeUnary(ctx, req, resp,
                                [this](const rpc::CallContext& cc, const v1::ListModelsRequest& r) {
                                  return api_.ListModels(cc, r);
                                });
  }
  ServerUnaryReactor* Embed(CallbackServerContext* ctx, const common::v1::EmbedRequest* req,
                            common::v1::EmbedResponse* resp) override {
    return grpcutil::ServeUnaryAsync(
        ctx, req, resp,
        [this](const rpc::CallContext& cc, const common::v1::EmbedRequest& r,
               rpc::Done<common::v1::EmbedResponse> done) {
          if (absl::Status s = CheckOriginalJson(r.original_json()); !s.ok()) return done(s);
          api_.Embed(WithRequestId(cc), r, std::move(done));
        });
  }

 private:
  // A request id is the key of the request's usage event: kept only from a peer that presents the
  // internal token (the edge, passing on the id it returned to its client); anyone else's is
  // replaced, so that no client can make its requests collide with others'.
  rpc::CallContext WithRequestId(rpc::CallContext cc) const {
    if (cc.request_id.empty() || !rpc::SecretEquals(cc.internal_token, internal_token_)) {
      cc.request_id = rpc::NewRequestId();
    }
    return cc;
  }

  RouterApi& api_;  // Not owned; outlives the server.
  const std::string internal_token_;
};

class RouterGrpcClient final : public RouterApi {
 public:
  RouterGrpcClient(std::shared_ptr<grpc::Channel> channel, std::string internal_token)
      : stub_(v1::RouterService::NewStub(channel)), internal_token_(std::move(internal_token)) {}

  void Chat(rpc::CallContext cc, const common::v1::ChatRequest& req,
            rpc::StreamObserver<common::v1::ChatEvent>& observer) override {
    auto* reactor =
        new grpcutil::ClientStreamReactor<common::v1::ChatRequest, common::v1::ChatEvent>(
            cc, internal_token_, req, observer);
    stub_->async()->Chat(reactor->context(), reactor->request(), reactor);
    reactor->Start();
  }
  absl::StatusOr<v1::ListModelsResponse> ListModels(const rpc::CallContext& cc,
                                                    const v1::ListModelsRequest& req) override {
    return grpcutil::CallUnary<v1::ListModelsResponse>(*stub_, &v1::RouterService::Stub::ListModels,
                                                       cc, req, internal_token_);
  }
  void Embed(rpc::CallContext cc, const common::v1::EmbedRequest& req,
             rpc::Done<common::v1::EmbedResponse> done) override {
    grpcutil::CallUnaryAsync<common::v1::EmbedResponse>(
        cc, req, internal_token_, std::move(done),
        [this](grpc::ClientContext* c, const common::v1::EmbedRequest* r,
               common::v1::EmbedResponse* resp, std::function<void(grpc::Status)> f) {
          stub_->async()->Embed(c, r, resp, std::move(f));
        });
  }

 private:
  std::unique_ptr<v1::RouterService::Stub> stub_;
  const std::string internal_token_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewRouterGrpcService(RouterApi& api, std::string internal_token) {
  return std::make_unique<RouterServiceShim>(api, std::move(internal_token));
}

std::unique_ptr<RouterApi> NewRouterGrpcClient(std::shared_ptr<grpc::Channel> channel,
                                               std::string internal_token) {
  return std::make_unique<RouterGrpcClient>(std::move(channel), std::move(internal_token));
}

}  // namespace aimarket::router
