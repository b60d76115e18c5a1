#include "common/grpc/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace aimarket::grpcutil {

GrpcServer::GrpcServer(std::unique_ptr<grpc::Server> server, int port,
                       std::vector<std::string> health_names)
    : server_(std::move(server)), port_(port), health_names_(std::move(health_names)) {}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

void GrpcServer::SetServing(bool serving) {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  for (const std::string& name : health_names_) health->SetServingStatus(name, serving);
  health->SetServingStatus(serving);
}

std::shared_ptr<grpc::Channel> GrpcServer::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

std::atomic<int>& InFlightCalls() {
  static std::atomic<int> calls{0};
  return calls;
}

void GrpcServer::Shutdown(absl::Duration deadline) {
  if (!server_ || shut_down_) return;
  shut_down_ = true;
  SetServing(false);
  const absl::Time end = absl::Now() + deadline;
  while (InFlightCalls().load() > 0 && absl::Now() < end) absl::SleepFor(absl::Milliseconds(10));
  // A call counts as done once its answer is handed to gRPC, which may still be sending it: when
  // every call is done, gRPC gets a moment to finish sending (its Shutdown returns as soon as it
  // has; a deadline of "now" would cancel those answers on their way out). Calls still at work
  // after the drain deadline are cancelled at once.
  const bool idle = InFlightCalls().load() == 0;
  server_->Shutdown(std::chrono::system_clock::now() +
                    (idle ? std::chrono::seconds(2) : std::chrono::seconds(0)));
  server_->Wait();
}

void GrpcServerBuilder::AddService(grpc::Service* service, std::vector<std::string> health_names) {
  services_.push_back(service);
  AddHealthNames(std::move(health_names));
}

void GrpcServerBuilder::AddHealthNames(std::vector<std::string> names) {
  for (std::string& n : names) health_names_.push_back(std::move(n));
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServerBuilder::Start() && {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen_, grpc::InsecureServerCredentials(), &port);
  for (grpc::Service* s : services_) builder.RegisterService(s);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for gRPC on ", listen_));
  }
  auto out = std::unique_ptr<GrpcServer>(
      new GrpcServer(std::move(server), port, std::move(health_names_)));
  // Every name is known to the health service from the start, NOT_SERVING until the process is
  // ready.
  out->SetServing(false);
  return out;
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  // Keep idle connections to peers warm; fail fast instead of hanging when a peer is down.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  // What a stream may hold unread before its sender is held back: a fixed window (BDP probing
  // would grow it to several MiB a stream), so that backpressure through a gRPC hop costs a
  // bounded amount per stream (docs/security.md). Peers sit in one cluster, where 256 KiB in
  // flight is far more than a round trip needs.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, kStreamWindowBytes);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

}  // namespace aimarket::grpcutil
