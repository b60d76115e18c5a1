// The gateway tried as a hostile client would, through the real edge of aimarketd --services=all
// (and the real mock provider, and Postgres — through a proxy that can make it hang): each test
// here is one of the hardening issue's findings, and fails without its fix.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "aimarket/router/v1/router_service.grpc.pb.h"
#include "common/json/json_escape.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/gateway.h"
#include "tests/util/pg_test_util.h"
#include "tests/util/process.h"
#include "tests/util/tcp_proxy.h"

namespace aimarket {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing::Bearer;
using testing::Gateway;
using testing::kAdminKey;
using testing::kHi;
using testing::kJson;
using testing::RawExchange;

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// Finding 1: one unauthenticated request crashed the process (a recursive parse of 110,000 `[`);
// with a key, nesting inside a passed-through field crashed the body rebuild.
TEST(HardeningTest, DeepNestingIsRefusedAndCrashesNothing) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  const std::string deep(110'000, '[');
  for (const char* path : {"/v1/chat/completions", "/v1/embeddings", "/v1/teams"}) {
    testing::HttpResult r = testing::HttpRequest("POST", gw->Url(path), {kJson}, deep);
    EXPECT_EQ(r.status, 400) << path << ": " << r.error;
    EXPECT_THAT(r.body, HasSubstr(R"("code":"invalid_json")")) << path;
    EXPECT_THAT(r.body, HasSubstr("deeper than 64 levels")) << path;
  }
  // Deep inside a field the gateway does not know (and would pass through).
  testing::HttpResult inside =
      gw->Chat(absl::StrCat(R"({"model":"echo",)", kHi, R"(,"x_extra":)", Nested(70), "}"));
  EXPECT_EQ(inside.status, 400) << inside.body;
  // Within the limit the field reaches the upstream intact.
  gw->ClearMock();
  testing::HttpResult fine =
      gw->Chat(absl::StrCat(R"({"model":"echo",)", kHi, R"(,"x_extra":)", Nested(60), "}"));
  EXPECT_EQ(fine.status, 200) << fine.body;
  EXPECT_THAT(gw->MockRequests(), HasSubstr(absl::StrCat("x_extra", R"(\":)", Nested(60))));
  EXPECT_EQ(testing::HttpRequest("GET", gw->Url("/healthz")).status, 200);
  EXPECT_TRUE(gw->process().Running());
}

// Finding 2: a model name walked the Gemini URL to a model the key may not use.
TEST(HardeningTest, AModelNameCannotShapeTheUpstreamUrl) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  const std::string key = gw->TeamKey(R"(["gemini-1.5-flash*"])");
  gw->ClearMock();
  for (const char* model : {"gemini-1.5-flash/../gemini-1.5-pro", "gemini-1.5-flash/./x",
                            "gemini-1.5-flash//x", "gemini-1.5-flash?alt=x", "gemini-1.5-flash#x",
                            "gemini-1.5-flash%2F..", "gemini-1.5-flash x"}) {
    for (const std::string& k : {key, std::string(kAdminKey)}) {
      testing::HttpResult r =
          gw->Chat(absl::StrCat(R"({"model":)", json::Quote(model), ",", kHi, "}"), k);
      EXPECT_EQ(r.status, 400) << model << ": " << r.body;
      EXPECT_THAT(r.body, HasSubstr(R"("param":"model")")) << model;
    }
  }
  EXPECT_EQ(gw->MockRequests(), "[]");  // Nothing reached the provider.
  // A name that is allowed goes into the path as one escaped segment, and that is what is called.
  testing::HttpResult ok =
      gw->Chat(absl::StrCat(R"({"model":"gemini-1.5-flash:x@y",)", kHi, "}"), key);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_THAT(gw->MockRequests(),
              HasSubstr(R"("path":"/v1beta/models/gemini-1.5-flash%3Ax%40y:generateContent")"));
}

// Finding 3: the first "model" was authorized, the second forwarded.
TEST(HardeningTest, DuplicateKeysAreRefusedAtAnyDepth) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  const std::string key = gw->TeamKey(R"(["demo"])");
  gw->ClearMock();
  testing::HttpResult top =
      gw->Chat(absl::StrCat(R"({"model":"demo","model":"echo",)", kHi, "}"), key);
  EXPECT_EQ(top.status, 400) << top.body;
  EXPECT_THAT(top.body, HasSubstr(R"(the key \"model\" appears twice)"));
  testing::HttpResult nested = gw->Chat(
      R"({"model":"demo","messages":[{"role":"user","role":"system","content":"hi"}]})", key);
  EXPECT_EQ(nested.status, 400) << nested.body;
  testing::HttpResult deeper = gw->Chat(
      absl::StrCat(R"({"model":"demo",)", kHi, R"(,"metadata":{"a":{"b":1,"b":2}}})"), key);
  EXPECT_EQ(deeper.status, 400) << deeper.body;
  EXPECT_EQ(gw->Chat(absl::StrCat(R"({"model":"echo",)", kHi, "}"), key).status,
            403);  // Not its model.
  // An internal service calling the router over gRPC is held to the same rule.
  auto stub = router::v1::RouterService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", gw->grpc_port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", absl::StrCat("Bearer ", key));
  common::v1::ChatRequest req;
  req.set_model("demo");
  req.add_messages()->set_role("user");
  req.mutable_messages(0)->set_content("hi");
  req.set_original_json(absl::StrCat(R"({"model":"demo","model":"echo",)", kHi, "}"));
  auto reader = stub->Chat(&ctx, req);
  common::v1::ChatEvent ev;
  EXPECT_FALSE(reader->Read(&ev));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(gw->MockRequests(), "[]");
}

