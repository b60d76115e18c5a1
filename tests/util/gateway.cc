#include "tests/util/gateway.h"

#include <signal.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aimarket::testing {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Bearer(absl::string_view key) { return absl::StrCat("Authorization: Bearer ", key); }

std::unique_ptr<Gateway> Gateway::Start(TestDatabase& db, const Options& options) {
  auto g = std::unique_ptr<Gateway>(new Gateway());
  g->mock_port_ = FreePort();
  auto mock = Subprocess::Start(
      {absl::StrCat(AIMARKET_BIN_DIR, "/mock-provider"),
       absl::StrCat("--listen=127.0.0.1:", g->mock_port_),
       absl::StrCat("--fixtures=", AIMARKET_SOURCE_DIR, "/tests/testdata/providers")});
  EXPECT_TRUE(mock.ok());
  g->mock_ = std::move(*mock);
  g->http_port_ = FreePort();
  // One process per entry of the topology, each on a gRPC port of its own; the peers section
  // names, for every service, the process that runs it (a process calls its own directly).
  const std::vector<std::string> topology =
      options.topology.empty() ? std::vector<std::string>{"all"} : options.topology;
  std::vector<int> grpc_ports;
  std::map<std::string, int> peer_port;
  for (const std::string& services : topology) {
    grpc_ports.push_back(FreePort());
    for (absl::string_view s : absl::StrSplit(services, ',')) {
      peer_port[std::string(s)] = grpc_ports.back();
    }
  }
  g->grpc_port_ = grpc_ports.front();
  std::string peers;
  for (const auto& [service, key] :
       std::vector<std::pair<std::string, std::string>>{{"router", "router"},
                                                        {"provider-adapter", "provider_adapter"},
                                                        {"team-management", "team_management"},
                                                        {"usage-metering", "usage_metering"}}) {
    if (auto it = peer_port.find(service); it != peer_port.end()) {
      absl::StrAppend(&peers, peers.empty() ? "" : ", ", key, ": \"127.0.0.1:", it->second, "\"");
    }
  }
  const std::string yaml = absl::StrFormat(
      R"(
server: {grpc_listen: "127.0.0.1:@GRPC_PORT@", drain_timeout: 3s}
peers: {%s}
edge: {listen: "127.0.0.1:%d", io_threads: 2%s}
postgres: {acquire_timeout: 1s, statement_timeout: 1s, connect_timeout: 2s}
providers:
  - {name: mock, type: openai, base_url: "http://127.0.0.1:%d/v1", first_byte_timeout: 20s, idle_timeout: 20s}
  - {name: gemini-mock, type: gemini, base_url: "http://127.0.0.1:%d", api_key_env: AIMARKET_TEST_GEMINI_KEY}
  - {name: dead, type: openai, base_url: "http://127.0.0.1:1/v1"}
%smodels:
  - {name: demo, deployments: [{provider: mock, model: "synthetic?tokens=6", input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: echo, deployments: [{provider: mock, model: "synthetic?echo=1", input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: endless, deployments: [{provider: mock, model: "synthetic?tokens=2000&chunks=2000&delay_ms=20", input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: slow, deployments: [{provider: mock, model: "synthetic?delay_ms=15000", input_per_mtok: 1, output_per_mtok: 2}]}
  - {name: unreachable, deployments: [{provider: dead, model: x, input_per_mtok: 1, output_per_mtok: 2}]}
%s%s)",
      peers, g->http_port_, options.edge.empty() ? "" : absl::StrCat(", ", options.edge),
      g->mock_port_, g->mock_port_, options.providers, options.models, options.yaml);
  std::vector<std::string> configs;
  for (size_t i = 0; i < topology.size(); ++i) {
    configs.push_back(g->dir_.WriteFile(
        absl::StrCat("gateway", i, ".yaml"),
        absl::StrReplaceAll(yaml, {{"@MOCK_PORT@", absl::StrCat(g->mock_port_)},
                                   {"@GRPC_PORT@", absl::StrCat(grpc_ports[i])}})));
  }
  const std::string& cfg = configs.front();
  std::string dsn = db.dsn();
  if (options.dsn_port != 0) {
    dsn =
        std::regex_replace(dsn, std::regex("port=[0-9]+"), absl::StrCat("port=", options.dsn_port));
  }
  std::map<std::string, std::string> env = {{"AIMARKET_PG_DSN", dsn},
                                            {"AIMARKET_ADMIN_KEY", kAdminKey},
                                            {"AIMARKET_INTERNAL_TOKEN", "t"},
                                            {"AIMARKET_TEST_GEMINI_KEY", "gemini-test-key"}};
  for (const auto& [k, v] : options.env) env[k] = v;
  std::string out;
  EXPECT_EQ(RunCommand({absl::StrCat(AIMARKET_BIN_DIR, "/aimarketd"), "migrate", "--config=" + cfg},
                       env, &out),
            0)
      << out;
  g->env_ = env;
  g->process_grpc_ports_ = grpc_ports;
  for (size_t i = 0; i < topology.size(); ++i) {
    g->argv_.push_back({absl::StrCat(AIMARKET_BIN_DIR, "/aimarketd"), "--config=" + configs[i],
                        "--services=" + topology[i]});
    auto p = Subprocess::Start(g->argv_.back(), env);
    EXPECT_TRUE(p.ok());
    if (p.ok()) g->processes_.push_back(std::move(*p));
  }
  // The edge answers ready once every peer it needs is serving.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && HttpRequest("GET", g->Url("/readyz")).status != 200) {
    bool running = true;
    for (const auto& p : g->processes_) running &= p->Running();
    if (!running) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  for (const auto& p : g->processes_) EXPECT_TRUE(p->Running()) << p->output();
  return g;
}

Gateway::~Gateway() {
  // The edge first (the others' clients), then the rest.
  for (const auto& p : processes_) {
    if (p->Running()) {
      p->Signal(SIGTERM);
      EXPECT_EQ(p->Wait(absl::Seconds(30)), 0) << p->output();
    }
    EXPECT_THAT(p->output(), Not(HasSubstr(kAdminKey)));
  }
}

void Gateway::Restart(size_t i) {
  if (processes_[i]->Running()) {
    processes_[i]->Signal(SIGKILL);
    processes_[i]->Wait(absl::Seconds(30));
  }
  auto p = Subprocess::Start(argv_[i], env_);
  ASSERT_TRUE(p.ok());
  processes_[i] = std::move(*p);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline && processes_[i]->Running()) {
    const int fd = ConnectLoopback(process_grpc_ports_[i]);
    if (fd >= 0) {
      close(fd);
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(processes_[i]->Running()) << processes_[i]->output();
}

std::string Gateway::Url(absl::string_view path) const {
  return absl::StrCat("http://127.0.0.1:", http_port_, path);
}

HttpResult Gateway::Chat(const std::string& body, absl::string_view key) const {
  return HttpRequest("POST", Url("/v1/chat/completions"), {Bearer(key), kJson}, body);
}

std::string Gateway::MockRequests() const {
  return HttpRequest("GET", absl::StrCat("http://127.0.0.1:", mock_port_, "/__mock/requests")).body;
}

void Gateway::ClearMock() const {
  HttpRequest("DELETE", absl::StrCat("http://127.0.0.1:", mock_port_, "/__mock/requests"));
}

std::string Gateway::TeamKey(absl::string_view models, std::string* team_id) const {
  HttpResult team =
      HttpRequest("POST", Url("/v1/teams"), {Bearer(kAdminKey), kJson},
                  absl::StrCat(R"({"name":"T","settings":{"model_access":)", models, "}}"));
  EXPECT_EQ(team.status, 201) << team.body;
  std::smatch m;
  EXPECT_TRUE(std::regex_search(team.body, m, std::regex(R"re("id":"(team_[0-9A-Za-z]+)")re")));
  const std::string id = m[1].str();
  if (team_id != nullptr) *team_id = id;
  const std::string base = Url(absl::StrCat("/v1/teams/", id));
  EXPECT_EQ(HttpRequest("POST", base + "/members", {Bearer(kAdminKey), kJson},
                        R"({"user_id":"m@x","role":"member"})")
                .status,
            201);
  HttpResult key = HttpRequest("POST", base + "/keys", {Bearer(kAdminKey), kJson},
                               R"({"user_id":"m@x","name":"k"})");
  EXPECT_EQ(key.status, 201) << key.body;
  std::smatch k;
  EXPECT_TRUE(std::regex_search(key.body, k, std::regex(R"re("key":"(sk-am-[0-9A-Za-z]+)")re")));
  return k[1].str();
}

std::string RawExchange(int port, const std::string& request, absl::Duration timeout) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  std::string got;
  if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    got = ReadUntilClosed(fd, timeout);
  }
  close(fd);
  return got;
}

}  // namespace aimarket::testing
