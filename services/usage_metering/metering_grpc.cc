#include "services/usage_metering/metering_grpc.h"

#include <utility>

#include "aimarket/usage/v1/metering_service.grpc.pb.h"
#include "common/grpc/call_adapters.h"
#include "common/thread/worker_pool.h"

namespace aimarket::usage {
namespace {

using grpc::CallbackServerContext;
using grpc::ServerUnaryReactor;

class MeteringServiceShim final : public v1::MeteringService::CallbackService {
 public:
  MeteringServiceShim(MeteringApi& api, std::string internal_token)
      : api_(api), internal_token_(std::move(internal_token)), workers_(4) {}

  ServerUnaryReactor* Admit(CallbackServerContext* ctx, const v1::AdmitRequest* req,
                            v1::AdmitResponse* resp) override {
    return grpcutil::ServeUnaryAsync(
        ctx, req, resp,
        [this](const rpc::CallContext& cc, const v1::AdmitRequest& r,
               rpc::Done<v1::AdmitResponse> done) { api_.Admit(cc, r, std::move(done)); },
        &internal_token_);
  }
  ServerUnaryReactor* Settle(CallbackServerContext* ctx, const v1::SettleRequest* req,
                             v1::SettleResponse* resp) override {
    return grpcutil::ServeUnaryAsync(
        ctx, req, resp,
        [this](const rpc::CallContext& cc, const v1::SettleRequest& r,
               rpc::Done<v1::SettleResponse> done) { api_.Settle(cc, r, std::move(done)); },
        &internal_token_);
  }
  ServerUnaryReactor* Sync(CallbackServerContext* ctx, const v1::SyncRequest* req,
                           v1::SyncResponse* resp) override {
    return grpcutil::ServeUnary(
        ctx, req, resp,
        [this](const rpc::CallContext& cc, const v1::SyncRequest& r) { return api_.Sync(cc, r); },
        &internal_token_);
  }
  ServerUnaryReactor* GetBalance(CallbackServerContext* ctx, const v1::GetBalanceRequest* req,
                                 v1::GetBalanceResponse* resp) override {
    return grpcutil::ServeUnary(
        ctx, req, resp,
        [this](const rpc::CallContext& cc, const v1::GetBalanceRequest& r) {
          return api_.GetBalance(cc, r);
        },
        &internal_token_);
  }
  // Analytics block on the database: on the shim's workers, never on gRPC's callback threads.
  ServerUnaryReactor* QueryUsage(CallbackServerContext* ctx, const v1::QueryUsageRequest* req,
                                 v1::QueryUsageResponse* resp) override {
    return grpcutil::ServeUnaryOn(
        workers_, ctx, req, resp,
        [this](const rpc::CallContext& cc, const v1::QueryUsageRequest& r) {
          return api_.QueryUsage(cc, r);
        });
  }
  ServerUnaryReactor* ListUsageEvents(CallbackServerContext* ctx,
                                      const v1::ListUsageEventsRequest* req,
                                      v1::ListUsageEventsResponse* resp) override {
    return grpcutil::ServeUnaryOn(
        workers_, ctx, req, resp,
        [this](const rpc::CallContext& cc, const v1::ListUsageEventsRequest& r) {
          return api_.ListUsageEvents(cc, r);
        });
  }
  grpc::ServerWriteReactor<v1::ExportUsageChunk>* ExportUsage(
      CallbackServerContext* ctx, const v1::ExportUsageRequest* req) override {
    return grpcutil::ServeStream<v1::ExportUsageRequest, v1::ExportUsageChunk>(
        ctx, req,
        [this](rpc::CallContext cc, const v1::ExportUsageRequest& r,
               rpc::StreamObserver<v1::ExportUsageChunk>& o) {
          api_.ExportUsage(std::move(cc), r, o);
        });
  }

 private:
  MeteringApi& api_;  // Not owned; outlives the server.
  const std::string internal_token_;
  thread::WorkerPool workers_;  // Declared last, so joined first.
};

class MeteringGrpcClient final : public MeteringApi {
 public:
  MeteringGrpcClient(std::shared_ptr<grpc::Channel> channel, std::string internal_token)
      : stub_(v1::MeteringService::NewStub(channel)), internal_token_(std::move(internal_token)) {}

  void Admit(const rpc::CallContext& cc, const v1::AdmitRequest& req,
             rpc::Done<v1::AdmitResponse> done) override {
    grpcutil::CallUnaryAsync<v1::AdmitResponse>(
        cc, req, internal_token_, std::move(done),
        [this](grpc::ClientContext* c, const v1::AdmitRequest* r, v1::AdmitResponse* resp,
               std::function<void(grpc::Status)> f) {
          stub_->async()->Admit(c, r, resp, std::move(f));
        });
  }
  void Settle(const rpc::CallContext& cc, const v1::SettleRequest& req,
              rpc::Done<v1::SettleResponse> done) override {
    grpcutil::CallUnaryAsync<v1::SettleResponse>(
        cc, req, internal_token_, std::move(done),
        [this](grpc::ClientContext* c, const v1::SettleRequest* r, v1::SettleResponse* resp,
               std::function<void(grpc::Status)> f) {
          stub_->async()->Settle(c, r, resp, std::move(f));
        });
  }
  absl::StatusOr<v1::SyncResponse> Sync(const rpc::CallContext& cc,
                                        const v1::SyncRequest& req) override {
    return grpcutil::CallUnary<v1::SyncResponse>(*stub_, &v1::MeteringService::Stub::Sync, cc, req,
                                                 internal_token_);
  }
  absl::StatusOr<v1::GetBalanceResponse> GetBalance(const rpc::CallContext& cc,
                                                    const v1::GetBalanceRequest& req) override {
    return grpcutil::CallUnary<v1::GetBalanceResponse>(
        *stub_, &v1::MeteringService::Stub::GetBalance, cc, req, internal_token_);
  }
  absl::StatusOr<v1::QueryUsageResponse> QueryUsage(const rpc::CallContext& cc,
                                                    const v1::QueryUsageRequest& req) override {
    return grpcutil::CallUnary<v1::QueryUsageResponse>(
        *stub_, &v1::MeteringService::Stub::QueryUsage, cc, req, internal_token_);
  }
  absl::StatusOr<v1::ListUsageEventsResponse> ListUsageEvents(
      const rpc::CallContext& cc, const v1::ListUsageEventsRequest& req) override {
    return grpcutil::CallUnary<v1::ListUsageEventsResponse>(
        *stub_, &v1::MeteringService::Stub::ListUsageEvents, cc, req, internal_token_);
  }
  void ExportUsage(rpc::CallContext cc, const v1::ExportUsageRequest& req,
                   rpc::StreamObserver<v1::ExportUsageChunk>& observer) override {
    auto* reactor = new grpcutil::ClientStreamReactor<v1::ExportUsageRequest, v1::ExportUsageChunk>(
        cc, internal_token_, req, observer);
    stub_->async()->ExportUsage(reactor->context(), reactor->request(), reactor);
    reactor->Start();
  }

 private:
  std::unique_ptr<v1::MeteringService::Stub> stub_;
  const std::string internal_token_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewMeteringGrpcService(MeteringApi& api,
                                                      std::string internal_token) {
  return std::make_unique<MeteringServiceShim>(api, std::move(internal_token));
}

std::unique_ptr<MeteringApi> NewMeteringGrpcClient(std::shared_ptr<grpc::Channel> channel,
                                                   std::string internal_token) {
  return std::make_unique<MeteringGrpcClient>(std::move(channel), std::move(internal_token));
}

}  // namespace aimarket::usage