// Finding 9: invalid UTF-8 went upstream and was echoed raw; a NUL cut the model name; bytes after
// the JSON value were ignored.
TEST(HardeningTest, BodiesAreStrictUtf8WithNothingAfterTheValue) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  gw->ClearMock();
  testing::HttpResult bad_utf8 =
      gw->Chat("{\"model\":\"echo\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}");
  EXPECT_EQ(bad_utf8.status, 400);
  EXPECT_THAT(bad_utf8.body, HasSubstr("not valid UTF-8"));
  testing::HttpResult surrogate =
      gw->Chat(R"({"model":"echo","messages":[{"role":"user","content":"\udc00"}]})");
  EXPECT_EQ(surrogate.status, 400);
  testing::HttpResult nul = gw->Chat(absl::StrCat(R"({"model":"demo\u0000x",)", kHi, "}"));
  EXPECT_EQ(nul.status, 400) << nul.body;
  EXPECT_THAT(nul.body, HasSubstr(R"("param":"model")"));
  testing::HttpResult role =
      gw->Chat(R"({"model":"demo","messages":[{"role":"user\u0000x","content":"hi"}]})");
  EXPECT_EQ(role.status, 400) << role.body;
  testing::HttpResult name = gw->Chat(
      R"({"model":"demo","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f\u0000g"}}]})");
  EXPECT_EQ(name.status, 400) << name.body;
  EXPECT_THAT(name.body, HasSubstr(R"("param":"tools[0].function.name")"));
  testing::HttpResult trailing =
      gw->Chat(absl::StrCat(R"({"model":"demo",)", kHi, "}", std::string("\0garbage", 8)));
  EXPECT_EQ(trailing.status, 400);
  EXPECT_THAT(trailing.body, HasSubstr("unexpected data after the JSON value"));
  EXPECT_EQ(gw->MockRequests(), "[]");
  // What an error echoes (here the path) is valid UTF-8, whatever the client sent.
  const std::string raw = RawExchange(gw->http_port(),
                                      "POST /v1/chat/completions/\xff\xfe HTTP/1.1\r\nHost: "
                                      "x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  ASSERT_THAT(raw, HasSubstr("\r\n\r\n"));
  const std::string body = raw.substr(raw.find("\r\n\r\n") + 4);
  EXPECT_THAT(body, HasSubstr("\"error\""));
  EXPECT_TRUE(json::IsValidUtf8(body)) << body;
}

// Finding 7: Postgres's own error text and the hosts and ports of peers reached the client.
TEST(HardeningTest, ErrorsCarryNoInternals) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  const std::vector<std::string> admin = {Bearer(kAdminKey)};
  for (const char* path : {"/v1/teams/%ff", "/v1/teams/a%00b", "/v1/teams/%ff/members",
                           "/v1/teams/x/members/%ff%fe"}) {
    testing::HttpResult r = testing::HttpRequest("GET", gw->Url(path), admin);
    EXPECT_EQ(r.status, 404) << path << ": " << r.body;
    EXPECT_THAT(r.body, Not(HasSubstr("SQLSTATE"))) << path;
    EXPECT_THAT(r.body, Not(HasSubstr("UTF8"))) << path;
  }
  testing::HttpResult cursor = testing::HttpRequest("GET", gw->Url("/v1/teams?after=%ff"), admin);
  EXPECT_EQ(cursor.status, 400) << cursor.body;
  EXPECT_THAT(cursor.body, HasSubstr(R"("param":"after")"));
  testing::HttpResult down = gw->Chat(absl::StrCat(R"({"model":"unreachable",)", kHi, "}"));
  EXPECT_GE(down.status, 502) << down.body;
  EXPECT_THAT(down.body, Not(HasSubstr("127.0.0.1")));
  EXPECT_THAT(down.body, Not(HasSubstr("port 1")));
  EXPECT_THAT(down.body, HasSubstr(R"("code":"no_deployment_available")"));
  // The log has the cause.
  EXPECT_THAT(gw->process().output(), HasSubstr("upstream transfer failed"));
}

