// aimarketd started for real: all services in one process, and the five services as five
// processes talking over loopback, against the real Postgres of the test command.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <memory>
#include <pqxx/pqxx>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "aimarket/router/v1/router_service.grpc.pb.h"
#include "aimarket/team/v1/team_service.grpc.pb.h"
#include "common/status/grpc_status.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/util/pg_test_util.h"
#include "tests/util/process.h"

namespace aimarket {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Health = grpc::health::v1::HealthCheckResponse;

constexpr char kAdminKey[] = "sk-aim-test-admin-0123456789";
constexpr char kInternalToken[] = "internal-test-token-abcdef";
const char* const kServiceNames[] = {"edge", "router", "provider-adapter", "team-management",
                                     "usage-metering"};

std::string Aimarketd() { return absl::StrCat(AIMARKET_BIN_DIR, "/aimarketd"); }

struct Ports {
  int grpc = testing::FreePort();
  int metrics = testing::FreePort();
  int http = testing::FreePort();
};

struct PeerPorts {
  int router = 0, provider = 0, team = 0, usage = 0;
};

// `mock_port`: also an Anthropic and a Gemini provider on the mock, with a chat and an embeddings
// model.
std::string Config(const Ports& p, const PeerPorts& peers = {}, int64_t max_body = 0,
                   int mock_port = 0) {
  auto addr = [](int port) { return port == 0 ? std::string() : absl::StrCat("127.0.0.1:", port); };
  const std::string mock = mock_port == 0 ? ""
                                          : absl::StrFormat(R"(
  - {name: mock-anthropic, type: anthropic, base_url: "http://127.0.0.1:%d"}
  - {name: mock-gemini, type: gemini, base_url: "http://127.0.0.1:%d"}
models:
  - {name: five-claude, deployments: [{provider: mock-anthropic, model: synthetic, input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: five-embed, deployments: [{provider: mock-gemini, model: synthetic, input_per_mtok: 1, output_per_mtok: 2}]})",
                                                            mock_port, mock_port);
  return absl::StrFormat(R"(
server: {grpc_listen: "127.0.0.1:%d", metrics_listen: "127.0.0.1:%d", drain_timeout: 5s}
edge: {listen: "127.0.0.1:%d", io_threads: 2, max_body_bytes: %d}
peers: {router: "%s", provider_adapter: "%s", team_management: "%s", usage_metering: "%s"}
postgres: {dsn_env: AIMARKET_PG_DSN, pool_size: 2}
auth: {bootstrap_admin_key_env: AIMARKET_ADMIN_KEY, internal_token_env: AIMARKET_INTERNAL_TOKEN}
providers:
  - {name: openai, type: openai, base_url: "http://127.0.0.1:1/v1", api_key_env: OPENAI_API_KEY}
  - {name: anthropic, type: anthropic, base_url: "http://127.0.0.1:1"}%s
  - name: gpt-4o-mini
    deployments: [{provider: openai, model: gpt-4o-mini, input_per_mtok: 0.15, output_per_mtok: 0.6}]
  - name: claude-sonnet-4-5
    deployments: [{provider: anthropic, model: claude-sonnet-4-5}, {provider: openai, model: gpt-4o}]
)",
                         p.grpc, p.metrics, p.http, max_body, addr(peers.router),
                         addr(peers.provider), addr(peers.team), addr(peers.usage),
                         mock.empty() ? "\nmodels:" : mock);
}

Health::ServingStatus CheckHealth(int port, const std::string& service) {
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  if (!stub->Check(&ctx, req, &resp).ok()) return Health::UNKNOWN;
  return resp.status();
}

// Waits until the process's gRPC server reports SERVING for the whole server ("").
::testing::AssertionResult WaitServing(testing::Subprocess& p, int port,
                                       absl::Duration timeout = absl::Seconds(90)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (!p.Running()) return ::testing::AssertionFailure() << "aimarketd exited:\n" << p.output();
    if (CheckHealth(port, "") == Health::SERVING) return ::testing::AssertionSuccess();
    absl::SleepFor(absl::Milliseconds(100));
  }
  return ::testing::AssertionFailure() << "not SERVING after " << timeout << ":\n" << p.output();
}

