#include "common/config/config.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/config/provider_types.h"
#include "common/config/yaml_to_proto.h"
#include "common/pricing/pricing.h"
#include "common/status/status_macros.h"

namespace aimarket::config {
namespace {

void SetDefaultDuration(google::protobuf::Duration* d, int64_t seconds) {
  if (d->seconds() == 0 && d->nanos() == 0) d->set_seconds(seconds);
}

void SetDefault(std::string* s, absl::string_view value) {
  if (s->empty()) *s = std::string(value);
}

absl::Status Invalid(absl::string_view key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", what));
}

// "host:port" or "[v6]:port" with a numeric port; port 0 is allowed (pick a free one).
absl::Status CheckAddress(absl::string_view key, const std::string& addr, bool allow_empty) {
  if (addr.empty()) {
    return allow_empty ? absl::OkStatus() : Invalid(key, "is required (\"host:port\")");
  }
  const size_t colon = addr.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(addr).substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return Invalid(key, absl::StrCat("invalid address \"", addr, "\"; expected \"host:port\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

void ApplyDefaults(v1::Config& c) {
  v1::ServerConfig& server = *c.mutable_server();
  SetDefault(server.mutable_grpc_listen(), "0.0.0.0:9090");
  SetDefaultDuration(server.mutable_drain_timeout(), 10);

  v1::EdgeConfig& edge = *c.mutable_edge();
  SetDefault(edge.mutable_listen(), "0.0.0.0:8080");
  if (edge.max_body_bytes() <= 0) edge.set_max_body_bytes(8 << 20);
  SetDefaultDuration(edge.mutable_header_timeout(), 10);
  SetDefaultDuration(edge.mutable_idle_timeout(), 60);
  SetDefaultDuration(edge.mutable_body_timeout(), 30);
  if (edge.max_connections() == 0) edge.set_max_connections(10000);
  if (edge.max_connections_per_client() == 0) edge.set_max_connections_per_client(1000);
  if (edge.max_buffered_body_bytes() <= 0) edge.set_max_buffered_body_bytes(int64_t{256} << 20);
  if (edge.max_response_buffer_bytes() <= 0) edge.set_max_response_buffer_bytes(int64_t{1} << 20);
  if (edge.max_buffered_response_bytes() <= 0) {
    edge.set_max_buffered_response_bytes(int64_t{256} << 20);
  }
  SetDefaultDuration(edge.mutable_send_timeout(), 30);

  v1::PostgresConfig& pg = *c.mutable_postgres();
  SetDefault(pg.mutable_dsn_env(), "AIMARKET_PG_DSN");
  if (pg.pool_size() <= 0) pg.set_pool_size(8);
  SetDefaultDuration(pg.mutable_acquire_timeout(), 5);
  SetDefaultDuration(pg.mutable_connect_timeout(), 3);
  SetDefaultDuration(pg.mutable_statement_timeout(), 5);

  v1::AuthConfig& auth = *c.mutable_auth();
  SetDefault(auth.mutable_bootstrap_admin_key_env(), "AIMARKET_ADMIN_KEY");
  SetDefault(auth.mutable_internal_token_env(), "AIMARKET_INTERNAL_TOKEN");

  SetDefault(c.mutable_log()->mutable_level(), "info");

  v1::MeteringConfig& metering = *c.mutable_metering();
  if (metering.settle_max_batch() <= 0) metering.set_settle_max_batch(500);
  if (metering.settle_max_delay().seconds() == 0 && metering.settle_max_delay().nanos() == 0) {
    metering.mutable_settle_max_delay()->set_nanos(5'000'000);
  }
  if (metering.settle_max_pending() <= 0) metering.set_settle_max_pending(100'000);
  if (metering.retention_months() == 0) metering.set_retention_months(13);
  if (metering.months_ahead() <= 0) metering.set_months_ahead(2);
  if (metering.rollup_retention_months() == 0) metering.set_rollup_retention_months(60);
  if (metering.analytics_connections() <= 0) metering.set_analytics_connections(4);
  if (!metering.has_analytics_statement_timeout()) {
    metering.mutable_analytics_statement_timeout()->set_seconds(30);
  }
  if (!metering.has_export_stall_timeout())
    metering.mutable_export_stall_timeout()->set_seconds(60);
  if (!metering.has_reservation_ttl()) metering.mutable_reservation_ttl()->set_seconds(120);
  if (!metering.has_recovery_grace()) metering.mutable_recovery_grace()->set_seconds(5);
  if (!metering.has_webhook_timeout()) metering.mutable_webhook_timeout()->set_seconds(5);
  if (!metering.has_webhook_min_backoff()) metering.mutable_webhook_min_backoff()->set_seconds(5);

  v1::RemoteImagesConfig& images = *c.mutable_remote_images();
  if (images.max_bytes() <= 0) images.set_max_bytes(5 << 20);
  SetDefaultDuration(images.mutable_timeout(), 10);

  // Every wire format has a provider, so that the model-name prefixes (gpt-*, claude-*, ...) can
  // route without any configuration: a type the config does not name gets the built-in one.
  for (const ProviderTypeInfo& builtin : ProviderTypes()) {
    if (!builtin.builtin) continue;
    const bool typed =
        std::any_of(c.providers().begin(), c.providers().end(),
                    [&](const v1::ProviderConfig& p) { return p.type() == builtin.type; });
    const bool named =
        std::any_of(c.providers().begin(), c.providers().end(),
                    [&](const v1::ProviderConfig& p) { return p.name() == builtin.name; });
    if (typed || named) continue;
    v1::ProviderConfig& p = *c.add_providers();
    p.set_name(std::string(builtin.name));
    p.set_type(builtin.type);
    p.set_api_key_env(std::string(builtin.api_key_env));
  }
  for (v1::ProviderConfig& p : *c.mutable_providers()) {
    // A configured provider without base_url gets its type's; without api_key_env it sends no key.
    if (const ProviderTypeInfo* type = FindProviderType(p.type())) {
      SetDefault(p.mutable_base_url(), type->default_base_url);
    }
    SetDefaultDuration(p.mutable_connect_timeout(), 5);
    SetDefaultDuration(p.mutable_first_byte_timeout(), 60);
    SetDefaultDuration(p.mutable_idle_timeout(), 60);
  }
  for (v1::ModelConfig& m : *c.mutable_models()) {
    SetDefault(m.mutable_strategy(), "priority");
    for (v1::DeploymentConfig& d : *m.mutable_deployments()) {
      if (d.weight() == 0) d.set_weight(1);
    }
  }
}

absl::Status Validate(const v1::Config& c) {
  AIM_RETURN_IF_ERROR(CheckAddress("server.grpc_listen", c.server().grpc_listen(), false));
  AIM_RETURN_IF_ERROR(CheckAddress("server.metrics_listen", c.server().metrics_listen(), true));
  AIM_RETURN_IF_ERROR(CheckAddress("edge.listen", c.edge().listen(), false));
  AIM_RETURN_IF_ERROR(CheckAddress("peers.router", c.peers().router(), true));
  AIM_RETURN_IF_ERROR(CheckAddress("peers.provider_adapter", c.peers().provider_adapter(), true));
  AIM_RETURN_IF_ERROR(CheckAddress("peers.team_management", c.peers().team_management(), true));
  AIM_RETURN_IF_ERROR(CheckAddress("peers.usage_metering", c.peers().usage_metering(), true));
  if (c.edge().io_threads() < 0) return Invalid("edge.io_threads", "must not be negative");
  if (config::ToDuration(c.metering().reservation_ttl()) < absl::Seconds(3)) {
    return Invalid("metering.reservation_ttl",
                   "must be at least 3s: routers send a heartbeat every second");
  }
  if (const int rollups = c.metering().rollup_retention_months(),
      events = c.metering().retention_months();
      rollups != -1 && (rollups < -1 || events == -1 || rollups < events)) {
    return Invalid("metering.rollup_retention_months",
                   "must be at least metering.retention_months (the rollups outlive the events), "
                   "or -1 (forever)");
  }
  if (config::ToDuration(c.metering().analytics_statement_timeout()) <= absl::ZeroDuration()) {
    return Invalid("metering.analytics_statement_timeout", "must be more than 0");
  }
  if (config::ToDuration(c.metering().export_stall_timeout()) <= absl::ZeroDuration()) {
    return Invalid("metering.export_stall_timeout", "must be more than 0");
  }
  if (config::ToDuration(c.metering().webhook_timeout()) <= absl::ZeroDuration()) {
    return Invalid("metering.webhook_timeout", "must be more than 0");
  }
  if (config::ToDuration(c.metering().webhook_min_backoff()) <= absl::ZeroDuration()) {
    return Invalid("metering.webhook_min_backoff", "must be more than 0");
  }
  if (config::ToDuration(c.metering().recovery_grace()) < absl::ZeroDuration()) {
    return Invalid("metering.recovery_grace", "must not be negative");
  }
  if (c.metering().retention_months() < -1) {
    return Invalid("metering.retention_months", "must be -1 (forever) or a number of months");
  }
  const std::string& level = c.log().level();
  if (level != "debug" && level != "info" && level != "warn" && level != "error") {
    return Invalid("log.level", absl::StrCat("invalid value \"", level,
                                             "\"; expected debug, info, warn or error"));
  }

  absl::flat_hash_map<std::string, const v1::ProviderConfig*> provider_of;
  for (int i = 0; i < c.providers_size(); ++i) {
    const v1::ProviderConfig& p = c.providers(i);
    const std::string key = absl::StrCat("providers[", i, "]");
    if (p.name().empty()) return Invalid(absl::StrCat(key, ".name"), "is required");
    if (!provider_of.emplace(p.name(), &p).second) {
      return Invalid(absl::StrCat(key, ".name"),
                     absl::StrCat("duplicate provider name \"", p.name(), "\""));
    }
    if (p.type() == v1::PROVIDER_TYPE_UNSPECIFIED)
      return Invalid(absl::StrCat(key, ".type"), "is required");
    if (p.base_url().empty())
      return Invalid(absl::StrCat(key, ".base_url"), "is required for this type");
    if (p.type() == v1::PROVIDER_TYPE_HUGGINGFACE) {
      if (!p.api().empty() && p.api() != "router" && p.api() != "tgi" && p.api() != "generate") {
        return Invalid(
            absl::StrCat(key, ".api"),
            absl::StrCat("invalid value \"", p.api(), "\"; expected router, tgi or generate"));
      }
    } else if (!p.api().empty()) {
      return Invalid(absl::StrCat(key, ".api"), "is only used by huggingface providers");
    }
    if (!absl::StartsWith(p.base_url(), "http://") && !absl::StartsWith(p.base_url(), "https://")) {
      return Invalid(
          absl::StrCat(key, ".base_url"),
          absl::StrCat("invalid URL \"", p.base_url(), "\"; expected http:// or https://"));
    }
  }

  absl::flat_hash_set<std::string> models;
  for (int i = 0; i < c.models_size(); ++i) {
    const v1::ModelConfig& m = c.models(i);
    const std::string key = absl::StrCat("models[", i, "]");
    if (m.name().empty()) return Invalid(absl::StrCat(key, ".name"), "is required");
    if (!IsValidModelName(m.name())) {
      return Invalid(absl::StrCat(key, ".name"),
                     "must be 1 to 256 letters, digits and - . _ : / @, with no empty, '.' or '..' "
                     "part between slashes");
    }
    if (!models.insert(m.name()).second) {
      return Invalid(absl::StrCat(key, ".name"),
                     absl::StrCat("duplicate model name \"", m.name(), "\""));
    }
    if (m.strategy() != "priority") {
      return Invalid(absl::StrCat(key, ".strategy"),
                     absl::StrCat("invalid value \"", m.strategy(), "\"; expected priority"));
    }
    if (m.deployments().empty())
      return Invalid(absl::StrCat(key, ".deployments"), "needs at least one deployment");
    for (int j = 0; j < m.deployments_size(); ++j) {
      const v1::DeploymentConfig& d = m.deployments(j);
      const std::string dkey = absl::StrCat(key, ".deployments[", j, "]");
      if (!provider_of.contains(d.provider())) {
        return Invalid(absl::StrCat(dkey, ".provider"),
                       absl::StrCat("unknown provider \"", d.provider(), "\""));
      }
      if (d.model().empty()) return Invalid(absl::StrCat(dkey, ".model"), "is required");
      // Every catalog deployment has a price: its own, or the default table's.
      if (absl::StatusOr<pricing::Prices> prices =
              pricing::DeploymentPrices(*provider_of[d.provider()], d);
          !prices.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(dkey, ".", prices.status().message()));
      }
      if (d.weight() < 0) return Invalid(absl::StrCat(dkey, ".weight"), "must not be negative");
    }
  }
  return absl::OkStatus();
}

bool IsValidModelName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxModelNameBytes) return false;
  size_t segment = 0;  // Where the current part between slashes starts.
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '/') {
      const absl::string_view part = name.substr(segment, i - segment);
      if (part.empty() || part == "." || part == "..") return false;
      segment = i + 1;
      continue;
    }
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == ':' || c == '@';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<v1::Config> ParseConfig(absl::string_view yaml) {
  v1::Config config;
  AIM_RETURN_IF_ERROR(MergeYamlIntoProto(yaml, config));
  ApplyDefaults(config);
  AIM_RETURN_IF_ERROR(Validate(config));
  return config;
}

absl::StatusOr<v1::Config> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  absl::StatusOr<v1::Config> config = ParseConfig(buf.str());
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

absl::StatusOr<std::string> RequireEnv(absl::string_view var, absl::string_view key) {
  const char* value = std::getenv(std::string(var).c_str());
  if (value == nullptr || *value == '\0') {
    return absl::FailedPreconditionError(
        absl::StrCat("environment variable ", var, " (named by ", key, ") is not set"));
  }
  return std::string(value);
}

}  // namespace aimarket::config
