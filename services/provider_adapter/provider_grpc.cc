#include "services/provider_adapter/provider_grpc.h"

#include <utility>

#include "aimarket/provider/v1/provider_service.grpc.pb.h"
#include "common/grpc/call_adapters.h"

namespace aimarket::provider {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

class ProviderServiceShim final : public v1::ProviderService::CallbackService {
 public:
  ProviderServiceShim(ProviderApi& api, std::string internal_token)
      : api_(api), internal_token_(std::move(internal_token)) {}

  grpc::ServerWriteReactor<common::v1::ChatEvent>* Generate(
      CallbackServerContext* ctx, const v1::GenerateRequest* req) override {
    return grpcutil::ServeStream<v1::GenerateRequest, common::v1::ChatEvent>(
        ctx, req,
        [this](rpc::CallContext cc, const v1::GenerateRequest& r,
               rpc::StreamObserver<common::v1::ChatEvent>& o) {
          api_.Generate(std::move(cc), r.target(), r.request(), o);
        },
        &internal_token_);
  }
  ServerUnaryReactor* Embed(CallbackServerContext* ctx, const v1::EmbedRequest* req,
                            common::v1::EmbedResponse* resp) override {
    return grpcutil::ServeUnaryAsync(
        ctx, req, resp,
        [this](const rpc::CallContext& cc, const v1::EmbedRequest& r,
               rpc::Done<common::v1::EmbedResponse> done) { api_.Embed(cc, r, std::move(done)); },
        &internal_token_);
  }
  ServerUnaryReactor* CheckHealth(CallbackServerContext* ctx, const v1::CheckHealthRequest* req,
                                  v1::CheckHealthResponse* resp) override {
    return grpcutil::ServeUnary(
        ctx, req, resp,
        [this](const rpc::CallContext& cc, const v1::CheckHealthRequest& r) {
          return api_.CheckHealth(cc, r);
        },
        &internal_token_);
  }

 private:
  ProviderApi& api_;  // Not owned; outlives the server.
  const std::string internal_token_;
};

class ProviderGrpcClient final : public ProviderApi {
 public:
  ProviderGrpcClient(std::shared_ptr<grpc::Channel> channel, std::string internal_token)
      : stub_(v1::ProviderService::NewStub(channel)), internal_token_(std::move(internal_token)) {}

  void Generate(rpc::CallContext cc, const v1::Target& target, const common::v1::ChatRequest& req,
                rpc::StreamObserver<common::v1::ChatEvent>& observer) override {
    v1::GenerateRequest greq;
    *greq.mutable_target() = target;
    *greq.mutable_request() = req;
    auto* reactor = new grpcutil::ClientStreamReactor<v1::GenerateRequest, common::v1::ChatEvent>(
        cc, internal_token_, std::move(greq), observer);
    stub_->async()->Generate(reactor->context(), reactor->request(), reactor);
    reactor->Start();
  }
  void Embed(const rpc::CallContext& cc, const v1::EmbedRequest& req,
             rpc::Done<common::v1::EmbedResponse> done) override {
    grpcutil::CallUnaryAsync<common::v1::EmbedResponse>(
        cc, req, internal_token_, std::move(done),
        [this](grpc::ClientContext* c, const v1::EmbedRequest* r, common::v1::EmbedResponse* resp,
               std::function<void(grpc::Status)> f) {
          stub_->async()->Embed(c, r, resp, std::move(f));
        });
  }
  absl::StatusOr<v1::CheckHealthResponse> CheckHealth(const rpc::CallContext& cc,
                                                      const v1::CheckHealthRequest& req) override {
    return grpcutil::CallUnary<v1::CheckHealthResponse>(
        *stub_, &v1::ProviderService::Stub::CheckHealth, cc, req, internal_token_);
  }

 private:
  std::unique_ptr<v1::ProviderService::Stub> stub_;
  const std::string internal_token_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewProviderGrpcService(ProviderApi& api,
                                                      std::string internal_token) {
  return std::make_unique<ProviderServiceShim>(api, std::move(internal_token));
}

std::unique_ptr<ProviderApi> NewProviderGrpcClient(std::shared_ptr<grpc::Channel> channel,
                                                   std::string internal_token) {
  return std::make_unique<ProviderGrpcClient>(std::move(channel), std::move(internal_token));
}

}  // namespace aimarket::provider
