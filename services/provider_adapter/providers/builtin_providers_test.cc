// The provider table (common/config/provider_types) and the adapters' factories agree: every
// provider type has exactly one row and exactly one factory; a factory refuses a config that
// cannot work, and a provider whose key variable is unset is unavailable without sending anything.

#include "services/provider_adapter/providers/builtin_providers.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "common/config/config.h"
#include "common/config/provider_types.h"
#include "common/status/error.h"
#include "common/status/status_matchers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/provider_adapter/provider_adapter.h"
#include "services/provider_adapter/providers/translation_test_util.h"

namespace aimarket::provider {
namespace {

using ::aimarket::status::IsOk;
using ::aimarket::status::StatusIs;
using ::testing::HasSubstr;

TEST(ProviderTableTest, EveryTypeHasExactlyOneRowAndOneFactory) {
  const google::protobuf::EnumDescriptor* types = config::v1::ProviderType_descriptor();
  for (int i = 0; i < types->value_count(); ++i) {
    const auto type = static_cast<config::v1::ProviderType>(types->value(i)->number());
    if (type == config::v1::PROVIDER_TYPE_UNSPECIFIED) continue;
    SCOPED_TRACE(types->value(i)->name());
    int rows = 0, factories = 0;
    for (const config::ProviderTypeInfo& row : config::ProviderTypes()) {
      if (row.type != type) continue;
      ++rows;
      // The row's name is the config's spelling of the type.
      const std::string spelled = absl::StrReplaceAll(
          absl::AsciiStrToLower(types->value(i)->name().substr(sizeof("PROVIDER_TYPE_") - 1)),
          {{"_", "-"}});
      EXPECT_EQ(row.name, spelled);
      EXPECT_EQ(row.builtin, !row.default_base_url.empty());
    }
    for (const ProviderFactoryEntry& f : ProviderFactories()) factories += f.type == type;
    EXPECT_EQ(rows, 1);
    EXPECT_EQ(factories, 1);
  }
  EXPECT_EQ(config::ProviderTypes().size(), static_cast<size_t>(types->value_count() - 1));
  EXPECT_EQ(ProviderFactories().size(), static_cast<size_t>(types->value_count() - 1));
}

TEST(ProviderTableTest, EveryBuiltinTypeGetsAProviderWithItsUrlAndKeyVariable) {
  absl::StatusOr<config::v1::Config> c = config::ParseConfig("{}");
  ASSERT_THAT(c, IsOk());
  for (const config::ProviderTypeInfo& row : config::ProviderTypes()) {
    if (!row.builtin) continue;
    SCOPED_TRACE(row.name);
    const config::v1::ProviderConfig* found = nullptr;
    for (const config::v1::ProviderConfig& p : c->providers()) {
      if (p.type() == row.type) found = &p;
    }
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->name(), row.name);
    EXPECT_EQ(found->base_url(), row.default_base_url);
    EXPECT_EQ(found->api_key_env(), row.api_key_env);
  }
}

TEST(ProviderTableTest, AFactoryRefusesAConfigThatCannotWorkNamingTheKey) {
  config::v1::Config c;
  config::v1::ProviderConfig& ok = *c.add_providers();
  ok.set_name("ok");
  ok.set_type(config::v1::PROVIDER_TYPE_OPENAI);
  ok.set_base_url("http://127.0.0.1:1/v1");
  config::v1::ProviderConfig& hf = *c.add_providers();
  hf.set_name("hf");
  hf.set_type(config::v1::PROVIDER_TYPE_HUGGINGFACE);
  hf.set_base_url("http://127.0.0.1:1");
  hf.set_api("grpc");
  absl::StatusOr<std::unique_ptr<ProviderAdapter>> adapter = ProviderAdapter::Create(c);
  EXPECT_THAT(adapter, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(adapter.status().message(), HasSubstr("providers[1].api"));
  EXPECT_THAT(adapter.status().message(), HasSubstr("grpc"));
}

TEST(ProviderTableTest, AnUnsetKeyVariableMakesTheProviderUnavailableAndSendsNothing) {
  ::unsetenv("AIMARKET_TEST_UNSET_KEY");
  config::v1::ProviderConfig p;
  p.set_name("keyed");
  p.set_type(config::v1::PROVIDER_TYPE_ANTHROPIC);
  p.set_base_url("http://127.0.0.1:1");
  p.set_api_key_env("AIMARKET_TEST_UNSET_KEY");
  testing::FakeHttp http;
  config::v1::RemoteImagesConfig images;
  absl::StatusOr<std::unique_ptr<Provider>> made = NewBuiltinProvider(p, http, images);
  EXPECT_THAT(made, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(made.status().message(), HasSubstr("AIMARKET_TEST_UNSET_KEY"));

  config::v1::Config c;
  *c.add_providers() = p;
  absl::StatusOr<std::unique_ptr<ProviderAdapter>> adapter = ProviderAdapter::Create(c);
  ASSERT_THAT(adapter, IsOk());
  v1::Target target;
  target.set_provider("keyed");
  target.set_model("claude-x");
  common::v1::ChatRequest req;
  testing::Collector out;
  (*adapter)->Generate(rpc::CallContext(), target, req, out);
  ASSERT_TRUE(out.done);
  EXPECT_THAT(out.status, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(status::GetErrorInfo(out.status)->reason(), "PROVIDER_KEY_MISSING");
  EXPECT_THAT(out.status.message(), HasSubstr("AIMARKET_TEST_UNSET_KEY"));

  // Set, the key goes out in the provider's own header, never empty.
  ::setenv("AIMARKET_TEST_UNSET_KEY", "sk-test", 1);
  made = NewBuiltinProvider(p, http, images);
  ASSERT_THAT(made, IsOk());
  req.add_messages()->set_role("user");
  req.mutable_messages(0)->set_content("hi");
  testing::Collector sent;
  (*made)->Generate(rpc::CallContext(), "claude-x", req, sent);
  EXPECT_THAT(http.request.headers, ::testing::Contains("x-api-key: sk-test"));
  EXPECT_THAT(http.request.headers, ::testing::Contains("anthropic-version: 2023-06-01"));
  EXPECT_EQ(http.request.url, "http://127.0.0.1:1/v1/messages");
  if (http.handler != nullptr) http.handler->OnComplete(absl::UnavailableError("test"));
  ::unsetenv("AIMARKET_TEST_UNSET_KEY");
}

TEST(ProviderTableTest, HealthRequestsUseTheBaseUrlAndTheKey) {
  struct Case {
    config::v1::ProviderType type;
    std::string api;
    std::string url;
    std::string header;
  };
  const Case cases[] = {
      {config::v1::PROVIDER_TYPE_OPENAI, "", "http://h.test/v1/models", "Authorization: Bearer k"},
      {config::v1::PROVIDER_TYPE_ANTHROPIC, "", "http://h.test/v1/v1/models", "x-api-key: k"},
      {config::v1::PROVIDER_TYPE_GEMINI, "", "http://h.test/v1/v1beta/models", "x-goog-api-key: k"},
      {config::v1::PROVIDER_TYPE_COHERE, "", "http://h.test/v1/v1/models",
       "Authorization: Bearer k"},
      {config::v1::PROVIDER_TYPE_OLLAMA, "", "http://h.test/v1/api/tags",
       "Authorization: Bearer k"},
      {config::v1::PROVIDER_TYPE_HUGGINGFACE, "tgi", "http://h.test/v1/health",
       "Authorization: Bearer k"},
  };
  ::setenv("AIMARKET_TEST_HEALTH_KEY", "k", 1);
  for (const Case& c : cases) {
    config::v1::ProviderConfig p;
    p.set_name("p");
    p.set_type(c.type);
    p.set_api(c.api);
    p.set_base_url("http://h.test/v1/");  // The trailing slash is dropped.
    p.set_api_key_env("AIMARKET_TEST_HEALTH_KEY");
    testing::FakeHttp http;
    config::v1::RemoteImagesConfig images;
    absl::StatusOr<std::unique_ptr<Provider>> made = NewBuiltinProvider(p, http, images);
    ASSERT_THAT(made, IsOk());
    const HttpCallRequest health = (*made)->HealthRequest();
    EXPECT_EQ(health.method, "GET");
    EXPECT_EQ(health.url, c.url);
    EXPECT_THAT(health.headers, ::testing::Contains(c.header));
  }
  ::unsetenv("AIMARKET_TEST_HEALTH_KEY");
}

}  // namespace
}  // namespace aimarket::provider
