#pragma once

// The process's one gRPC server: every service of the process registers on it, plus gRPC's health
// service (one status per service name) and the reflection service (so grpcurl and friends can
// call aimarket without the .proto files).
//
//   GrpcServerBuilder b("0.0.0.0:9090");
//   b.AddService(&router_shim, {"router", "aimarket.router.v1.RouterService"});
//   AIM_ASSIGN_OR_RETURN(std::unique_ptr<GrpcServer> server, std::move(b).Start());
//   server->SetServing(true);

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class Channel;
class Server;
class Service;
}  // namespace grpc

namespace aimarket::grpcutil {

class GrpcServer {
 public:
  ~GrpcServer();
  // The port actually bound (useful with port 0).
  int port() const { return port_; }
  // Sets every registered health name (and "" for the whole server) SERVING or NOT_SERVING.
  void SetServing(bool serving);
  // A channel to this server that skips the network stack (for tests and tools).
  std::shared_ptr<grpc::Channel> InProcessChannel();
  // Drains: reports NOT_SERVING, waits up to `deadline` for the calls in flight (counted by the
  // call adapters of common/grpc/call_adapters.h) to finish, then shuts the server down,
  // cancelling whatever still runs. Waiting on our own count rather than on gRPC's shutdown
  // deadline matters: gRPC keeps waiting for idle client connections that never read the GOAWAY.
  void Shutdown(absl::Duration deadline);

 private:
  friend class GrpcServerBuilder;
  GrpcServer(std::unique_ptr<grpc::Server> server, int port, std::vector<std::string> health_names);
  std::unique_ptr<grpc::Server> server_;
  int port_;
  std::vector<std::string> health_names_;
  bool shut_down_ = false;
};

class GrpcServerBuilder {
 public:
  explicit GrpcServerBuilder(std::string listen) : listen_(std::move(listen)) {}
  // `service` is not owned and must outlive the server. Its health status is reported under each
  // of `health_names` (NOT_SERVING until SetServing(true)).
  void AddService(grpc::Service* service, std::vector<std::string> health_names);
  // Reports `names` in the health service without a gRPC service (e.g. the edge).
  void AddHealthNames(std::vector<std::string> names);
  // UNAVAILABLE if the address cannot be bound.
  absl::StatusOr<std::unique_ptr<GrpcServer>> Start() &&;

 private:
  std::string listen_;
  std::vector<grpc::Service*> services_;
  std::vector<std::string> health_names_;
};

// Calls of aimarket's services in flight in this process (see call_adapters.h).
std::atomic<int>& InFlightCalls();

// A channel to a peer at "host:port" (plaintext; run a mesh or a private network for TLS).
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);

// The HTTP/2 window of each stream a peer's channel receives (MakeChannel).
inline constexpr int kStreamWindowBytes = 256 << 10;

}  // namespace aimarket::grpcutil
