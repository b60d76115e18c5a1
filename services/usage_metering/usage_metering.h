#pragma once

// usage-metering's logic: admission (rate limits and budgets held in memory, one owner per team),
// settlement, usage events and analytics in Postgres. Never sees gRPC.
//
// Not built yet: every RPC answers UNIMPLEMENTED until the metering issue fills them in.

#include <memory>

#include "common/db/pool.h"
#include "services/usage_metering/metering_api.h"

namespace aimarket::usage {

class UsageMetering final : public MeteringApi {
 public:
  // `pool` may be null in processes without a database.
  explicit UsageMetering(std::unique_ptr<db::ConnectionPool> pool);

  void Admit(const rpc::CallContext& ctx, const v1::AdmitRequest& req,
             rpc::Done<v1::AdmitResponse> done) override;
  void Settle(const rpc::CallContext& ctx, const v1::SettleRequest& req,
              rpc::Done<v1::SettleResponse> done) override;
  absl::StatusOr<v1::QueryUsageResponse> QueryUsage(const rpc::CallContext& ctx,
                                                    const v1::QueryUsageRequest& req) override;
  void ExportUsage(rpc::CallContext ctx, const v1::ExportUsageRequest& req,
                   rpc::StreamObserver<v1::ExportUsageChunk>& observer) override;

 private:
  std::unique_ptr<db::ConnectionPool> pool_;
};

}  // namespace aimarket::usage