// Asks the server reflection service (grpc.reflection.v1alpha) to list the services and returns the
// raw response: the names appear in it verbatim (protobuf strings are not encoded).
std::string ListServicesByReflection(int port) {
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::CompletionQueue cq;
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](int id) {
    return cq.Next(&tag, &ok) && ok && tag == reinterpret_cast<void*>(id);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  if (!step(1)) return "";
  // ServerReflectionRequest{list_services: "*"}: field 7, length-delimited.
  const std::string req_bytes("\x3a\x01*", 3);
  grpc::Slice slice(req_bytes);
  grpc::ByteBuffer req(&slice, 1);
  call->Write(req, reinterpret_cast<void*>(2));
  if (!step(2)) return "";
  grpc::ByteBuffer resp;
  call->Read(&resp, reinterpret_cast<void*>(3));
  if (!step(3)) return "";
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  std::vector<grpc::Slice> slices;
  resp.Dump(&slices);
  std::string out;
  for (const grpc::Slice& s : slices)
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

class AimarketdTest : public ::testing::Test {
 protected:
  // A fresh database, migrated by `aimarketd migrate`, and the environment every process gets.
  void SetUpDatabase(testing::TestDatabase& db) {
    env_ = {{"AIMARKET_PG_DSN", db.dsn()},
            {"AIMARKET_ADMIN_KEY", kAdminKey},
            {"AIMARKET_INTERNAL_TOKEN", kInternalToken}};
    const std::string cfg = dir_.WriteFile("migrate.yaml", Config(Ports()));
    std::string out;
    ASSERT_EQ(testing::RunCommand({Aimarketd(), "migrate", "--config=" + cfg}, env_, &out), 0)
        << out;
  }

  std::unique_ptr<testing::Subprocess> Start(const std::string& name, const std::string& yaml,
                                             const std::string& services) {
    const std::string cfg = dir_.WriteFile(name + ".yaml", yaml);
    auto p = testing::Subprocess::Start({Aimarketd(), "--config=" + cfg, "--services=" + services},
                                        env_);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  static void StopAndExpectCleanExit(testing::Subprocess& p) {
    p.Signal(SIGTERM);
    std::optional<int> code = p.Wait(absl::Seconds(30));
    ASSERT_TRUE(code.has_value()) << "did not exit after SIGTERM:\n" << p.output();
    EXPECT_EQ(*code, 0) << p.output();
    EXPECT_THAT(p.output(), HasSubstr("\"msg\":\"draining\""));
  }

  testing::TempDir dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(AimarketdTest, AllServicesInOneProcessReportServing) {
  AIM_PG_TEST_DATABASE(db);
  SetUpDatabase(db);
  Ports ports;
  auto p = Start("all", Config(ports), "all");
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(WaitServing(*p, ports.grpc));
  for (const char* name : kServiceNames) {
    EXPECT_EQ(CheckHealth(ports.grpc, name), Health::SERVING) << name;
  }
  EXPECT_EQ(CheckHealth(ports.grpc, "aimarket.router.v1.RouterService"), Health::SERVING);
  EXPECT_EQ(CheckHealth(ports.grpc, "no-such-service"),
            Health::UNKNOWN);  // NOT_FOUND from the server
  const std::string listed = ListServicesByReflection(ports.grpc);
  for (const char* svc :
       {"aimarket.router.v1.RouterService", "aimarket.provider.v1.ProviderService",
        "aimarket.team.v1.TeamService", "aimarket.team.v1.AuthService",
        "aimarket.usage.v1.MeteringService", "grpc.health.v1.Health"}) {
    EXPECT_THAT(listed, HasSubstr(svc));
  }

  const std::string base = absl::StrCat("http://127.0.0.1:", ports.http);
  EXPECT_EQ(testing::HttpRequest("GET", base + "/healthz").status, 200);
  testing::HttpResult ready = testing::HttpRequest("GET", base + "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  StopAndExpectCleanExit(*p);
  // Logs never carry the keys.
  EXPECT_THAT(p->output(), Not(HasSubstr(kAdminKey)));
  EXPECT_THAT(p->output(), Not(HasSubstr(kInternalToken)));
}

TEST_F(AimarketdTest, EdgeServesModelsAndOpenAiErrors) {
  AIM_PG_TEST_DATABASE(db);
  SetUpDatabase(db);
  Ports ports;
  auto p = Start("all", Config(ports, {}, /*max_body=*/4096), "all");
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(WaitServing(*p, ports.grpc));
  const std::string base = absl::StrCat("http://127.0.0.1:", ports.http);
  const std::string auth = absl::StrCat("Authorization: Bearer ", kAdminKey);

  testing::HttpResult models = testing::HttpRequest("GET", base + "/v1/models", {auth});
  EXPECT_EQ(models.status, 200) << models.body;
  EXPECT_THAT(models.body, HasSubstr(R"("object":"list")"));
  EXPECT_THAT(models.body, HasSubstr(R"({"id":"gpt-4o-mini","object":"model")"));
  EXPECT_THAT(models.body, HasSubstr(R"("id":"claude-sonnet-4-5")"));
  EXPECT_THAT(models.headers["x-request-id"], HasSubstr("req_"));
  EXPECT_FALSE(models.headers["x-aimarket-overhead-ms"].empty());

  testing::HttpResult one =
      testing::HttpRequest("GET", base + "/v1/models/claude-sonnet-4-5", {auth});
  EXPECT_EQ(one.status, 200);
  EXPECT_THAT(one.body, HasSubstr(R"("owned_by":"anthropic")"));

  struct Case {
    std::string method, path;
    std::vector<std::string> headers;
    std::string body;
    long status;
    std::string type, code, param;
  };
  const std::vector<Case> cases = {
      {"GET", "/v1/models", {}, "", 401, "authentication_error", "\"missing_api_key\"", "null"},
      {"GET",
       "/v1/models",
       {"Authorization: Bearer wrong"},
       "",
       401,
       "authentication_error",
       "\"invalid_api_key\"",
       "null"},
      {"GET",
       "/v1/models/nope",
       {auth},
       "",
       404,
       "invalid_request_error",
       "\"model_not_found\"",
       "\"model\""},
      {"GET", "/v1/nothing-here", {auth}, "", 404, "invalid_request_error", "null", "null"},
      {"DELETE",
       "/v1/models",
       {auth},
       "",
       405,
       "invalid_request_error",
       "\"method_not_allowed\"",
       "null"},
      {"POST",
       "/v1/models",
       {auth},
       std::string(8192, 'x'),
       413,
       "invalid_request_error",
       "\"request_too_large\"",
       "null"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.method, " ", c.path));
    testing::HttpResult r = testing::HttpRequest(c.method, base + c.path, c.headers, c.body);
    EXPECT_EQ(r.status, c.status) << r.body;
    EXPECT_THAT(r.body, HasSubstr(absl::StrCat(R"("type":")", c.type, "\"")));
    EXPECT_THAT(r.body, HasSubstr(absl::StrCat(R"("code":)", c.code)));
    EXPECT_THAT(r.body, HasSubstr(absl::StrCat(R"("param":)", c.param)));
    EXPECT_THAT(r.body, HasSubstr(R"("message":")"));
  }
  // The process survived all of it.
  EXPECT_EQ(testing::HttpRequest("GET", base + "/healthz").status, 200);
  StopAndExpectCleanExit(*p);
}

TEST_F(AimarketdTest, MetricsPassPromtool) {
  AIM_PG_TEST_DATABASE(db);
  SetUpDatabase(db);
  Ports ports;
  auto p = Start("all", Config(ports), "all");
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(WaitServing(*p, ports.grpc));
  const std::string base = absl::StrCat("http://127.0.0.1:", ports.http);
  testing::HttpRequest("GET", base + "/v1/models");  // Some traffic, so that labelled series exist.
  for (const std::string& url :
       {base + "/metrics", absl::StrCat("http://127.0.0.1:", ports.metrics, "/metrics")}) {
    SCOPED_TRACE(url);
    testing::HttpResult m = testing::HttpRequest("GET", url);
    ASSERT_EQ(m.status, 200);
    EXPECT_THAT(m.body, HasSubstr("aimarket_edge_requests_total{"));
    EXPECT_THAT(m.body, HasSubstr("aimarket_build_info"));
    const std::string file = dir_.WriteFile("metrics.txt", m.body);
    std::string out;
    const int rc = testing::RunCommand(
        {"/bin/sh", "-c", absl::StrCat("promtool check metrics < ", file)}, {}, &out);
    EXPECT_EQ(rc, 0) << out << "\n" << m.body;
  }
  StopAndExpectCleanExit(*p);
}

TEST_F(AimarketdTest, FiveProcessesTalkOverLoopback) {
  AIM_PG_TEST_DATABASE(db);
  SetUpDatabase(db);
  Ports edge, router, provider, team, usage;
  const PeerPorts peers{router.grpc, provider.grpc, team.grpc, usage.grpc};
  const int mock_port = testing::FreePort();
  auto mock = testing::Subprocess::Start({absl::StrCat(AIMARKET_BIN_DIR, "/mock-provider"),
                                          absl::StrCat("--listen=127.0.0.1:", mock_port)});
  ASSERT_TRUE(mock.ok()) << mock.status();
  std::vector<std::pair<std::unique_ptr<testing::Subprocess>, int>> procs;
  procs.emplace_back(Start("team", Config(team, peers, 0, mock_port), "team-management"),
                     team.grpc);
  procs.emplace_back(Start("usage", Config(usage, peers, 0, mock_port), "usage-metering"),
                     usage.grpc);
  procs.emplace_back(Start("provider", Config(provider, peers, 0, mock_port), "provider-adapter"),
                     provider.grpc);
  procs.emplace_back(Start("router", Config(router, peers, 0, mock_port), "router"), router.grpc);
  procs.emplace_back(Start("edge", Config(edge, peers, 0, mock_port), "edge"), edge.grpc);
  for (auto& [proc, port] : procs) {
    ASSERT_NE(proc, nullptr);
    ASSERT_TRUE(WaitServing(*proc, port));
  }
  EXPECT_EQ(CheckHealth(team.grpc, "team-management"), Health::SERVING);
  EXPECT_EQ(CheckHealth(usage.grpc, "usage-metering"), Health::SERVING);
  EXPECT_EQ(CheckHealth(provider.grpc, "provider-adapter"), Health::SERVING);
  EXPECT_EQ(CheckHealth(router.grpc, "router"), Health::SERVING);
  EXPECT_EQ(CheckHealth(edge.grpc, "edge"), Health::SERVING);
  // Each process serves only its own service.
  EXPECT_NE(CheckHealth(edge.grpc, "router"), Health::SERVING);
  EXPECT_NE(CheckHealth(router.grpc, "team-management"), Health::SERVING);

  // edge -> router -> team-management, each hop over loopback.
  const std::string base = absl::StrCat("http://127.0.0.1:", edge.http);
  EXPECT_EQ(testing::HttpRequest("GET", base + "/readyz").status, 200);
  testing::HttpResult models = testing::HttpRequest(
      "GET", base + "/v1/models", {absl::StrCat("Authorization: Bearer ", kAdminKey)});
  EXPECT_EQ(models.status, 200) << models.body;
  EXPECT_THAT(models.body, HasSubstr(R"("id":"gpt-4o-mini")"));
  // A translated stream (Anthropic's format, from the mock) and embeddings (Gemini's) cross
  // edge -> router -> provider-adapter over gRPC.
  const std::string auth = absl::StrCat("Authorization: Bearer ", kAdminKey);
  testing::HttpResult chat = testing::HttpRequest(
      "POST", base + "/v1/chat/completions", {auth, "Content-Type: application/json"},
      R"({"model":"five-claude","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(chat.status, 200) << chat.body;
  EXPECT_THAT(chat.body, HasSubstr(R"("content":" tok7")"));
  EXPECT_THAT(chat.body, HasSubstr(R"("finish_reason":"stop")"));
  EXPECT_THAT(chat.body, HasSubstr("data: [DONE]"));
  testing::HttpResult emb = testing::HttpRequest("POST", base + "/v1/embeddings",
                                                 {auth, "Content-Type: application/json"},
                                                 R"({"model":"five-embed","input":["a","b"]})");
  EXPECT_EQ(emb.status, 200) << emb.body;
  EXPECT_THAT(emb.body, HasSubstr(R"("index":1)"));

  // The reason of team-management's error survives two gRPC hops and becomes the OpenAI code.
  testing::HttpResult bad =
      testing::HttpRequest("GET", base + "/v1/models", {"Authorization: Bearer nope"});
  EXPECT_EQ(bad.status, 401);
  EXPECT_THAT(bad.body, HasSubstr(R"("code":"invalid_api_key")"));

  // An internal service calling the router directly over gRPC gets the same governance.
  auto router_channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", router.grpc),
                                            grpc::InsecureChannelCredentials());
  auto router_stub = router::v1::RouterService::NewStub(router_channel);
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", kAdminKey));
    router::v1::ListModelsResponse resp;
    ASSERT_TRUE(router_stub->ListModels(&ctx, router::v1::ListModelsRequest(), &resp).ok());
    EXPECT_EQ(resp.models_size(), 4);
  }
  {
    grpc::ClientContext ctx;
    router::v1::ListModelsResponse resp;
    grpc::Status s = router_stub->ListModels(&ctx, router::v1::ListModelsRequest(), &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(status::GetErrorInfo(status::FromGrpcStatus(s))->reason(), "MISSING_API_KEY");
  }
  {
    // The streaming RPC crosses the process boundary too, and a bad key is refused before anything.
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer nope");
    common::v1::ChatRequest req;
    req.set_model("gpt-4o-mini");
    auto reader = router_stub->Chat(&ctx, req);
    common::v1::ChatEvent ev;
    EXPECT_FALSE(reader->Read(&ev));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }

  // Internal RPCs refuse callers without the internal service token.
  auto team_channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", team.grpc),
                                          grpc::InsecureChannelCredentials());
  auto auth_stub = team::v1::AuthService::NewStub(team_channel);
  team::v1::AuthenticateRequest areq;
  areq.set_api_key(kAdminKey);
  {
    grpc::ClientContext ctx;
    team::v1::AuthenticateResponse resp;
    grpc::Status s = auth_stub->Authenticate(&ctx, areq, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(status::GetErrorInfo(status::FromGrpcStatus(s))->reason(), "INTERNAL_TOKEN_REQUIRED");
  }
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-aimarket-internal-token", kInternalToken);
    team::v1::AuthenticateResponse resp;
    ASSERT_TRUE(auth_stub->Authenticate(&ctx, areq, &resp).ok());
    EXPECT_TRUE(resp.principal().bootstrap_admin());
  }
  // Team management across processes: the edge's REST API calls team-management over gRPC, and
  // a key made there works through edge -> router -> team-management (Authenticate).
  {
    const std::string json = "Content-Type: application/json";
    testing::HttpResult created =
        testing::HttpRequest("POST", base + "/v1/teams", {auth, json},
                             R"({"name":"Five","settings":{"model_access":["five-claude"]}})");
    ASSERT_EQ(created.status, 201) << created.body;
    std::smatch m;
    ASSERT_TRUE(
        std::regex_search(created.body, m, std::regex(R"re("id":"(team_[0-9A-Za-z]+)")re")));
    const std::string teams = absl::StrCat(base, "/v1/teams/", m[1].str());
    EXPECT_EQ(testing::HttpRequest("POST", teams + "/members", {auth, json},
                                   R"({"user_id":"m@x","role":"member"})")
                  .status,
              201);
    testing::HttpResult key = testing::HttpRequest("POST", teams + "/keys", {auth, json},
                                                   R"({"user_id":"m@x","name":"five"})");
    ASSERT_EQ(key.status, 201) << key.body;
    ASSERT_TRUE(std::regex_search(key.body, m, std::regex(R"re("key":"(sk-am-[0-9A-Za-z]+)")re")));
    const std::string member_auth = absl::StrCat("Authorization: Bearer ", m[1].str());
    testing::HttpResult allowed = testing::HttpRequest(
        "POST", base + "/v1/chat/completions", {member_auth, json},
        R"({"model":"five-claude","messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(allowed.status, 200) << allowed.body;
    testing::HttpResult refused = testing::HttpRequest(
        "POST", base + "/v1/chat/completions", {member_auth, json},
        R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(refused.status, 403) << refused.body;
    EXPECT_THAT(refused.body, HasSubstr(R"("code":"model_not_allowed")"));
    testing::HttpResult audit = testing::HttpRequest("GET", teams + "/audit", {member_auth});
    EXPECT_EQ(audit.status, 403) << audit.body;  // a member's role, known across processes

    // TeamService over gRPC checks the caller itself.
    auto team_stub = team::v1::TeamService::NewStub(team_channel);
    grpc::ClientContext ctx;
    team::v1::Team resp;
    EXPECT_EQ(team_stub->GetTeam(&ctx, team::v1::GetTeamRequest(), &resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }

  // With the router gone, the edge stops being ready (and says why).
  procs[3].first->Signal(SIGTERM);
  ASSERT_EQ(procs[3].first->Wait(absl::Seconds(30)), 0);
  testing::HttpResult not_ready = testing::HttpRequest("GET", base + "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_THAT(not_ready.body, HasSubstr("router"));

  for (auto& [proc, port] : procs) {
    if (proc->Running()) StopAndExpectCleanExit(*proc);
  }
}

TEST_F(AimarketdTest, MigrateTwiceChangesNothing) {
  AIM_PG_TEST_DATABASE(db);
  env_ = {{"AIMARKET_PG_DSN", db.dsn()}};
  const std::string cfg = dir_.WriteFile("m.yaml", Config(Ports()));
  auto snapshot = [&] {
    pqxx::connection conn(db.dsn());
    pqxx::read_transaction tx(conn);
    std::string out;
    for (const auto& row : tx.exec(
             "SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '') "
             "FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2")) {
      for (const auto& f : row) absl::StrAppend(&out, f.c_str(), "|");
      out += "\n";
    }
    for (const auto& row :
         tx.exec("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY 1")) {
      for (const auto& f : row) absl::StrAppend(&out, f.c_str(), "|");
      out += "\n";
    }
    for (const auto& row : tx.exec(
             "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")) {
      for (const auto& f : row) absl::StrAppend(&out, f.c_str(), "|");
      out += "\n";
    }
    return out;
  };
  std::string out;
  ASSERT_EQ(testing::RunCommand({Aimarketd(), "migrate", "--config=" + cfg}, env_, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("applied"));
  const std::string first = snapshot();
  EXPECT_THAT(first, HasSubstr("teams|"));
  EXPECT_THAT(first, HasSubstr("api_keys|key_hash|bytea"));
  ASSERT_EQ(testing::RunCommand({Aimarketd(), "migrate", "--config=" + cfg}, env_, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("up to date"));
  EXPECT_EQ(snapshot(), first);
}

TEST_F(AimarketdTest, RefusesToServeAnUnmigratedDatabase) {
  AIM_PG_TEST_DATABASE(db);
  env_ = {{"AIMARKET_PG_DSN", db.dsn()}, {"AIMARKET_ADMIN_KEY", kAdminKey}};
  const std::string cfg = dir_.WriteFile("c.yaml", Config(Ports()));
  std::string out;
  EXPECT_EQ(testing::RunCommand({Aimarketd(), "--config=" + cfg}, env_, &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("aimarketd migrate"));
}

TEST_F(AimarketdTest, BadConfigExitsNonZeroNamingTheKey) {
  struct Case {
    std::string yaml;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"edge:\n  listen: \"127.0.0.1:0\"\n  listne: x\n", "edge.listne (line 3): unknown key"},
      {"server: {grpc_listen: 12}\n", "server.grpc_listen"},
      {"edge: {io_threads: many}\n", "edge.io_threads"},
      {"providers: [{name: p, type: nope, base_url: 'http://x'}]\n", "providers[0].type"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    const std::string cfg = dir_.WriteFile("bad.yaml", c.yaml);
    std::string out;
    EXPECT_EQ(testing::RunCommand({Aimarketd(), "--config=" + cfg}, {}, &out), 2) << out;
    EXPECT_THAT(out, HasSubstr(c.expected));
  }
  std::string out;
  EXPECT_EQ(testing::RunCommand({Aimarketd(), "--config=/nonexistent.yaml"}, {}, &out), 2);
  EXPECT_THAT(out, HasSubstr("/nonexistent.yaml"));
  EXPECT_EQ(
      testing::RunCommand({Aimarketd(), "--config=/dev/null", "--services=edge,bogus"}, {}, &out),
      2);
  EXPECT_THAT(out, HasSubstr("bogus"));
  // A missing secret fails fast, naming the variable and the key that names it.
  const std::string cfg = dir_.WriteFile("ok.yaml", Config(Ports()));
  EXPECT_EQ(
      testing::RunCommand({Aimarketd(), "--config=" + cfg, "--services=team-management"},
                          {{"AIMARKET_ADMIN_KEY", ""}, {"AIMARKET_INTERNAL_TOKEN", "x"}}, &out),
      2)
      << out;
  EXPECT_THAT(out, HasSubstr("AIMARKET_ADMIN_KEY"));
  EXPECT_THAT(out, HasSubstr("auth.bootstrap_admin_key_env"));
  EXPECT_EQ(testing::RunCommand({Aimarketd(), "--config=" + cfg, "--services=router"},
                                {{"AIMARKET_INTERNAL_TOKEN", ""}}, &out),
            2)
      << out;
  EXPECT_THAT(out, HasSubstr("AIMARKET_INTERNAL_TOKEN"));
}

}  // namespace
}  // namespace aimarket
