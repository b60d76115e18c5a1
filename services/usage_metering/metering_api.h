#pragma once

// The C++ API of usage-metering: implemented by UsageMetering (in process) and by the gRPC client
// from NewMeteringGrpcClient (a peer in another process).

#include "absl/status/statusor.h"
#include "aimarket/usage/v1/metering_service.pb.h"
#include "common/rpc/call_context.h"

namespace aimarket::usage {

// Thread-safe.
class MeteringApi {
 public:
  virtual ~MeteringApi() = default;
  // Internal. Takes rate-limit tokens and reserves budget, in memory. RESOURCE_EXHAUSTED (with a
  // retry-after) when a limit or the budget would be exceeded.
  virtual absl::StatusOr<v1::AdmitResponse> Admit(const rpc::CallContext& ctx,
                                                  const v1::AdmitRequest& req) = 0;
  // Internal. Records actual usage and releases the reservation; idempotent by request id.
  virtual absl::StatusOr<v1::SettleResponse> Settle(const rpc::CallContext& ctx,
                                                    const v1::SettleRequest& req) = 0;
  virtual absl::StatusOr<v1::QueryUsageResponse> QueryUsage(const rpc::CallContext& ctx,
                                                            const v1::QueryUsageRequest& req) = 0;
  // Streams CSV chunks; see rpc::StreamObserver for the contract. `req` must outlive OnComplete.
  virtual void ExportUsage(rpc::CallContext ctx, const v1::ExportUsageRequest& req,
                           rpc::StreamObserver<v1::ExportUsageChunk>& observer) = 0;
};

}  // namespace aimarket::usage
