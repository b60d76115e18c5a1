#include "common/config/config.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/status/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aimarket::config {
namespace {

using ::aimarket::status::IsOk;
using ::aimarket::status::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kGood[] = R"(
server: {grpc_listen: "127.0.0.1:0", drain_timeout: 250ms}
edge:
  listen: "127.0.0.1:8080"
  io_threads: 2
providers:
  - {name: openai, type: openai, base_url: "https://api.openai.com/v1", api_key_env: OPENAI_API_KEY}
  - {name: local, type: openai-compatible, base_url: "http://127.0.0.1:9999/v1", idle_timeout: 2m}
models:
  - name: gpt-4o-mini
    deployments:
      - {provider: openai, model: gpt-4o-mini, input_per_mtok: 0.15, output_per_mtok: 0.60}
      - {provider: local, model: llama, input_per_mtok: 1, output_per_mtok: 2}
)";

TEST(ConfigTest, ParsesAndFillsDefaults) {
  absl::StatusOr<v1::Config> c = ParseConfig(kGood);
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server().grpc_listen(), "127.0.0.1:0");
  EXPECT_EQ(ToDuration(c->server().drain_timeout()), absl::Milliseconds(250));
  EXPECT_EQ(c->edge().io_threads(), 2);
  EXPECT_EQ(c->edge().max_body_bytes(), 8 << 20);
  EXPECT_EQ(c->providers(1).type(), v1::PROVIDER_TYPE_OPENAI_COMPATIBLE);
  EXPECT_EQ(ToDuration(c->providers(1).idle_timeout()), absl::Minutes(2));
  EXPECT_EQ(ToDuration(c->providers(0).connect_timeout()), absl::Seconds(5));
  EXPECT_DOUBLE_EQ(c->models(0).deployments(0).output_per_mtok(), 0.60);
  EXPECT_EQ(c->models(0).strategy(), "priority");
  EXPECT_EQ(c->postgres().dsn_env(), "AIMARKET_PG_DSN");
  EXPECT_EQ(c->auth().bootstrap_admin_key_env(), "AIMARKET_ADMIN_KEY");
}

TEST(ConfigTest, EmptyFileIsAllDefaults) {
  absl::StatusOr<v1::Config> c = ParseConfig("");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->edge().listen(), "0.0.0.0:8080");
  // Every wire format has its built-in provider.
  ASSERT_EQ(c->providers_size(), 6);
  EXPECT_EQ(c->providers(1).name(), "anthropic");
  EXPECT_EQ(c->providers(1).base_url(), "https://api.anthropic.com");
  EXPECT_EQ(c->providers(1).api_key_env(), "ANTHROPIC_API_KEY");
  EXPECT_EQ(c->providers(5).name(), "ollama");
  EXPECT_EQ(c->providers(5).api_key_env(), "");
}

TEST(ConfigTest, AConfiguredProviderOfATypeReplacesTheBuiltInOne) {
  absl::StatusOr<v1::Config> c = ParseConfig("providers:\n  - {name: claude, type: anthropic}\n");
  ASSERT_THAT(c, IsOk());
  ASSERT_EQ(c->providers_size(), 6);
  EXPECT_EQ(c->providers(0).name(), "claude");
  EXPECT_EQ(c->providers(0).base_url(), "https://api.anthropic.com");  // The type's URL by default,
  EXPECT_EQ(c->providers(0).api_key_env(), "");                        // but no key unless named.
  for (const auto& p : c->providers()) EXPECT_NE(p.name(), "anthropic");
}

struct BadCase {
  const char* yaml;
  const char* expected;  // Substrings that the error must contain, in order of importance.
  const char* also;
};

class ConfigErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrorTest, NamesTheKey) {
  absl::StatusOr<v1::Config> c = ParseConfig(GetParam().yaml);
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument,
                          AllOf(HasSubstr(GetParam().expected), HasSubstr(GetParam().also))));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConfigErrorTest,
    ::testing::Values(
        BadCase{"edge:\n  listne: x\n", "edge.listne (line 2)", "unknown key"},
        BadCase{"bogus: 1\n", "bogus (line 1)", "unknown key"},
        // Removed (nothing read it); refused like any unknown key.
        BadCase{"server:\n  worker_threads: 4\n", "server.worker_threads (line 2)", "unknown key"},
        BadCase{"edge: {io_threads: lots}\n", "edge.io_threads", "expected an integer"},
        BadCase{"edge: {listen: [a, b]}\n", "edge.listen", "expected a single value"},
        BadCase{"server: {drain_timeout: soon}\n", "server.drain_timeout", "invalid duration"},
        BadCase{"providers: {name: x}\n", "providers", "expected a list"},
        BadCase{"providers:\n  - {name: x, type: opneai, base_url: 'http://a'}\n",
                "providers[0].type", "openai-compatible"},
        BadCase{"providers:\n  - {name: x, type: openai, base_url: 'http://a', extra: 1}\n",
                "providers[0].extra", "unknown key"},
        BadCase{"models:\n  - {name: m, deployments: [{provider: nope, model: x}]}\n",
                "models[0].deployments[0].provider", "unknown provider \"nope\""},
        BadCase{"providers:\n  - {name: a, type: openai, base_url: 'http://a'}\n"
                "  - {name: a, type: openai, base_url: 'http://b'}\n",
                "providers[1].name", "duplicate"},
        BadCase{"providers:\n  - {name: a, type: openai, base_url: 'ftp://a'}\n",
                "providers[0].base_url", "http"},
        BadCase{"edge: {listen: 'nohostport'}\n", "edge.listen", "host:port"},
        BadCase{"log: {level: chatty}\n", "log.level", "debug"},
        BadCase{"models:\n  - {name: m, deployments: []}\n", "models[0].deployments",
                "at least one"},
        BadCase{"edge: [\n", "malformed YAML", "line"},
        BadCase{"providers:\n  - {name: x, type: openai-compatible}\n", "providers[0].base_url",
                "required"},
        BadCase{"providers:\n  - {name: h, type: huggingface, api: chat}\n", "providers[0].api",
                "router, tgi"},
        BadCase{"providers:\n  - {name: o, type: openai, api: tgi}\n", "providers[0].api",
                "huggingface"},
        BadCase{"- a\n- b\n", "config", "expected a mapping"},
        // A catalog deployment needs a price: its own or the default table's (0 is a price).
        BadCase{"models:\n  - {name: m, deployments: [{provider: openai, model: my-finetune}]}\n",
                "models[0].deployments[0].input_per_mtok",
                "state input_per_mtok and output_per_mtok"},
        BadCase{"models:\n  - {name: m, deployments: [{provider: openai, model: my-finetune, "
                "input_per_mtok: 1}]}\n",
                "models[0].deployments[0].output_per_mtok", "my-finetune"},
        BadCase{"models:\n  - {name: m, deployments: [{provider: openai, model: gpt-4o, "
                "cached_input_per_mtok: -1}]}\n",
                "models[0].deployments[0].cached_input_per_mtok", "negative"},
        // Rollups outlive the events they sum.
        BadCase{"metering: {retention_months: 24, rollup_retention_months: 12}\n",
                "metering.rollup_retention_months", "at least metering.retention_months"},
        BadCase{"metering: {retention_months: -1, rollup_retention_months: 120}\n",
                "metering.rollup_retention_months", "-1"}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return absl::StrCat("Case", info.index); });

TEST(ConfigTest, PricesComeFromTheDeploymentOrTheDefaultTable) {
  absl::StatusOr<v1::Config> c = ParseConfig(R"(
providers:
  - {name: local, type: openai-compatible, base_url: "http://127.0.0.1:1"}
models:
  - name: known
    deployments: [{provider: openai, model: gpt-4o-mini-2024-07-18}]
  - name: free
    deployments: [{provider: local, model: llama, input_per_mtok: 0, output_per_mtok: 0}]
  - name: ollama
    deployments: [{provider: ollama, model: anything-at-all}]
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->models(0).deployments(0).has_input_per_mtok());
  EXPECT_TRUE(c->models(1).deployments(0).has_input_per_mtok());
}

TEST(ConfigTest, LoadFileNamesTheFile) {
  EXPECT_THAT(LoadConfigFile("/nonexistent/aimarket.yaml"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(ConfigTest, RequireEnvNamesVariableAndKey) {
  unsetenv("AIMARKET_TEST_UNSET_VAR");
  EXPECT_THAT(RequireEnv("AIMARKET_TEST_UNSET_VAR", "auth.bootstrap_admin_key_env"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("AIMARKET_TEST_UNSET_VAR"),
                             HasSubstr("auth.bootstrap_admin_key_env"))));
  setenv("AIMARKET_TEST_SET_VAR", "v", 1);
  EXPECT_EQ(*RequireEnv("AIMARKET_TEST_SET_VAR", "k"), "v");
}

}  // namespace
}  // namespace aimarket::config
