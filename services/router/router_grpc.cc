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
  explicit RouterServiceShim(RouterApi& api) : api_(api) {}

  grpc::ServerWriteReactor<common::v1::ChatEvent>* Chat(
      CallbackServerContext* ctx, const common::v1::ChatRequest* req) override {
    return grpcutil::ServeStream<common::v1::ChatRequest, common::v1::ChatEvent>(
        ctx, req,
        [this](rpc::CallContext cc, const common::v1::ChatRequest& r,
               rpc::StreamObserver<common::v1::ChatEvent>& o) {
          // Internal callers may pass their own request id; otherwise the router issues one.
          if (cc.request_id.empty()) cc.request_id = rpc::NewRequestId();
          if (absl::Status s = CheckOriginalJson(r.original_json()); !s.ok())
            return o.OnComplete(s);
          api_.Chat(std::move(cc), r, o);
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
    return grpcutil::ServeUnary(
        ctx, req, resp,
        [this](const rpc::CallContext& cc,
               const common::v1::EmbedRequest& r) -> absl::StatusOr<common::v1::EmbedResponse> {
          AIM_RETURN_IF_ERROR(CheckOriginalJson(r.original_json()));
          return api_.Embed(cc, r);
        });
  }

 private:
  RouterApi& api_;  // Not owned; outlives the server.
};

class RouterGrpcClient final : public RouterApi {
 public:
  explicit RouterGrpcClient(std::shared_ptr<grpc::Channel> channel)
      : stub_(v1::RouterService::NewStub(channel)) {}

  void Chat(rpc::CallContext cc, const common::v1::ChatRequest& req,
            rpc::StreamObserver<common::v1::ChatEvent>& observer) override {
    auto* reactor =
        new grpcutil::ClientStreamReactor<common::v1::ChatRequest, common::v1::ChatEvent>(
            cc, /*internal_token=*/"", req, observer);
    stub_->async()->Chat(reactor->context(), reactor->request(), reactor);
    reactor->Start();
  }
  absl::StatusOr<v1::ListModelsResponse> ListModels(const rpc::CallContext& cc,
                                                    const v1::ListModelsRequest& req) override {
    return grpcutil::CallUnary<v1::ListModelsResponse>(*stub_, &v1::RouterService::Stub::ListModels,
                                                       cc, req, "");
  }
  absl::StatusOr<common::v1::EmbedResponse> Embed(const rpc::CallContext& cc,
                                                  const common::v1::EmbedRequest& req) override {
    return grpcutil::CallUnary<common::v1::EmbedResponse>(*stub_, &v1::RouterService::Stub::Embed,
                                                          cc, req, "");
  }

 private:
  std::unique_ptr<v1::RouterService::Stub> stub_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewRouterGrpcService(RouterApi& api) {
  return std::make_unique<RouterServiceShim>(api);
}

std::unique_ptr<RouterApi> NewRouterGrpcClient(std::shared_ptr<grpc::Channel> channel) {
  return std::make_unique<RouterGrpcClient>(std::move(channel));
}

}  // namespace aimarket::router
