#include "common/status/grpc_status.h"

#include <utility>

namespace aimarket::status {

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // absl and gRPC share the google.rpc.Code numbering, so the cast is exact for every code.
  const auto code = static_cast<grpc::StatusCode>(static_cast<int>(s.code()));
  std::optional<common::v1::ErrorInfo> info = GetErrorInfo(s);
  if (!info) return grpc::Status(code, std::string(s.message()));
  return grpc::Status(code, std::string(s.message()), info->SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(static_cast<int>(s.error_code())),
                   s.error_message());
  if (!s.error_details().empty()) {
    common::v1::ErrorInfo info;
    if (info.ParseFromString(s.error_details())) out = WithErrorInfo(std::move(out), info);
  }
  return out;
}

}  // namespace aimarket::status
