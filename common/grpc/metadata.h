#pragma once

// Moving a CallContext in and out of gRPC metadata.

#include <string>

#include "absl/status/status.h"
#include "common/rpc/call_context.h"

namespace grpc {
class ClientContext;
class ServerContextBase;
}  // namespace grpc

namespace aimarket::grpcutil {

// Reads authorization, internal token, request id and deadline from an incoming call.
rpc::CallContext FromServerContext(const grpc::ServerContextBase& ctx);

// Writes `cc` into an outgoing call: the caller's authorization, the request id, the deadline,
// and `internal_token` (this process's token; empty sends none).
void ApplyToClientContext(const rpc::CallContext& cc, const std::string& internal_token,
                          grpc::ClientContext& ctx);

// OK if the call presents `expected` as its internal service token; UNAUTHENTICATED with reason
// INTERNAL_TOKEN_REQUIRED otherwise (also when no token is configured: internal RPCs are closed).
absl::Status CheckInternalToken(const rpc::CallContext& cc, const std::string& expected);

}  // namespace aimarket::grpcutil
