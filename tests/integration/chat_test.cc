// Chat completions through the real edge, router and provider-adapter (aimarketd --services=all)
// against the real mock provider: every bad input, upstream faults, cancellation, and the router's
// gRPC API called directly as an internal service would.

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "aimarket/provider/v1/provider_service.grpc.pb.h"
#include "aimarket/router/v1/router_service.grpc.pb.h"
#include "common/status/grpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/pg_test_util.h"
#include "tests/util/process.h"

namespace aimarket {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKey[] = "sk-aim-chat-test-key";

class ChatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string admin = testing::PgAdminDsn();
    if (admin.empty()) return;
    auto db = testing::TestDatabase::Create(admin);
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = db->release();
    dir_ = new testing::TempDir();
    mock_port_ = testing::FreePort();
    auto mock = testing::Subprocess::Start(
        {absl::StrCat(AIMARKET_BIN_DIR, "/mock-provider"),
         absl::StrCat("--listen=127.0.0.1:", mock_port_),
         absl::StrCat("--fixtures=", AIMARKET_SOURCE_DIR, "/tests/testdata/providers")});
    ASSERT_TRUE(mock.ok());
    mock_ = mock->release();
    grpc_port_ = testing::FreePort();
    http_port_ = testing::FreePort();
    const std::string cfg = dir_->WriteFile(
        "chat.yaml", absl::StrFormat(R"(
server: {grpc_listen: "127.0.0.1:%d", drain_timeout: 5s}
edge: {listen: "127.0.0.1:%d", max_body_bytes: 65536}
providers:
  - {name: mock, type: openai, base_url: "http://127.0.0.1:%d/v1", first_byte_timeout: 2s, idle_timeout: 2s}
  - {name: dead, type: openai, base_url: "http://127.0.0.1:1/v1"}
  - {name: mock-short-idle, type: openai, base_url: "http://127.0.0.1:%d/v1", first_byte_timeout: 10s, idle_timeout: 1s}
  - {name: local-ollama, type: ollama, base_url: "http://127.0.0.1:%d"}
  - {name: keyless-claude, type: anthropic, base_url: "http://127.0.0.1:1", api_key_env: AIMARKET_TEST_NEVER_SET}
models:
  - {name: demo, deployments: [{provider: mock, model: "synthetic?tokens=6", input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: dies, deployments: [{provider: mock, model: "synthetic?tokens=10&chunks=10&fail_after=4", input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: endless, deployments: [{provider: mock, model: "synthetic?tokens=2000&chunks=2000&delay_ms=20", input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: slow, deployments: [{provider: mock, model: "synthetic?delay_ms=5000", input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: silent-stream, deployments: [{provider: mock-short-idle, model: "synthetic?tokens=3&chunks=3&delay_ms=1500", input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: silent-start, deployments: [{provider: mock, model: "synthetic?tokens=3&chunks=3&delay_ms=4000", input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: unreachable, deployments: [{provider: dead, model: x, input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: limited, deployments: [{provider: mock, model: "synthetic?status=429&retry_after=7", input_per_mtok: 1, output_per_mtok: 2}, {provider: mock, model: "synthetic?tokens=2", input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: limited-only, deployments: [{provider: mock, model: "synthetic?status=429&retry_after=7", input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: bad-request, deployments: [{provider: mock, model: "synthetic?status=400", input_per_mtok: 1, output_per_mtok: 2}, {provider: mock, model: "synthetic", input_per_mtok: 1, output_per_mtok: 2}]}
)",
                                     grpc_port_, http_port_, mock_port_, mock_port_, mock_port_));
    const std::map<std::string, std::string> env = {{"AIMARKET_PG_DSN", db_->dsn()},
                                                    {"AIMARKET_ADMIN_KEY", kKey},
                                                    {"AIMARKET_INTERNAL_TOKEN", "t"}};
    std::string out;
    ASSERT_EQ(testing::RunCommand(
                  {absl::StrCat(AIMARKET_BIN_DIR, "/aimarketd"), "migrate", "--config=" + cfg}, env,
                  &out),
              0)
        << out;
    auto gw = testing::Subprocess::Start(
        {absl::StrCat(AIMARKET_BIN_DIR, "/aimarketd"), "--config=" + cfg}, env);
    ASSERT_TRUE(gw.ok());
    gateway_ = gw->release();
    const absl::Time deadline = absl::Now() + absl::Seconds(90);
    while (absl::Now() < deadline && testing::HttpRequest("GET", Url("/readyz")).status != 200) {
      ASSERT_TRUE(gateway_->Running()) << gateway_->output();
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  static void TearDownTestSuite() {
    if (gateway_ != nullptr) {
      gateway_->Signal(SIGTERM);
      EXPECT_EQ(gateway_->Wait(absl::Seconds(30)), 0) << gateway_->output();
      EXPECT_THAT(gateway_->output(), Not(HasSubstr(kKey)));
    }
    delete gateway_;
    delete mock_;
    delete dir_;
    delete db_;
  }

  void SetUp() override {
    if (db_ == nullptr) {
      if (testing::PgRequired()) FAIL() << "AIMARKET_TEST_PG_DSN is not set";
      GTEST_SKIP() << "AIMARKET_TEST_PG_DSN is not set; run tools/dev test";
    }
  }

  static std::string Url(absl::string_view path) {
    return absl::StrCat("http://127.0.0.1:", http_port_, path);
  }
  static testing::HttpResult Post(const std::string& body,
                                  const std::vector<std::string>& extra = {},
                                  absl::string_view path = "/v1/chat/completions") {
    std::vector<std::string> headers = {absl::StrCat("Authorization: Bearer ", kKey),
                                        "Content-Type: application/json"};
    for (const auto& h : extra) headers.push_back(h);
    return testing::HttpRequest("POST", Url(path), headers, body);
  }
  static std::string MockStats() {
    return testing::HttpRequest("GET",
                                absl::StrCat("http://127.0.0.1:", mock_port_, "/__mock/stats"))
        .body;
  }

  static inline testing::TestDatabase* db_ = nullptr;
  static inline testing::TempDir* dir_ = nullptr;
  static inline testing::Subprocess* mock_ = nullptr;
  static inline testing::Subprocess* gateway_ = nullptr;
  static inline int mock_port_ = 0, grpc_port_ = 0, http_port_ = 0;
};

constexpr char kMessages[] = R"("messages":[{"role":"user","content":"hi"}])";

TEST_F(ChatTest, EveryBadInputGetsItsOpenAiError) {
  struct Case {
    std::string name;
    std::string method, path, body;
    std::vector<std::string> headers;  // Replaces the default Authorization when set.
    long status;
    std::string type, param, code;
  };
  const std::string auth = absl::StrCat("Authorization: Bearer ", kKey);
  const std::vector<Case> cases = {
      {"malformed JSON",
       "POST",
       "/v1/chat/completions",
       "{\"model\":",
       {auth},
       400,
       "invalid_request_error",
       "null",
       "\"invalid_json\""},
      {"not an object",
       "POST",
       "/v1/chat/completions",
       "[1,2]",
       {auth},
       400,
       "invalid_request_error",
       "null",
       "\"invalid_json\""},
      {"missing model",
       "POST",
       "/v1/chat/completions",
       absl::StrCat("{", kMessages, "}"),
       {auth},
       400,
       "invalid_request_error",
       "\"model\"",
       "\"missing_required_parameter\""},
      {"model not a string",
       "POST",
       "/v1/chat/completions",
       absl::StrCat("{\"model\":5,", kMessages, "}"),
       {auth},
       400,
       "invalid_request_error",
       "\"model\"",
       "\"invalid_type\""},
      {"missing messages",
       "POST",
       "/v1/chat/completions",
       R"({"model":"demo"})",
       {auth},
       400,
       "invalid_request_error",
       "\"messages\"",
       "\"missing_required_parameter\""},
      {"messages not an array",
       "POST",
       "/v1/chat/completions",
       R"({"model":"demo","messages":"hi"})",
       {auth},
       400,
       "invalid_request_error",
       "\"messages\"",
       "\"invalid_type\""},
      {"empty messages",
       "POST",
       "/v1/chat/completions",
       R"({"model":"demo","messages":[]})",
       {auth},
       400,
       "invalid_request_error",
       "\"messages\"",
       "\"invalid_value\""},
      {"message without role",
       "POST",
       "/v1/chat/completions",
       R"({"model":"demo","messages":[{"content":"x"}]})",
       {auth},
       400,
       "invalid_request_error",
       "\"messages[0].role\"",
       "\"missing_required_parameter\""},
      {"unknown role",
       "POST",
       "/v1/chat/completions",
       R"({"model":"demo","messages":[{"role":"user","content":"a"},{"role":"robot","content":"x"}]})",
       {auth},
       400,
       "invalid_request_error",
       "\"messages[1].role\"",
       "\"invalid_value\""},
      {"temperature as text",
       "POST",
       "/v1/chat/completions",
       absl::StrCat(R"({"model":"demo","temperature":"hot",)", kMessages, "}"),
       {auth},
       400,
       "invalid_request_error",
       "\"temperature\"",
       "\"invalid_type\""},
      {"stream as text",
       "POST",
       "/v1/chat/completions",
       absl::StrCat(R"({"model":"demo","stream":"yes",)", kMessages, "}"),
       {auth},
       400,
       "invalid_request_error",
       "\"stream\"",
       "\"invalid_type\""},
      {"n below 1",
       "POST",
       "/v1/chat/completions",
       absl::StrCat(R"({"model":"demo","n":0,)", kMessages, "}"),
       {auth},
       400,
       "invalid_request_error",
       "\"n\"",
       "\"invalid_value\""},
      {"tool without name",
       "POST",
       "/v1/chat/completions",
       absl::StrCat(R"({"model":"demo","tools":[{"type":"function","function":{}}],)", kMessages,
                    "}"),
       {auth},
       400,
       "invalid_request_error",
       "\"tools[0].function.name\"",
       "\"missing_required_parameter\""},
      {"unknown model",
       "POST",
       "/v1/chat/completions",
       absl::StrCat(R"({"model":"nope",)", kMessages, "}"),
       {auth},
       404,
       "invalid_request_error",
       "\"model\"",
       "\"model_not_found\""},
      {"no key",
       "POST",
       "/v1/chat/completions",
       absl::StrCat(R"({"model":"demo",)", kMessages, "}"),
       {"X-None: 1"},
       401,
       "authentication_error",
       "null",
       "\"missing_api_key\""},
      {"wrong key",
       "POST",
       "/v1/chat/completions",
       absl::StrCat(R"({"model":"demo",)", kMessages, "}"),
       {"Authorization: Bearer sk-wrong"},
       401,
       "authentication_error",
       "null",
       "\"invalid_api_key\""},
      {"body too large",
       "POST",
       "/v1/chat/completions",
       std::string(70000, ' '),
       {auth},
       413,
       "invalid_request_error",
       "null",
       "\"request_too_large\""},
      {"wrong method",
       "GET",
       "/v1/chat/completions",
       "",
       {auth},
       405,
       "invalid_request_error",
       "null",
       "\"method_not_allowed\""},
      {"unknown path",
       "POST",
       "/v1/chat/complete",
       "{}",
       {auth},
       404,
       "invalid_request_error",
       "null",
       "null"},
      {"upstream rate limit after failover",
       "POST",
       "/v1/chat/completions",
       "",
       {auth},
       200,
       "",
       "",
       ""},
      {"upstream 400 is not failed over",
       "POST",
       "/v1/chat/completions",
       absl::StrCat(R"({"model":"bad-request",)", kMessages, "}"),
       {auth},
       400,
       "invalid_request_error",
       "null",
       "null"},
      {"upstream timeout",
       "POST",
       "/v1/chat/completions",
       absl::StrCat(R"({"model":"slow",)", kMessages, "}"),
       {auth},
       504,
       "server_error",
       "null",
       "\"upstream_timeout\""},
      {"no deployment reachable",
       "POST",
       "/v1/chat/completions",
       absl::StrCat(R"({"model":"unreachable",)", kMessages, "}"),
       {auth},
       503,
       "server_error",
       "null",
       "\"no_deployment_available\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    if (c.status == 200) {
      // A 429 from the first deployment fails over to the second.
      testing::HttpResult r = Post(absl::StrCat(R"({"model":"limited",)", kMessages, "}"));
      EXPECT_EQ(r.status, 200) << r.body;
      EXPECT_THAT(r.body, HasSubstr("tok0 tok1"));
      continue;
    }
    std::vector<std::string> headers = c.headers;
    headers.push_back("Content-Type: application/json");
    testing::HttpResult r = testing::HttpRequest(c.method, Url(c.path), headers, c.body);
    EXPECT_EQ(r.status, c.status) << r.body;
    EXPECT_THAT(r.body, HasSubstr(absl::StrCat(R"("type":")", c.type, "\""))) << r.body;
    EXPECT_THAT(r.body, HasSubstr(absl::StrCat(R"("param":)", c.param))) << r.body;
    EXPECT_THAT(r.body, HasSubstr(absl::StrCat(R"("code":)", c.code))) << r.body;
    EXPECT_THAT(r.body, HasSubstr(R"({"error":{"message":")"));
    EXPECT_FALSE(r.headers["x-request-id"].empty() && c.status != 413 && c.status != 405 &&
                 c.status != 404);
  }
  EXPECT_EQ(testing::HttpRequest("GET", Url("/healthz")).status, 200);  // Nothing crashed.
}

TEST_F(ChatTest, RetryAfterOfTheLastDeploymentReachesTheClient) {
  // With no deployment left to fail over to, the client gets the upstream's 429 and Retry-After,
  // plain and streamed (the stream had not started, so it is a plain HTTP error too).
  for (const char* stream : {"false", "true"}) {
    testing::HttpResult r =
        Post(absl::StrCat(R"({"model":"limited-only","stream":)", stream, ",", kMessages, "}"));
    EXPECT_EQ(r.status, 429) << r.body;
    EXPECT_EQ(r.headers["retry-after"], "7");
    EXPECT_THAT(r.body, HasSubstr(R"("type":"requests")"));
  }
}

TEST_F(ChatTest, UpstreamDyingMidStreamEndsTheStreamWithAnErrorEvent) {
  const absl::Time start = absl::Now();
  testing::HttpResult r = Post(absl::StrCat(R"({"model":"dies","stream":true,)", kMessages, "}"));
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("content":"tok0")"));
  EXPECT_THAT(r.body, HasSubstr(R"(data: {"error":{"message":)"));
  EXPECT_THAT(r.body, HasSubstr(R"("code":"upstream_disconnected")"));
  EXPECT_THAT(r.body, Not(HasSubstr("[DONE]")));
  EXPECT_TRUE(absl::EndsWith(r.body, "}}\n\n"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));  // Nothing hangs.
}

TEST_F(ChatTest, SilentUpstreamTimesOutMidStream) {
  // The first event comes after 1.5 s (within the first-byte timeout), the next would come 1.5 s
  // later: the idle timeout (1 s) ends the stream with an error event.
  testing::HttpResult r =
      Post(absl::StrCat(R"({"model":"silent-stream","stream":true,)", kMessages, "}"));
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("code":"upstream_timeout")"));
  EXPECT_THAT(r.body, HasSubstr(R"("role":"assistant")"));  // The first event went out.
}

TEST_F(ChatTest, UpstreamThatSendsOnlyHeadersTimesOutBeforeTheStream) {
  // Headers at once, the first event only after 4 s: the first-byte timeout (2 s) counts until the
  // first byte of the body, so the client gets a 504 rather than a stream that hangs.
  testing::HttpResult r =
      Post(absl::StrCat(R"({"model":"silent-start","stream":true,)", kMessages, "}"));
  EXPECT_EQ(r.status, 504);
  EXPECT_THAT(r.body, HasSubstr(R"("code":"upstream_timeout")"));
}

TEST_F(ChatTest, ClientDisconnectClosesTheUpstreamConnection) {
  auto disconnects = [] {
    const std::string s = MockStats();
    const size_t at = s.find("\"client_disconnects\":");
    return at == std::string::npos ? -1 : std::atoi(s.c_str() + at + 21);
  };
  const int before = disconnects();
  const int fd = testing::ConnectLoopback(http_port_);
  ASSERT_GE(fd, 0);
  const std::string body = absl::StrCat(R"({"model":"endless","stream":true,)", kMessages, "}");
  const std::string req = absl::StrCat(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ", kKey,
      "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  while (got.find("tok3") == std::string::npos) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    ASSERT_GT(n, 0) << got;
    got.append(buf, n);
  }
  const absl::Time closed = absl::Now();
  close(fd);
  while (disconnects() <= before && absl::Now() - closed < absl::Seconds(10))
    absl::SleepFor(absl::Milliseconds(20));
  EXPECT_GT(disconnects(), before) << MockStats();
  // The documented bound is one second; sanitizer builds get a margin.
  EXPECT_LT(absl::Now() - closed, absl::Seconds(3));
}

TEST_F(ChatTest, ModelsOutsideTheCatalogRouteByTheirPrefix) {
  // gpt-* → the first provider of type openai (the mock), under its own name.
  testing::HttpResult r = Post(absl::StrCat(R"({"model":"gpt-routing-test",)", kMessages, "}"));
  EXPECT_EQ(r.status, 200) << r.body;
  const std::string mock = absl::StrCat("http://127.0.0.1:", mock_port_);
  EXPECT_THAT(testing::HttpRequest("GET", mock + "/__mock/requests").body,
              HasSubstr(R"(\"model\":\"gpt-routing-test\")"));
  // ollama/<model> → the ollama provider (the mock replaying Ollama's native fixture), prefix
  // dropped.
  r = Post(absl::StrCat(R"({"model":"ollama/fixture/ollama/chat",)", kMessages, "}"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr("Hello! How are you today?"));
  // claude-* → the anthropic provider, whose key is not set: not found, saying why.
  r = Post(absl::StrCat(R"({"model":"claude-sonnet-4-5",)", kMessages, "}"));
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr(R"("code":"model_not_found")"));
  EXPECT_THAT(r.body, HasSubstr("AIMARKET_TEST_NEVER_SET"));
  // No rule for it.
  r = Post(absl::StrCat(R"({"model":"mistral-large",)", kMessages, "}"));
  EXPECT_EQ(r.status, 404);
  // The list shows the catalog only.
  testing::HttpResult models =
      testing::HttpRequest("GET", absl::StrCat("http://127.0.0.1:", http_port_, "/v1/models"),
                           {absl::StrCat("Authorization: Bearer ", kKey)});
  EXPECT_THAT(models.body, Not(HasSubstr("gpt-routing-test")));
}

TEST_F(ChatTest, EveryRouteAnswersUnderApiV1Too) {
  // Earlier documents promised https://<host>/api/v1 as the SDK's baseURL.
  testing::HttpResult r =
      Post(absl::StrCat(R"({"model":"demo",)", kMessages, "}"), {}, "/api/v1/chat/completions");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body, HasSubstr(R"("object":"chat.completion")"));
  const std::string auth = absl::StrCat("Authorization: Bearer ", kKey);
  testing::HttpResult models = testing::HttpRequest("GET", Url("/api/v1/models"), {auth});
  EXPECT_EQ(models.status, 200) << models.body;
  EXPECT_THAT(models.body, HasSubstr(R"("id":"demo")"));
  testing::HttpResult one = testing::HttpRequest("GET", Url("/api/v1/models/demo"), {auth});
  EXPECT_EQ(one.status, 200) << one.body;
  testing::HttpResult teams = testing::HttpRequest("GET", Url("/api/v1/teams?limit=1"), {auth});
  EXPECT_EQ(teams.status, 200) << teams.body;
  EXPECT_THAT(teams.body, HasSubstr(R"("object":"list")"));
  // Only /api/v1: other /api paths name nothing.
  testing::HttpResult other = testing::HttpRequest("GET", Url("/api/v2/models"), {auth});
  EXPECT_EQ(other.status, 404) << other.body;
  testing::HttpResult near = testing::HttpRequest("GET", Url("/api/v1x/models"), {auth});
  EXPECT_EQ(near.status, 404) << near.body;
}

TEST_F(ChatTest, ProviderHealthOverGrpc) {
  // Every configured provider's cheapest read (its model list) against the mock, or a dead port.
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port_),
                                     grpc::InsecureChannelCredentials());
  auto stub = provider::v1::ProviderService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-aimarket-internal-token", "t");
  provider::v1::CheckHealthRequest req;
  provider::v1::CheckHealthResponse resp;
  ASSERT_TRUE(stub->CheckHealth(&ctx, req, &resp).ok());
  std::map<std::string, provider::v1::ProviderHealth> by_name;
  for (const auto& h : resp.providers()) by_name[h.provider()] = h;
  EXPECT_TRUE(by_name["mock"].healthy()) << by_name["mock"].detail();
  EXPECT_TRUE(by_name["local-ollama"].healthy())
      << by_name["local-ollama"].detail();  // GET /api/tags
  EXPECT_FALSE(by_name["dead"].healthy());
  EXPECT_FALSE(by_name["dead"].detail().empty());
  EXPECT_TRUE(by_name.contains("gemini"));  // The built-in ones are there too.

  grpc::ClientContext one_ctx;
  one_ctx.AddMetadata("x-aimarket-internal-token", "t");
  req.set_provider("mock");
  ASSERT_TRUE(stub->CheckHealth(&one_ctx, req, &resp).ok());
  ASSERT_EQ(resp.providers_size(), 1);
  EXPECT_TRUE(resp.providers(0).healthy());
  // Without the internal token: refused.
  grpc::ClientContext outsider;
  EXPECT_EQ(stub->CheckHealth(&outsider, req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ChatTest, ProviderCallsAreCountedAndTimed) {
  // Reads one sample's value from the exposition text (0 if absent).
  auto sample = [this](const std::string& series) {
    const std::string text =
        testing::HttpRequest("GET", absl::StrCat("http://127.0.0.1:", http_port_, "/metrics")).body;
    const size_t at = text.find(series + " ");
    return at == std::string::npos ? 0.0 : std::atof(text.c_str() + at + series.size() + 1);
  };
  const std::string ok =
      R"(aimarket_provider_calls_total{call="chat",outcome="ok",provider="mock"})";
  const std::string unreachable =
      R"(aimarket_provider_calls_total{call="chat",outcome="transport",provider="dead"})";
  const std::string first = R"(aimarket_provider_first_event_seconds_count{provider="mock"})";
  const double ok_before = sample(ok), unreachable_before = sample(unreachable),
               first_before = sample(first);
  EXPECT_EQ(Post(absl::StrCat(R"({"model":"demo",)", kMessages, "}")).status, 200);
  EXPECT_EQ(Post(absl::StrCat(R"({"model":"unreachable",)", kMessages, "}")).status, 503);
  EXPECT_EQ(sample(ok), ok_before + 1);
  EXPECT_EQ(sample(unreachable), unreachable_before + 1);
  EXPECT_EQ(sample(first), first_before + 1);
}

TEST_F(ChatTest, MockPicksFixturesByHeaderAndRecordsRequests) {
  const std::string mock = absl::StrCat("http://127.0.0.1:", mock_port_);
  testing::HttpResult r =
      testing::HttpRequest("POST", mock + "/v1/chat/completions",
                           {"x-mock-fixture: openai/tool_call", "Content-Type: application/json"},
                           R"({"model":"whatever","messages":[]})");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("GetWeatherArgs"));
  testing::HttpResult seen = testing::HttpRequest("GET", mock + "/__mock/requests");
  EXPECT_THAT(seen.body, HasSubstr(R"(\"model\":\"whatever\")"));
}

TEST_F(ChatTest, InternalServiceCallsTheRouterDirectlyOverGrpc) {
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port_),
                                     grpc::InsecureChannelCredentials());
  auto stub = router::v1::RouterService::NewStub(channel);
  common::v1::ChatRequest req;  // Structured fields only, as an internal service would send.
  req.set_model("demo");
  req.set_stream(true);
  auto* m = req.add_messages();
  m->set_role("user");
  m->set_content("hi");
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kKey));
    auto reader = stub->Chat(&ctx, req);
    common::v1::ChatEvent ev;
    std::string text;
    bool usage = false;
    int events = 0;
    while (reader->Read(&ev)) {
      ++events;
      if (ev.has_usage() && ev.usage().completion_tokens() == 6) usage = true;
      // OpenAI-format upstreams' chunks arrive verbatim.
      const size_t at = ev.raw_json().find(R"("content":")");
      if (at != std::string::npos) {
        const size_t end = ev.raw_json().find('"', at + 11);
        text += ev.raw_json().substr(at + 11, end - at - 11);
      }
    }
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(text, "tok0 tok1 tok2 tok3 tok4 tok5");
    EXPECT_TRUE(usage);  // The gateway always meters streams.
    EXPECT_GE(events, 8);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer nope");
    auto reader = stub->Chat(&ctx, req);
    common::v1::ChatEvent ev;
    EXPECT_FALSE(reader->Read(&ev));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kKey));
    common::v1::ChatRequest unknown = req;
    unknown.set_model("nope");
    auto reader = stub->Chat(&ctx, unknown);
    common::v1::ChatEvent ev;
    EXPECT_FALSE(reader->Read(&ev));
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(status::GetErrorInfo(status::FromGrpcStatus(s))->reason(), "MODEL_NOT_FOUND");
  }
}

}  // namespace
}  // namespace aimarket
