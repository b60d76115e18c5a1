#include "common/grpc/metadata.h"

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include "absl/time/clock.h"
#include "common/status/grpc_status.h"

namespace aimarket::grpcutil {
namespace {

std::string Get(const std::multimap<grpc::string_ref, grpc::string_ref>& md, const char* key) {
  auto it = md.find(key);
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

rpc::CallContext FromServerContext(const grpc::ServerContextBase& ctx) {
  rpc::CallContext cc;
  const auto& md = ctx.client_metadata();
  cc.authorization = Get(md, rpc::kAuthorizationHeader);
  cc.internal_token = Get(md, rpc::kInternalTokenHeader);
  cc.request_id = Get(md, rpc::kRequestIdHeader);
  const auto deadline = ctx.deadline();
  if (deadline != std::chrono::system_clock::time_point::max())
    cc.deadline = absl::FromChrono(deadline);
  return cc;
}

void ApplyToClientContext(const rpc::CallContext& cc, const std::string& internal_token,
                          grpc::ClientContext& ctx) {
  if (!cc.authorization.empty()) ctx.AddMetadata(rpc::kAuthorizationHeader, cc.authorization);
  if (!internal_token.empty()) ctx.AddMetadata(rpc::kInternalTokenHeader, internal_token);
  if (!cc.request_id.empty()) ctx.AddMetadata(rpc::kRequestIdHeader, cc.request_id);
  if (cc.deadline != absl::InfiniteFuture()) ctx.set_deadline(absl::ToChronoTime(cc.deadline));
}

absl::Status CheckInternalToken(const rpc::CallContext& cc, const std::string& expected) {
  if (rpc::SecretEquals(cc.internal_token, expected)) return absl::OkStatus();
  return status::Error(absl::StatusCode::kUnauthenticated, "INTERNAL_TOKEN_REQUIRED",
                       "this RPC is internal: it requires the internal service token");
}

}  // namespace aimarket::grpcutil
