// The call plumbing on real ports: a service's C++ API served over gRPC and called through its gRPC
// client (unary and streaming, errors with ErrorInfo, cancellation), draining of the gRPC and HTTP
// servers with calls in flight.

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/grpc/server.h"
#include "common/status/grpc_status.h"
#include "common/status/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/edge/http_server.h"
#include "services/router/router_api.h"
#include "services/router/router_grpc.h"
#include "services/usage_metering/metering_grpc.h"
#include "tests/fakes/fake_metering.h"
#include "tests/fakes/fake_router.h"
#include "tests/util/process.h"

namespace aimarket {
namespace {

using ::aimarket::status::IsOk;
using ::aimarket::status::StatusIs;
using ::testing::ElementsAre;

// Collects a stream's events and waits for its completion.
class Collector final : public rpc::StreamObserver<common::v1::ChatEvent> {
 public:
  void OnEvent(const common::v1::ChatEvent& ev) override {
    absl::MutexLock lock(&mu_);
    contents_.push_back(ev.raw_json());
  }
  void OnComplete(const absl::Status& s) override {
    status_ = s;
    done_.Notify();
  }
  bool Wait(absl::Duration d) { return done_.WaitForNotificationWithTimeout(d); }
  std::vector<std::string> contents() {
    absl::MutexLock lock(&mu_);
    return contents_;
  }
  size_t count() {
    absl::MutexLock lock(&mu_);
    return contents_.size();
  }
  absl::Status status_;

 private:
  absl::Mutex mu_;
  std::vector<std::string> contents_;
  absl::Notification done_;
};

class PlumbingTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    service_ = router::NewRouterGrpcService(fake_, "internal-token");
    grpcutil::GrpcServerBuilder b("127.0.0.1:0");
    b.AddService(service_.get(), {"router"});
    auto server = std::move(b).Start();
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    server_->SetServing(true);
    // Param: true = over loopback TCP, false = gRPC's in-process channel.
    channel_ = GetParam() ? grpcutil::MakeChannel(absl::StrCat("127.0.0.1:", server_->port()))
                          : server_->InProcessChannel();
    client_ = router::NewRouterGrpcClient(channel_, "internal-token");
  }

  fakes::FakeRouter fake_;
  std::unique_ptr<grpc::Service> service_;
  std::unique_ptr<grpcutil::GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<router::RouterApi> client_;
};

INSTANTIATE_TEST_SUITE_P(Channels, PlumbingTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Tcp" : "InProcess"; });

TEST_P(PlumbingTest, UnaryCarriesMetadataAndErrorInfo) {
  rpc::CallContext ctx;
  ctx.authorization = "Bearer k1";
  auto models = client_->ListModels(ctx, {});
  ASSERT_THAT(models, IsOk());
  EXPECT_EQ(models->models(0).id(), "m");
  EXPECT_EQ(fake_.seen_authorization, "Bearer k1");

  absl::Notification answered;
  absl::StatusOr<common::v1::EmbedResponse> embed;
  common::v1::EmbedRequest embed_req;
  client_->Embed(ctx, embed_req, [&](absl::StatusOr<common::v1::EmbedResponse> r) {
    embed = std::move(r);
    answered.Notify();
  });
  answered.WaitForNotification();
  EXPECT_THAT(embed, StatusIs(absl::StatusCode::kResourceExhausted));
  auto info = status::GetErrorInfo(embed.status());
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), "TEAM_RATE_LIMITED");
  EXPECT_EQ(info->retry_after().seconds(), 7);
  EXPECT_EQ(info->param(), "model");
}

