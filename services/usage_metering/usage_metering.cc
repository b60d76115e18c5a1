#include "services/usage_metering/usage_metering.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace aimarket::usage {
namespace {

absl::Status NotBuiltYet(absl::string_view rpc) {
  return absl::UnimplementedError(absl::StrCat("MeteringService.", rpc, " is not implemented yet"));
}

}  // namespace

UsageMetering::UsageMetering(std::unique_ptr<db::ConnectionPool> pool) : pool_(std::move(pool)) {}

void UsageMetering::Admit(const rpc::CallContext&, const v1::AdmitRequest&,
                          rpc::Done<v1::AdmitResponse> done) {
  done(NotBuiltYet("Admit"));
}
void UsageMetering::Settle(const rpc::CallContext&, const v1::SettleRequest&,
                           rpc::Done<v1::SettleResponse> done) {
  done(NotBuiltYet("Settle"));
}
absl::StatusOr<v1::QueryUsageResponse> UsageMetering::QueryUsage(const rpc::CallContext&,
                                                                 const v1::QueryUsageRequest&) {
  return NotBuiltYet("QueryUsage");
}
void UsageMetering::ExportUsage(rpc::CallContext, const v1::ExportUsageRequest&,
                                rpc::StreamObserver<v1::ExportUsageChunk>& observer) {
  observer.OnComplete(NotBuiltYet("ExportUsage"));
}

}  // namespace aimarket::usage