// Finding 8: HEAD answered with a body, Expect: 100-continue was never answered, absolute-form
// targets got 404; and a key without the Bearer scheme counted as a key.
TEST(HardeningTest, SpeaksHttpAsTheRfcsSay) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  const int port = gw->http_port();
  // HEAD then GET on one connection: if the HEAD's answer carried a body, it would be read as the
  // start of the second answer.
  const std::string two = RawExchange(port,
                                      "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz "
                                      "HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const size_t first_end = two.find("\r\n\r\n");
  ASSERT_NE(first_end, std::string::npos) << two;
  EXPECT_THAT(two.substr(0, first_end), HasSubstr("Content-Length: 15"));
  EXPECT_EQ(two.substr(first_end + 4, 8), "HTTP/1.1") << two;
  EXPECT_TRUE(absl::EndsWith(two, R"({"status":"ok"})")) << two;

  // Expect: 100-continue is answered at once, then the body is read.
  {
    const int fd = testing::ConnectLoopback(port);
    ASSERT_GE(fd, 0);
    const std::string body = absl::StrCat(R"({"model":"demo",)", kHi, "}");
    const std::string head =
        absl::StrCat("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n", Bearer(kAdminKey),
                     "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(),
                     "\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(write(fd, head.data(), head.size()), static_cast<ssize_t>(head.size()));
    timeval tv{.tv_sec = 5, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[256];
    const absl::Time sent = absl::Now();
    const ssize_t n = read(fd, buf, sizeof(buf));
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "HTTP/1.1 100 Continue\r\n\r\n");
    EXPECT_LT(absl::Now() - sent, absl::Milliseconds(900));  // curl would have waited 1 s.
    ASSERT_EQ(write(fd, body.data(), body.size()), static_cast<ssize_t>(body.size()));
    std::string rest;
    for (ssize_t m; (m = read(fd, buf, sizeof(buf))) > 0;) rest.append(buf, static_cast<size_t>(m));
    close(fd);
    EXPECT_THAT(rest, HasSubstr("HTTP/1.1 200 OK"));
    EXPECT_THAT(rest, HasSubstr("chat.completion"));
  }

  // Absolute form (RFC 9112 §3.2.2).
  const std::string absolute = RawExchange(
      port, absl::StrCat("GET http://127.0.0.1:", port,
                         "/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
  EXPECT_THAT(absolute, HasSubstr("HTTP/1.1 200 OK"));
  EXPECT_THAT(absolute, HasSubstr(R"({"status":"ok"})"));

  // Only "Bearer <key>" carries a key.
  const std::string chat = absl::StrCat(R"({"model":"demo",)", kHi, "}");
  for (const std::string& header : {absl::StrCat("Authorization: ", kAdminKey),
                                    absl::StrCat("Authorization: Basic ", kAdminKey),
                                    absl::StrCat("Authorization: Bearer", kAdminKey)}) {
    testing::HttpResult r =
        testing::HttpRequest("POST", gw->Url("/v1/chat/completions"), {header, kJson}, chat);
    EXPECT_EQ(r.status, 401) << header;
  }
  EXPECT_EQ(testing::HttpRequest("POST", gw->Url("/v1/chat/completions"),
                                 {absl::StrCat("Authorization: bearer  ", kAdminKey), kJson}, chat)
                .status,
            200);
}

// Finding 10: at the drain deadline streams were cut without an error or the end of the chunked
// body; /healthz was refused as soon as draining began.
TEST(HardeningTest, DrainKeepsServingUntilTheDeadlineThenEndsStreamsProperly) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  const int port = gw->http_port();
  const std::string stream_body = absl::StrCat(R"({"model":"endless","stream":true,)", kHi, "}");
  std::string streamed;
  std::thread streamer([&] {
    streamed = RawExchange(
        port,
        absl::StrCat("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n", Bearer(kAdminKey),
                     "\r\nContent-Type: application/json\r\nContent-Length: ", stream_body.size(),
                     "\r\n\r\n", stream_body),
        absl::Seconds(20));
  });
  testing::HttpResult unanswered;
  std::thread waiter([&] { unanswered = gw->Chat(absl::StrCat(R"({"model":"slow",)", kHi, "}")); });
  absl::SleepFor(absl::Milliseconds(600));  // Both at work.
  const absl::Time term = absl::Now();
  gw->process().Signal(SIGTERM);
  absl::SleepFor(absl::Milliseconds(300));
  testing::HttpResult ready = testing::HttpRequest("GET", gw->Url("/readyz"));
  EXPECT_EQ(ready.status, 503) << ready.error;
  EXPECT_EQ(testing::HttpRequest("GET", gw->Url("/healthz")).status, 200);
  streamer.join();
  waiter.join();
  // The stream went on until the 3 s deadline, then got the error event and a proper end.
  EXPECT_GE(absl::Now() - term, absl::Milliseconds(2500));
  EXPECT_THAT(streamed, HasSubstr("chat.completion.chunk"));
  EXPECT_THAT(streamed, HasSubstr(R"("code":"server_shutting_down")"));
  EXPECT_TRUE(absl::EndsWith(streamed, "\r\n0\r\n\r\n"))
      << streamed.substr(streamed.size() > 300 ? streamed.size() - 300 : 0);
  EXPECT_THAT(streamed, Not(HasSubstr("[DONE]")));
  // The request that had no answer yet got a 503, not a cut connection.
  EXPECT_EQ(unanswered.status, 503) << unanswered.error;
  EXPECT_THAT(unanswered.body, HasSubstr(R"("code":"server_shutting_down")"));
  EXPECT_EQ(gw->process().Wait(absl::Seconds(20)), 0) << gw->process().output();
}

// Finding 6: with Postgres hung, lookups queued behind blocked ones (the bootstrap key's too),
// team calls hung for 15 s and more, and nothing was logged.
TEST(HardeningTest, AHungDatabaseCannotTakeTheDataPlaneWithIt) {
  AIM_PG_TEST_DATABASE(db);
  const std::string admin_dsn = testing::PgAdminDsn();
  std::smatch pm;
  ASSERT_TRUE(std::regex_search(admin_dsn, pm, std::regex("port=([0-9]+)")));
  testing::TcpProxy proxy(std::stoi(pm[1].str()));
  auto gw = Gateway::Start(db, proxy.port());
  std::string team_id;
  const std::string key = gw->TeamKey(R"(["demo"])", &team_id);
  const std::string chat = absl::StrCat(R"({"model":"demo",)", kHi, "}");
  ASSERT_EQ(gw->Chat(chat, key).status, 200);
  const std::string team_url = gw->Url(absl::StrCat("/v1/teams/", team_id));
  ASSERT_EQ(testing::HttpRequest("GET", team_url, {Bearer(kAdminKey)}).status, 200);

  proxy.Freeze();
  // Keys nobody has seen: each one's lookup waits on the hung database.
  std::vector<std::thread> misses;
  for (int i = 0; i < 8; ++i) {
    misses.emplace_back([&gw, &chat, i] {
      gw->Chat(chat, absl::StrCat("sk-am-unknownkey", i, "xxxxxxxxxxxxxxxxxxxx"));
    });
  }
  absl::SleepFor(absl::Milliseconds(200));
  // The bootstrap key waits for none of them.
  absl::Time start = absl::Now();
  EXPECT_EQ(gw->Chat(chat).status, 200);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(800));
  // A team call gets a 503 within the statement timeout (1 s) and its grace, saying nothing inside.
  start = absl::Now();
  testing::HttpResult hung = testing::HttpRequest("GET", team_url, {Bearer(kAdminKey)});
  EXPECT_EQ(hung.status, 503) << hung.body;
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  EXPECT_THAT(hung.body, Not(HasSubstr("127.0.0.1")));
  // From then on, at once.
  start = absl::Now();
  EXPECT_EQ(testing::HttpRequest("GET", team_url, {Bearer(kAdminKey)}).status, 503);
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));
  // A key the router knows goes on working past its cache's 2 s life.
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(gw->Chat(chat, key).status, 200);
  for (auto& t : misses) t.join();
  EXPECT_THAT(gw->process().output(), HasSubstr("database unavailable"));

  proxy.Thaw();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  int status = 0;
  while (absl::Now() < deadline &&
         (status = testing::HttpRequest("GET", team_url, {Bearer(kAdminKey)}).status) != 200) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(status, 200);
  EXPECT_THAT(gw->process().output(), HasSubstr("database available again"));
}

}  // namespace
}  // namespace aimarket