TEST_P(PlumbingTest, StreamDeliversEveryEventInOrder) {
  fake_.events_to_send = 200;
  rpc::CallContext ctx;
  ctx.authorization = "Bearer k2";
  ctx.request_id = "req_test";
  common::v1::ChatRequest req;
  req.set_model("gpt-x");
  Collector c;
  client_->Chat(ctx, req, c);
  ASSERT_TRUE(c.Wait(absl::Seconds(30)));
  EXPECT_THAT(c.status_, IsOk());
  std::vector<std::string> got = c.contents();
  ASSERT_EQ(got.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(got[i], absl::StrCat("tok", i));
  EXPECT_EQ(fake_.seen_authorization, "Bearer k2");
  EXPECT_EQ(fake_.seen_request_id, "req_test");
}

TEST_P(PlumbingTest, StreamErrorAfterEventsKeepsItsReason) {
  fake_.events_to_send = 2;
  fake_.final_status =
      status::Error(absl::StatusCode::kUnavailable, "UPSTREAM_DISCONNECTED", "upstream went away")
          .HttpStatus(502);
  common::v1::ChatRequest req;
  Collector c;
  client_->Chat({}, req, c);
  ASSERT_TRUE(c.Wait(absl::Seconds(30)));
  EXPECT_EQ(c.count(), 2u);
  EXPECT_THAT(c.status_, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(status::GetErrorInfo(c.status_)->http_status(), 502);
}

TEST_P(PlumbingTest, CancellingTheCallerCancelsTheService) {
  fake_.stream_until_cancelled = true;
  rpc::CallContext ctx;
  common::v1::ChatRequest req;
  Collector c;
  client_->Chat(ctx, req, c);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (c.count() < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_GE(c.count(), 3u);
  const absl::Time cancelled_at = absl::Now();
  ctx.cancellation->Cancel();
  ASSERT_TRUE(c.Wait(absl::Seconds(10)));
  EXPECT_THAT(c.status_, StatusIs(absl::StatusCode::kCancelled));
  while (!fake_.saw_cancel && absl::Now() < cancelled_at + absl::Seconds(5))
    absl::SleepFor(absl::Milliseconds(5));
  EXPECT_TRUE(fake_.saw_cancel.load());
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(5));
}

TEST_P(PlumbingTest, ShutdownLetsCallsInFlightFinish) {
  fake_.list_delay = absl::Milliseconds(500);
  absl::StatusOr<router::v1::ListModelsResponse> result;
  std::thread caller([&] { result = client_->ListModels({}, {}); });
  // The call is in flight once the service has it (a fixed sleep was too short on a loaded
  // machine).
  EXPECT_TRUE(fake_.list_called.WaitForNotificationWithTimeout(absl::Seconds(30)));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Seconds(10));
  caller.join();
  EXPECT_THAT(result, IsOk());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // It did not sit out the whole deadline.
  // After the drain nothing is served (over TCP; an in-process channel must not outlive its
  // server).
  if (GetParam()) {
    EXPECT_FALSE(client_->ListModels({}, {}).ok());
  }
}

TEST(MeteringPlumbingTest, AdmitAndSettleAnswerAsynchronouslyAcrossGrpc) {
  // Answers Admit later, from a thread of its own, as a remote shard would.
  fakes::FakeMetering fake;
  fake.answer_delay = absl::Milliseconds(50);
  fake.Refuse("teams/over",
              status::Error(absl::StatusCode::kResourceExhausted, "TEAM_BUDGET_EXCEEDED", "no")
                  .RetryAfter(absl::Seconds(3)));
  std::unique_ptr<grpc::Service> service = usage::NewMeteringGrpcService(fake, "secret");
  grpcutil::GrpcServerBuilder b("127.0.0.1:0");
  b.AddService(service.get(), {"usage"});
  auto server = std::move(b).Start();
  ASSERT_THAT(server, IsOk());
  (*server)->SetServing(true);
  auto channel = grpcutil::MakeChannel(absl::StrCat("127.0.0.1:", (*server)->port()));
  std::unique_ptr<usage::MeteringApi> client = usage::NewMeteringGrpcClient(channel, "secret");

  // The caller's thread does not wait: Admit returns before the answer comes.
  absl::Notification answered;
  absl::StatusOr<usage::v1::AdmitResponse> got;
  usage::v1::AdmitRequest req;
  req.set_request_id("req_1");
  req.set_team("teams/t");
  client->Admit(rpc::CallContext(), req, [&](absl::StatusOr<usage::v1::AdmitResponse> r) {
    got = std::move(r);
    answered.Notify();
  });
  EXPECT_FALSE(answered.HasBeenNotified());
  ASSERT_TRUE(answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->reservation_id(), "r-req_1");

  // A refusal keeps its reason and Retry-After across the hop.
  absl::Notification refused;
  req.set_team("teams/over");
  client->Admit(rpc::CallContext(), req, [&](absl::StatusOr<usage::v1::AdmitResponse> r) {
    got = std::move(r);
    refused.Notify();
  });
  ASSERT_TRUE(refused.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(status::GetErrorInfo(got.status())->reason(), "TEAM_BUDGET_EXCEEDED");
  EXPECT_EQ(status::GetErrorInfo(got.status())->retry_after().seconds(), 3);

  // A batch of settlements arrives whole.
  usage::v1::SettleRequest batch;
  for (int i = 0; i < 3; ++i) batch.add_settlements()->set_request_id(absl::StrCat("req_", i));
  absl::Notification settled;
  absl::Status settle_status = absl::UnknownError("unset");
  client->Settle(rpc::CallContext(), batch, [&](absl::StatusOr<usage::v1::SettleResponse> r) {
    settle_status = r.status();
    settled.Notify();
  });
  ASSERT_TRUE(settled.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_THAT(settle_status, IsOk());
  EXPECT_EQ(fake.settled().size(), 3u);

  // Without the internal service token: refused before the service sees it.
  std::unique_ptr<usage::MeteringApi> outsider = usage::NewMeteringGrpcClient(channel, "wrong");
  absl::Notification outsider_done;
  outsider->Settle(rpc::CallContext(), batch, [&](absl::StatusOr<usage::v1::SettleResponse> r) {
    settle_status = r.status();
    outsider_done.Notify();
  });
  ASSERT_TRUE(outsider_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_THAT(settle_status, StatusIs(absl::StatusCode::kUnauthenticated));
  (*server)->Shutdown(absl::ZeroDuration());
}

TEST(HttpServerTest, DrainAnswersInFlightRequestsThenRefuses) {
  std::vector<std::thread> answerers;
  absl::Mutex mu;
  auto server = edge::HttpServer::Start(
      {.listen = "127.0.0.1:0", .io_threads = 2},
      [&](edge::HttpRequest req, std::shared_ptr<edge::ResponseWriter> writer) {
        absl::MutexLock lock(&mu);
        answerers.emplace_back([req = std::move(req), writer] {
          absl::SleepFor(absl::Milliseconds(400));
          edge::HttpResponse r;
          r.body = absl::StrCat(R"({"path":")", req.target, R"("})");
          writer->Send(std::move(r));
        });
      });
  ASSERT_THAT(server, IsOk());
  const std::string url = absl::StrCat("http://127.0.0.1:", (*server)->port(), "/slow");
  testing::HttpResult result;
  std::thread client([&] { result = testing::HttpRequest("GET", url); });
  absl::SleepFor(absl::Milliseconds(150));
  (*server)->Shutdown(absl::Seconds(10));
  client.join();
  EXPECT_EQ(result.status, 200) << result.error;
  EXPECT_EQ(result.body, R"({"path":"/slow"})");
  EXPECT_EQ(result.headers["connection"], "close");
  EXPECT_FALSE(testing::HttpRequest("GET", url).error.empty());  // Refused.
  absl::MutexLock lock(&mu);
  for (auto& t : answerers) t.join();
}

TEST(HttpServerTest, KeepAliveAndBodyLimit) {
  auto server = edge::HttpServer::Start(
      {.listen = "127.0.0.1:0", .io_threads = 1, .max_body_bytes = 100},
      [](edge::HttpRequest req, std::shared_ptr<edge::ResponseWriter> writer) {
        edge::HttpResponse r;
        r.body = absl::StrCat(R"({"len":)", req.body.size(), "}");
        writer->Send(std::move(r));
      });
  ASSERT_THAT(server, IsOk());
  const std::string url = absl::StrCat("http://127.0.0.1:", (*server)->port(), "/x");
  EXPECT_EQ(testing::HttpRequest("POST", url, {}, std::string(100, 'a')).body, R"({"len":100})");
  testing::HttpResult big = testing::HttpRequest("POST", url, {}, std::string(101, 'a'));
  EXPECT_EQ(big.status, 413);
  EXPECT_THAT(big.body, ::testing::HasSubstr(R"("code":"request_too_large")"));
  // A handler that never answers still gets a response (500), never a hang.
  auto silent = edge::HttpServer::Start(
      {.listen = "127.0.0.1:0"}, [](edge::HttpRequest, std::shared_ptr<edge::ResponseWriter>) {});
  ASSERT_THAT(silent, IsOk());
  EXPECT_EQ(
      testing::HttpRequest("GET", absl::StrCat("http://127.0.0.1:", (*silent)->port(), "/")).status,
      500);
}

TEST(HttpServerTest, WritesFromSeveralThreadsKeepTheirOrder) {
  // The handler starts the stream and writes on the I/O thread, a worker writes the rest at once:
  // the response must hold every piece in the order the calls were made.
  std::vector<std::thread> workers;
  absl::Mutex mu;
  auto server =
      edge::HttpServer::Start({.listen = "127.0.0.1:0", .io_threads = 2},
                              [&](edge::HttpRequest, std::shared_ptr<edge::ResponseWriter> writer) {
                                edge::HttpResponse head;
                                head.content_type = "text/plain";
                                writer->StartStream(std::move(head));
                                writer->Write("a;");
                                {
                                  absl::MutexLock lock(&mu);
                                  workers.emplace_back([writer] {
                                    for (int i = 0; i < 200; ++i)
                                      writer->Write(absl::StrCat(i, ";"));
                                    writer->End();
                                  });
                                }
                                // The worker's first writes are made while the handler still runs.
                                absl::SleepFor(absl::Milliseconds(2));
                              });
  ASSERT_THAT(server, IsOk());
  std::string expected = "a;";
  for (int i = 0; i < 200; ++i) absl::StrAppend(&expected, i, ";");
  const std::string url = absl::StrCat("http://127.0.0.1:", (*server)->port(), "/");
  for (int round = 0; round < 30; ++round) {
    testing::HttpResult r = testing::HttpRequest("GET", url);
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.body, expected) << "round " << round;
  }
  (*server)->Shutdown(absl::Seconds(5));
  absl::MutexLock lock(&mu);
  for (auto& t : workers) t.join();
}

TEST(HttpServerTest, StreamsChunksAndNoticesADisconnectingClient) {
  absl::Notification disconnected;
  std::vector<std::thread> streamers;
  absl::Mutex mu;
  auto server = edge::HttpServer::Start(
      {.listen = "127.0.0.1:0", .io_threads = 2},
      [&](edge::HttpRequest req, std::shared_ptr<edge::ResponseWriter> writer) {
        edge::HttpResponse head;
        head.content_type = "text/event-stream";
        writer->StartStream(std::move(head));
        const bool forever = req.target == "/forever";
        writer->OnDisconnect([&disconnected] { disconnected.Notify(); });
        absl::MutexLock lock(&mu);
        streamers.emplace_back([writer, forever] {
          for (int i = 0; forever || i < 5; ++i) {
            if (!writer->Write(absl::StrCat("data: ", i, "\n\n"))) return;  // Client gone.
            absl::SleepFor(absl::Milliseconds(forever ? 20 : 1));
          }
          writer->End();
        });
      });
  ASSERT_THAT(server, IsOk());
  const int port = (*server)->port();
  testing::HttpResult r =
      testing::HttpRequest("GET", absl::StrCat("http://127.0.0.1:", port, "/five"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n");
  EXPECT_EQ(r.headers["transfer-encoding"], "chunked");

  // A raw client that reads the start of an endless stream, then hangs up.
  const int fd = testing::ConnectLoopback(port);
  ASSERT_GE(fd, 0);
  const std::string req = "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  char buf[256];
  ASSERT_GT(read(fd, buf, sizeof(buf)), 0);
  const absl::Time closed_at = absl::Now();
  close(fd);
  EXPECT_TRUE(disconnected.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_LT(absl::Now() - closed_at, absl::Seconds(1));
  (*server)->Shutdown(absl::Seconds(5));
  absl::MutexLock lock(&mu);
  for (auto& t : streamers) t.join();
}

// A plain (not streamed) answer that takes long: nothing is written, yet the client's hang-up
// reaches the handler (the server starts watching a request that has been at work for a while).
TEST(HttpServerTest, NoticesAClientThatHangsUpOnAnUnansweredRequest) {
  absl::Notification disconnected;
  absl::Mutex mu;
  std::shared_ptr<edge::ResponseWriter> held;
  auto server =
      edge::HttpServer::Start({.listen = "127.0.0.1:0", .io_threads = 1},
                              [&](edge::HttpRequest, std::shared_ptr<edge::ResponseWriter> writer) {
                                writer->OnDisconnect([&disconnected] { disconnected.Notify(); });
                                absl::MutexLock lock(&mu);
                                held = std::move(writer);  // Never answers.
                              });
  ASSERT_THAT(server, IsOk());
  const int fd = testing::ConnectLoopback((*server)->port());
  ASSERT_GE(fd, 0);
  const std::string req = "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  absl::SleepFor(absl::Milliseconds(300));  // Past the watch's start: the request is at work.
  const absl::Time closed_at = absl::Now();
  close(fd);
  EXPECT_TRUE(disconnected.WaitForNotificationWithTimeout(absl::Seconds(5)));
  // The documented bound is one second (0.2 s to start watching, then at once).
  EXPECT_LT(absl::Now() - closed_at, absl::Seconds(1));
  {
    absl::MutexLock lock(&mu);
    held.reset();
  }
  (*server)->Shutdown(absl::Seconds(5));
}

// Two requests sent in one write are answered in order on the same connection, the second only
// after the first (whose handler answers late, from another thread).
TEST(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  std::vector<std::thread> workers;
  absl::Mutex mu;
  auto server = edge::HttpServer::Start(
      {.listen = "127.0.0.1:0", .io_threads = 1},
      [&](edge::HttpRequest req, std::shared_ptr<edge::ResponseWriter> writer) {
        absl::MutexLock lock(&mu);
        workers.emplace_back([writer, target = req.target] {
          if (target == "/first") absl::SleepFor(absl::Milliseconds(150));
          edge::HttpResponse r;
          r.content_type = "text/plain";
          r.body = target;
          writer->Send(std::move(r));
        });
      });
  ASSERT_THAT(server, IsOk());
  const int fd = testing::ConnectLoopback((*server)->port());
  ASSERT_GE(fd, 0);
  const std::string reqs =
      "GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(write(fd, reqs.data(), reqs.size()), static_cast<ssize_t>(reqs.size()));
  std::string got;
  char buf[4096];
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (got.find("/second") == std::string::npos && absl::Now() < deadline) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const size_t first = got.find("\r\n\r\n/first");
  const size_t second = got.find("\r\n\r\n/second");
  ASSERT_NE(first, std::string::npos) << got;
  ASSERT_NE(second, std::string::npos) << got;
  EXPECT_LT(first, second);
  (*server)->Shutdown(absl::Seconds(5));
  absl::MutexLock lock(&mu);
  for (auto& t : workers) t.join();
}

bool Send(int fd, absl::string_view data) {
  return write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
}

edge::HttpHandler LengthHandler() {
  return [](edge::HttpRequest req, std::shared_ptr<edge::ResponseWriter> writer) {
    edge::HttpResponse r;
    r.body = absl::StrCat(R"({"len":)", req.body.size(), "}");
    writer->Send(std::move(r));
  };
}

// Finding 4: connections without a key held memory without bound. Past a cap new connections are
// answered 503 at once, while those already open go on.
TEST(HttpServerTest, ConnectionCapsRefuseNewConnectionsAndKeepOldOnes) {
  auto server = edge::HttpServer::Start({.listen = "127.0.0.1:0",
                                         .io_threads = 1,
                                         .max_connections = 0,
                                         .max_connections_per_client = 4},
                                        LengthHandler());
  ASSERT_THAT(server, IsOk());
  const int port = (*server)->port();
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(testing::ConnectLoopback(port));
  absl::SleepFor(absl::Milliseconds(100));
  const int extra = testing::ConnectLoopback(port);
  ASSERT_GE(extra, 0);
  const std::string refused = testing::ReadUntilClosed(extra);
  close(extra);
  EXPECT_THAT(refused, ::testing::StartsWith("HTTP/1.1 503"));
  EXPECT_THAT(refused, ::testing::HasSubstr(R"("code":"server_busy")"));
  // The held connections are served.
  ASSERT_TRUE(Send(held[0], "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  EXPECT_THAT(testing::ReadUntilClosed(held[0]), ::testing::HasSubstr(R"({"len":0})"));
  close(held[0]);
  absl::SleepFor(absl::Milliseconds(100));
  // A slot freed: a new connection is served again.
  EXPECT_EQ(testing::HttpRequest("GET", absl::StrCat("http://127.0.0.1:", port, "/b")).status, 200);
  for (size_t i = 1; i < held.size(); ++i) close(held[i]);

  auto total = edge::HttpServer::Start(
      {.listen = "127.0.0.1:0", .io_threads = 1, .max_connections = 2}, LengthHandler());
  ASSERT_THAT(total, IsOk());
  const int a = testing::ConnectLoopback((*total)->port()),
            b = testing::ConnectLoopback((*total)->port());
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(
      testing::HttpRequest("GET", absl::StrCat("http://127.0.0.1:", (*total)->port(), "/c")).status,
      503);
  close(a);
  close(b);
}

// Finding 4 too: unfinished bodies may hold at most max_buffered_body_bytes in all, each for at
// most body_timeout.
TEST(HttpServerTest, BufferedBodiesAreCappedAndTimed) {
  auto server = edge::HttpServer::Start({.listen = "127.0.0.1:0",
                                         .io_threads = 1,
                                         .max_body_bytes = 800,
                                         .body_timeout = absl::Milliseconds(700),
                                         .max_buffered_body_bytes = 1000},
                                        LengthHandler());
  ASSERT_THAT(server, IsOk());
  const int port = (*server)->port();
  auto post = [](int length) {
    return absl::StrCat("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: ", length, "\r\n\r\n");
  };
  // A holds 700 bytes of budget with its body unfinished.
  const int a = testing::ConnectLoopback(port);
  ASSERT_TRUE(Send(a, post(700) + std::string(100, 'a')));
  absl::SleepFor(absl::Milliseconds(100));
  // B would pass the budget: refused at once, without reading its body.
  const int b = testing::ConnectLoopback(port);
  ASSERT_TRUE(Send(b, post(400) + std::string(400, 'b')));
  const std::string busy = testing::ReadUntilClosed(b);
  close(b);
  EXPECT_THAT(busy, ::testing::StartsWith("HTTP/1.1 503"));
  EXPECT_THAT(busy, ::testing::HasSubstr("Retry-After: 1"));
  // C fits beside A.
  EXPECT_EQ(testing::HttpRequest("POST", absl::StrCat("http://127.0.0.1:", port, "/x"), {},
                                 std::string(200, 'c'))
                .body,
            R"({"len":200})");
  // A finishes and is answered.
  ASSERT_TRUE(Send(a, std::string(600, 'a')));
  const std::string done = testing::ReadUntilClosed(a, absl::Milliseconds(500));
  EXPECT_THAT(done, ::testing::HasSubstr(R"({"len":700})"));
  close(a);
  // D sends part of its body and stalls: cut at body_timeout, and its budget is free again.
  const int d = testing::ConnectLoopback(port);
  ASSERT_TRUE(Send(d, post(800) + "dd"));
  const absl::Time sent = absl::Now();
  testing::ReadUntilClosed(d, absl::Seconds(5));
  EXPECT_LT(absl::Now() - sent, absl::Seconds(3));
  close(d);
  EXPECT_EQ(testing::HttpRequest("POST", absl::StrCat("http://127.0.0.1:", port, "/x"), {},
                                 std::string(800, 'e'))
                .body,
            R"({"len":800})");
}

// CPU time (user + system) of process `pid` so far.
absl::Duration ProcessCpu(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::vector<std::string> fields = absl::StrSplit(text.substr(text.rfind(')') + 2), ' ');
  const long ticks = sysconf(_SC_CLK_TCK);
  return absl::Seconds(static_cast<double>(std::stol(fields[11]) + std::stol(fields[12])) / ticks);
}

// Finding 5: out of file descriptors, the accept loop spun at 100% CPU and said nothing. The server
// (the mock provider's, which is the edge's) runs with 64 descriptors here.
TEST(HttpServerTest, AcceptBacksOffAtTheDescriptorLimit) {
  const int port = testing::FreePort();
  auto mock = testing::Subprocess::Start(
      {"/usr/bin/prlimit", "--nofile=64:64", absl::StrCat(AIMARKET_BIN_DIR, "/mock-provider"),
       absl::StrCat("--listen=127.0.0.1:", port), "--threads=1",
       absl::StrCat("--fixtures=", AIMARKET_SOURCE_DIR, "/tests/testdata/providers")});
  ASSERT_THAT(mock, IsOk());
  const std::string stats = absl::StrCat("http://127.0.0.1:", port, "/__mock/stats");
  for (int i = 0; i < 100 && testing::HttpRequest("GET", stats).status != 200; ++i)
    absl::SleepFor(absl::Milliseconds(50));
  std::vector<int> conns;
  for (int i = 0; i < 100; ++i) conns.push_back(testing::ConnectLoopback(port));
  absl::SleepFor(absl::Milliseconds(300));
  const absl::Duration before = ProcessCpu((*mock)->pid());
  absl::SleepFor(absl::Seconds(2));
  const absl::Duration used = ProcessCpu((*mock)->pid()) - before;
  EXPECT_LT(used, absl::Milliseconds(400)) << "spinning at the descriptor limit";
  EXPECT_THAT((*mock)->output(), ::testing::HasSubstr("out of file descriptors"));
  for (int fd : conns) close(fd);
  // Descriptors back: it accepts again.
  int status = 0;
  for (int i = 0; i < 50 && (status = testing::HttpRequest("GET", stats).status) != 200; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(status, 200);
  EXPECT_THAT((*mock)->output(), ::testing::HasSubstr("accepting HTTP connections again"));
}

// HEAD answers the headers alone; absolute-form targets are served as origin-form.
TEST(HttpServerTest, HeadHasNoBodyAndAbsoluteTargetsAreServed) {
  auto server =
      edge::HttpServer::Start({.listen = "127.0.0.1:0", .io_threads = 1},
                              [](edge::HttpRequest req, std::shared_ptr<edge::ResponseWriter> w) {
                                edge::HttpResponse r;
                                r.body = absl::StrCat(R"({"target":")", req.target, R"("})");
                                w->Send(std::move(r));
                              });
  ASSERT_THAT(server, IsOk());
  const int fd = testing::ConnectLoopback((*server)->port());
  ASSERT_TRUE(Send(
      fd,
      "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET HTTP://example.com:80/p?q=1 HTTP/1.1\r\nHost: x\r\n"
      "Connection: close\r\n\r\n"));
  const std::string got = testing::ReadUntilClosed(fd);
  close(fd);
  const size_t head_end = got.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  EXPECT_THAT(got.substr(0, head_end),
              ::testing::HasSubstr("Content-Length: 15"));  // {"target":"/h"}
  EXPECT_EQ(got.substr(head_end + 4, 9), "HTTP/1.1 ");
  EXPECT_TRUE(absl::EndsWith(got, R"({"target":"/p?q=1"})")) << got;
}

}  // namespace
}  // namespace aimarket
