// aimarketd: the one binary. It parses flags, loads the config, builds the chosen services, wires
// each to its peers (directly when they share the process, over gRPC otherwise) and serves until
// SIGTERM, which drains: stop accepting, finish in-flight calls within server.drain_timeout, exit
// 0.
//
//   aimarketd --config=aimarket.yaml [--services=all|edge,router,...]
//   aimarketd migrate --config=aimarket.yaml

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/config/config.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/grpc/server.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "common/process/process.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/edge/edge_handler.h"
#include "services/edge/error_body.h"
#include "services/edge/http_server.h"
#include "services/provider_adapter/provider_adapter.h"
#include "services/provider_adapter/provider_grpc.h"
#include "services/router/pipeline.h"
#include "services/router/router.h"
#include "services/router/router_grpc.h"
#include "services/team_management/team_grpc.h"
#include "services/team_management/team_management.h"
#include "services/team_management/team_metrics.h"
#include "services/team_management/team_store.h"
#include "services/usage_metering/metering_grpc.h"
#include "services/usage_metering/usage_metering.h"

namespace aimarket {
namespace {

constexpr char kUsage[] =
    R"(usage: aimarketd [migrate] --config=FILE [--services=all|edge,router,provider-adapter,team-management,usage-metering]

  (no subcommand)  serve the chosen services (default: all) until SIGTERM or SIGINT
  migrate          apply the database migrations and exit
)";

constexpr const char* kAllServices[] = {"edge", "router", "provider-adapter", "team-management",
                                        "usage-metering"};

struct Flags {
  bool migrate = false;
  std::string config;
  absl::flat_hash_set<std::string> services;
};

// Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
[[noreturn]] void Die(int code, absl::string_view message) {
  std::cerr << "aimarketd: " << message << "\n";
  std::exit(code);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  std::string services = "all";
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (a == "migrate" && i == 1) {
      f.migrate = true;
    } else if (absl::ConsumePrefix(&a, "--config=")) {
      f.config = std::string(a);
    } else if (absl::ConsumePrefix(&a, "--services=")) {
      services = std::string(a);
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else {
      Die(2, absl::StrCat("unknown argument \"", a, "\"\n", kUsage));
    }
  }
  if (f.config.empty()) Die(2, absl::StrCat("--config=FILE is required\n", kUsage));
  for (absl::string_view s : absl::StrSplit(services, ',', absl::SkipWhitespace())) {
    if (s == "all") {
      for (const char* name : kAllServices) f.services.insert(name);
      continue;
    }
    bool known = false;
    for (const char* name : kAllServices) known = known || s == name;
    if (!known) {
      Die(2, absl::StrCat("--services: unknown service \"", s, "\"; expected all or a list of ",
                          absl::StrJoin(kAllServices, ", ")));
    }
    f.services.insert(std::string(s));
  }
  if (f.services.empty()) Die(2, "--services: no service named");
  return f;
}

std::string Env(const std::string& var) {
  const char* v = std::getenv(var.c_str());
  return v == nullptr ? "" : v;
}

// `statements_bounded`: the service pools; migrations may run as long as they need.
// `statement_timeout`: postgres.statement_timeout when unset; zero for none (migrations).
absl::StatusOr<std::unique_ptr<db::ConnectionPool>> OpenPool(
    const config::v1::Config& c, int size,
    std::optional<absl::Duration> statement_timeout = std::nullopt) {
  absl::StatusOr<std::string> dsn = config::RequireEnv(c.postgres().dsn_env(), "postgres.dsn_env");
  if (!dsn.ok()) return dsn.status();
  return db::ConnectionPool::Create(
      {.dsn = *dsn,
       .size = size,
       .acquire_timeout = config::ToDuration(c.postgres().acquire_timeout()),
       .connect_timeout = config::ToDuration(c.postgres().connect_timeout()),
       .statement_timeout =
           statement_timeout.value_or(config::ToDuration(c.postgres().statement_timeout()))});
}

int Migrate(const config::v1::Config& c) {
  absl::StatusOr<std::unique_ptr<db::ConnectionPool>> pool = OpenPool(c, 1, absl::ZeroDuration());
  if (!pool.ok()) Die(1, pool.status().ToString());
  absl::StatusOr<std::vector<int>> applied = db::ApplyMigrations(**pool, db::EmbeddedMigrations());
  if (!applied.ok()) Die(1, absl::StrCat("migrate: ", applied.status().ToString()));
  const int latest = db::EmbeddedMigrations().empty() ? 0 : db::EmbeddedMigrations().back().version;
  if (applied->empty()) {
    std::cout << "schema is up to date (version " << latest << ")\n";
  } else {
    std::cout << "applied " << applied->size() << " migration(s): " << absl::StrJoin(*applied, ", ")
              << "; schema is at version " << latest << "\n";
  }
  return 0;
}

// A remote peer this process depends on, checked by /readyz through the gRPC health protocol.
struct Peer {
  std::string service;  // health name, e.g. "router"
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
};

absl::Status CheckPeers(const std::vector<Peer>& peers) {
  for (const Peer& p : peers) {
    auto stub = grpc::health::v1::Health::NewStub(p.channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(p.service);
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status s = stub->Check(&ctx, req, &resp);
    if (!s.ok() || resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
      // The address goes to the log, not to whoever asks /readyz.
      log::Warn("peer not serving",
                {{"service", p.service}, {"address", p.address}, {"error", s.error_message()}});
      return absl::UnavailableError(absl::StrCat(p.service, " is not serving"));
    }
  }
  return absl::OkStatus();
}

int Serve(const config::v1::Config& c, const Flags& flags) {
  auto local = [&](absl::string_view s) { return flags.services.contains(std::string(s)); };
  const bool all_local = flags.services.size() == std::size(kAllServices);

  // Secrets come from the environment and fail fast when a service needs them.
  std::string internal_token = Env(c.auth().internal_token_env());
  if (internal_token.empty()) {
    if (!all_local) {
      Die(2, absl::StrCat("environment variable ", c.auth().internal_token_env(),
                          " (named by auth.internal_token_env) is not set; services in separate "
                          "processes need it"));
    }
    log::Warn("internal service token not set: internal RPCs are closed to other processes",
              {{"env", c.auth().internal_token_env()}});
  }

  std::vector<Peer> peers;
  auto peer_channel = [&](absl::string_view service, const std::string& address,
                          absl::string_view key) -> std::shared_ptr<grpc::Channel> {
    if (address.empty()) {
      Die(2, absl::StrCat(key, ": required because ", service, " does not run in this process"));
    }
    for (const Peer& p : peers) {
      if (p.service == service) return p.channel;
    }
    peers.push_back({std::string(service), address, grpcutil::MakeChannel(address)});
    return peers.back().channel;
  };

  // --- team-management
  std::unique_ptr<team::TeamApi> team_api;
  if (local("team-management")) {
    absl::StatusOr<std::string> admin_key =
        config::RequireEnv(c.auth().bootstrap_admin_key_env(), "auth.bootstrap_admin_key_env");
    if (!admin_key.ok()) Die(2, admin_key.status().message());
    absl::StatusOr<std::unique_ptr<db::ConnectionPool>> pool =
        OpenPool(c, c.postgres().pool_size());
    if (!pool.ok()) Die(1, absl::StrCat("team-management: ", pool.status().ToString()));
    if (absl::Status s = db::CheckMigrated(**pool, db::EmbeddedMigrations()); !s.ok())
      Die(1, s.message());
    team_api = team::WithMetrics(std::make_unique<team::TeamManagement>(
        std::make_unique<team::TeamStore>(std::move(*pool)), *admin_key));
  }
  // team-management here or a peer: for the router, the edge, and usage-metering's analytics
  // (which authenticate their callers).
  auto team_for_peers = [&]() -> team::TeamApi& {
    if (!team_api) {
      team_api = team::NewTeamGrpcClient(
          peer_channel("team-management", c.peers().team_management(), "peers.team_management"),
          internal_token);
    }
    return *team_api;
  };
  // --- usage-metering
  std::unique_ptr<usage::MeteringApi> metering_api;
  if (local("usage-metering")) {
    absl::StatusOr<std::unique_ptr<db::ConnectionPool>> pool =
        OpenPool(c, c.postgres().pool_size());
    if (!pool.ok()) Die(1, absl::StrCat("usage-metering: ", pool.status().ToString()));
    if (absl::Status s = db::CheckMigrated(**pool, db::EmbeddedMigrations()); !s.ok())
      Die(1, s.message());
    usage::UsageMetering::Options options;
    options.retention_months = std::max(0, c.metering().retention_months());  // -1: forever.
    options.months_ahead = c.metering().months_ahead();
    options.rollup_retention_months = std::max(0, c.metering().rollup_retention_months());
    options.reservation_ttl = config::ToDuration(c.metering().reservation_ttl());
    options.recovery_grace = config::ToDuration(c.metering().recovery_grace());
    options.alerts.timeout = config::ToDuration(c.metering().webhook_timeout());
    options.alerts.min_backoff = config::ToDuration(c.metering().webhook_min_backoff());
    // Analytics hold connections of their own, never the event writers'.
    const int analytics_connections = c.metering().analytics_connections();
    absl::StatusOr<std::unique_ptr<db::ConnectionPool>> analytics_pool = OpenPool(
        c, analytics_connections, config::ToDuration(c.metering().analytics_statement_timeout()));
    if (!analytics_pool.ok()) {
      Die(1, absl::StrCat("usage-metering: ", analytics_pool.status().ToString()));
    }
    usage::AnalyticsOptions analytics;
    analytics.export_threads = std::max(1, analytics_connections / 2);
    analytics.export_stall_timeout = config::ToDuration(c.metering().export_stall_timeout());
    metering_api = std::make_unique<usage::UsageMetering>(
        std::move(*pool), options, time::RealClock::Get(),
        std::make_unique<usage::UsageAnalytics>(std::move(*analytics_pool), team_for_peers(),
                                                analytics));
  }
  // --- provider-adapter
  std::unique_ptr<provider::ProviderApi> provider_api;
  if (local("provider-adapter")) {
    absl::StatusOr<std::unique_ptr<provider::ProviderAdapter>> adapter =
        provider::ProviderAdapter::Create(c);
    if (!adapter.ok()) Die(2, adapter.status().message());
    provider_api = *std::move(adapter);
  }

  // Peers of the router (and, through the router, of the edge).
  auto metering_for_peers = [&]() -> usage::MeteringApi& {
    if (!metering_api) {
      metering_api = usage::NewMeteringGrpcClient(
          peer_channel("usage-metering", c.peers().usage_metering(), "peers.usage_metering"),
          internal_token);
    }
    return *metering_api;
  };
  std::unique_ptr<router::Pipeline> pipeline;  // The router's seams.
  std::unique_ptr<router::RouterApi> router_api;
  if (local("router")) {
    team::TeamApi& team_ref = team_for_peers();
    metering_for_peers();
    if (!provider_api) {
      provider_api = provider::NewProviderGrpcClient(
          peer_channel("provider-adapter", c.peers().provider_adapter(), "peers.provider_adapter"),
          internal_token);
    }
    router::BatchingSettler::Options settle;
    settle.max_batch = c.metering().settle_max_batch();
    settle.max_delay = config::ToDuration(c.metering().settle_max_delay());
    settle.max_pending = c.metering().settle_max_pending();
    pipeline = std::make_unique<router::Pipeline>(*metering_api, *provider_api,
                                                  time::RealClock::Get(), settle);
    router_api = std::make_unique<router::Router>(c, team_ref, pipeline->dispatcher);
  } else if (local("edge")) {
    router_api = router::NewRouterGrpcClient(
        peer_channel("router", c.peers().router(), "peers.router"), internal_token);
  }
  // The edge serves the teams API through team-management and usage analytics through
  // usage-metering (here or peers).
  if (local("edge")) {
    team_for_peers();
    metering_for_peers();
  }

  // --- the process's gRPC server: local services, health, reflection.
  std::vector<std::unique_ptr<grpc::Service>> services;
  grpcutil::GrpcServerBuilder builder(c.server().grpc_listen());
  std::vector<std::string> names;
  if (local("team-management")) {
    services.push_back(team::NewTeamGrpcService(*team_api));
    builder.AddService(services.back().get(), {"team-management", "aimarket.team.v1.TeamService"});
    services.push_back(team::NewAuthGrpcService(*team_api, internal_token));
    builder.AddService(services.back().get(), {"aimarket.team.v1.AuthService"});
  }
  if (local("usage-metering")) {
    services.push_back(usage::NewMeteringGrpcService(*metering_api, internal_token));
    builder.AddService(services.back().get(),
                       {"usage-metering", "aimarket.usage.v1.MeteringService"});
  }
  if (local("provider-adapter")) {
    services.push_back(provider::NewProviderGrpcService(*provider_api, internal_token));
    builder.AddService(services.back().get(),
                       {"provider-adapter", "aimarket.provider.v1.ProviderService"});
  }
  if (local("router")) {
    services.push_back(router::NewRouterGrpcService(*router_api, internal_token));
    builder.AddService(services.back().get(), {"router", "aimarket.router.v1.RouterService"});
  }
  if (local("edge")) builder.AddHealthNames({"edge"});
  absl::StatusOr<std::unique_ptr<grpcutil::GrpcServer>> grpc_server = std::move(builder).Start();
  if (!grpc_server.ok()) Die(1, grpc_server.status().message());

  std::unique_ptr<metrics::MetricsServer> metrics_server;
  if (!c.server().metrics_listen().empty()) {
    absl::StatusOr<std::unique_ptr<metrics::MetricsServer>> m =
        metrics::MetricsServer::Start(c.server().metrics_listen());
    if (!m.ok()) Die(1, m.status().message());
    metrics_server = std::move(*m);
  }

  std::atomic<bool> draining{false};
  std::unique_ptr<edge::EdgeHandler> handler;
  std::unique_ptr<edge::HttpServer> http_server;
  if (local("edge")) {
    const edge::EdgeApis apis{*router_api, *team_api, *metering_api};
    handler = std::make_unique<edge::EdgeHandler>(apis, [&peers, &draining] {
      // Not ready once draining: a load balancer takes the endpoint out while it is still served.
      if (draining.load()) return absl::UnavailableError("draining");
      return CheckPeers(peers);
    });
    edge::HttpServer::Options opts;
    opts.listen = c.edge().listen();
    opts.io_threads = c.edge().io_threads();
    opts.max_body_bytes = c.edge().max_body_bytes();
    opts.header_timeout = config::ToDuration(c.edge().header_timeout());
    opts.idle_timeout = config::ToDuration(c.edge().idle_timeout());
    opts.body_timeout = config::ToDuration(c.edge().body_timeout());
    opts.max_connections = std::max(0, c.edge().max_connections());
    opts.max_connections_per_client = std::max(0, c.edge().max_connections_per_client());
    opts.max_buffered_body_bytes = c.edge().max_buffered_body_bytes();
    opts.max_response_buffer_bytes = c.edge().max_response_buffer_bytes();
    opts.max_buffered_response_bytes = c.edge().max_buffered_response_bytes();
    opts.send_timeout = config::ToDuration(c.edge().send_timeout());
    opts.stream_deadline_chunk = edge::DrainDeadlineEvent();
    absl::StatusOr<std::unique_ptr<edge::HttpServer>> s = edge::HttpServer::Start(
        opts, [h = handler.get()](edge::HttpRequest r, std::shared_ptr<edge::ResponseWriter> w) {
          h->Handle(std::move(r), std::move(w));
        });
    if (!s.ok()) Die(1, s.status().message());
    http_server = std::move(*s);
  }

  (*grpc_server)->SetServing(true);
  std::vector<std::string> running;
  for (const char* name : kAllServices) {
    if (local(name)) running.push_back(name);
  }
  log::Info("serving", {{"services", absl::StrJoin(running, ",")},
                        {"grpc_port", (*grpc_server)->port()},
                        {"http_port", http_server ? http_server->port() : 0},
                        {"metrics_port", metrics_server ? metrics_server->port() : 0}});

  // Wait for SIGTERM or SIGINT (blocked in every thread; see main()).
  const int sig = process::WaitForShutdownSignal();
  const absl::Duration drain = config::ToDuration(c.server().drain_timeout());
  log::Info(
      "draining",
      {{"signal", sig}, {"deadline_ms", static_cast<long long>(absl::ToInt64Milliseconds(drain))}});
  draining = true;
  (*grpc_server)->SetServing(false);
  const absl::Time deadline = absl::Now() + drain;
  if (http_server) http_server->Shutdown(drain);
  (*grpc_server)->Shutdown(drain);
  // Every request has ended: what they cost goes to usage-metering before the process exits,
  // within what is left of the drain deadline (at least a second).
  if (pipeline) {
    const int64_t lost =
        pipeline->settler.Drain(std::max(deadline, absl::Now() + absl::Seconds(1)));
    if (lost == 0) log::Info("settlements flushed");
  }
  log::Info("stopped");
  return 0;
}

}  // namespace
}  // namespace aimarket

int main(int argc, char** argv) {
  // Before any thread starts: shutdown signals blocked (only the main thread waits for them),
  // SIGPIPE ignored, the descriptor limit raised.
  aimarket::process::Prepare();

#ifdef NDEBUG
  // Abseil's mutex deadlock detection builds a lock graph on every acquisition; optimized builds
  // skip it (tests run with it on).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  const aimarket::Flags flags = aimarket::ParseFlags(argc, argv);
  absl::StatusOr<aimarket::config::v1::Config> config =
      aimarket::config::LoadConfigFile(flags.config);
  if (!config.ok()) aimarket::Die(2, absl::StrCat("config error: ", config.status().message()));
  aimarket::log::SetLevel(config->log().level());
  if (flags.migrate) return aimarket::Migrate(*config);
  return aimarket::Serve(*config, flags);
}
