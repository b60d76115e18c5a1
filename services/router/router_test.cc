// The router on fakes of its peers (tests/fakes): failover over a model's deployments, what is
// retryable, who may call which model, authentication through the principal cache on a fake
// clock. The integration tests run the same router over real gRPC, HTTP and mock upstreams.

#include "services/router/router.h"

#include <google/protobuf/text_format.h>

#include "absl/synchronization/notification.h"
#include "common/status/error.h"
#include "common/status/reasons.h"
#include "common/status/status_matchers.h"
#include "common/time/fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/router/routing_rules.h"
#include "tests/fakes/fake_pipeline.h"
#include "tests/fakes/fake_provider.h"
#include "tests/fakes/fake_team.h"

namespace aimarket::router {
namespace {

using ::aimarket::status::IsOk;
using ::aimarket::status::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The events of one Chat and its end; waits for the end (the router may finish on a worker).
class Stream final : public rpc::StreamObserver<common::v1::ChatEvent> {
 public:
  void OnEvent(const common::v1::ChatEvent& ev) override { events.push_back(ev.raw_json()); }
  void OnComplete(const absl::Status& s) override {
    status = s;
    done.Notify();
  }
  std::vector<std::string> events;
  absl::Status status;
  absl::Notification done;
};

constexpr char kConfig[] = R"pb(
  providers { name: "primary" type: PROVIDER_TYPE_OPENAI_COMPATIBLE base_url: "http://p" }
  providers { name: "backup" type: PROVIDER_TYPE_OPENAI_COMPATIBLE base_url: "http://b" }
  providers { name: "third" type: PROVIDER_TYPE_OPENAI_COMPATIBLE base_url: "http://t" }
  models {
    name: "m"
    deployments { provider: "primary" model: "m-primary" }
    deployments { provider: "backup" model: "m-backup" }
    deployments { provider: "third" model: "m-third" }
  }
  models {
    name: "other"
    deployments { provider: "primary" model: "other-1" }
  }
)pb";

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(kConfig, &config_));
    team_.AddKey("sk-member", fakes::MemberPrincipal("teams/t", common::v1::ROLE_MEMBER));
    team_.AddKey("sk-viewer", fakes::MemberPrincipal("teams/t", common::v1::ROLE_VIEWER));
    common::v1::Principal limited = fakes::MemberPrincipal("teams/t", common::v1::ROLE_MEMBER);
    limited.mutable_settings()->add_model_access("oth*");
    team_.AddKey("sk-limited", limited);
    router_ = std::make_unique<Router>(config_, team_, dispatcher_, clock_);
  }

  // Chat as `key` for `model`; waits for the end.
  std::unique_ptr<Stream> Chat(const std::string& key, const std::string& model) {
    auto stream = std::make_unique<Stream>();
    req_.set_model(model);
    rpc::CallContext ctx;
    ctx.authorization = "Bearer " + key;
    ctx.request_id = "req_1";
    router_->Chat(std::move(ctx), req_, *stream);
    EXPECT_TRUE(stream->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return stream;
  }

  config::v1::Config config_;
  time::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  fakes::FakeTeam team_;
  fakes::FakeProvider provider_;
  fakes::FakeAdmission admission_;
  fakes::FakePlanner planner_;
  fakes::FakeSettler settler_;
  Dispatcher dispatcher_{admission_, planner_, settler_, provider_, clock_};
  common::v1::ChatRequest req_;
  std::unique_ptr<Router> router_;
};

TEST_F(RouterTest, FailsOverBeforeTheFirstEventOnRetryableErrorsOnly) {
  provider_.Script("primary", {.status = fakes::UpstreamError(503)});
  provider_.Script("backup", {.status = fakes::UpstreamError(429)});
  provider_.Script("third", {.events = {"a", "b"}});
  std::unique_ptr<Stream> s = Chat("sk-member", "m");
  EXPECT_THAT(s->status, IsOk());
  EXPECT_THAT(s->events, ElementsAre("a", "b"));
  EXPECT_THAT(provider_.calls(),
              ElementsAre("primary/m-primary", "backup/m-backup", "third/m-third"));
}

TEST_F(RouterTest, AClientErrorIsNotRetried) {
  provider_.Script("primary", {.status = fakes::UpstreamError(400)});
  provider_.Script("backup", {.events = {"never"}});
  std::unique_ptr<Stream> s = Chat("sk-member", "m");
  EXPECT_THAT(s->status, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s->events, IsEmpty());
  EXPECT_THAT(provider_.calls(), ElementsAre("primary/m-primary"));
}

TEST_F(RouterTest, AnErrorAfterTheFirstEventEndsTheStreamWithoutFailover) {
  provider_.Script("primary", {.events = {"a"}, .status = fakes::UpstreamError(502)});
  provider_.Script("backup", {.events = {"never"}});
  std::unique_ptr<Stream> s = Chat("sk-member", "m");
  EXPECT_THAT(s->status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(s->events, ElementsAre("a"));
  EXPECT_THAT(provider_.calls(), ElementsAre("primary/m-primary"));
}

TEST_F(RouterTest, NoReachableDeploymentIsNamedAsSuch) {
  // Nothing scripted: every upstream is unreachable.
  std::unique_ptr<Stream> s = Chat("sk-member", "m");
  EXPECT_THAT(s->status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(status::GetErrorInfo(s->status)->reason(), status::reason::kNoDeploymentAvailable);
  EXPECT_THAT(std::string(s->status.message()), ::testing::HasSubstr("3 tried"));
  EXPECT_EQ(provider_.calls().size(), 3u);
}

TEST_F(RouterTest, EmbedFailsOverByTheSameRule) {
  provider_.Script("primary", {.status = fakes::UpstreamError(500)});
  provider_.Script("backup", {});
  rpc::CallContext ctx;
  ctx.authorization = "Bearer sk-member";
  common::v1::EmbedRequest req;
  req.set_model("m");
  absl::StatusOr<common::v1::EmbedResponse> resp;
  absl::Notification done;
  router_->Embed(ctx, req, [&](absl::StatusOr<common::v1::EmbedResponse> r) {
    resp = std::move(r);
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_THAT(resp, IsOk());
  EXPECT_EQ(resp->model(), "m-backup");
  EXPECT_THAT(provider_.calls(), ElementsAre("primary/m-primary", "backup/m-backup"));
}

TEST_F(RouterTest, ViewersAndModelsOutsideModelAccessAreRefusedBeforeAnyUpstream) {
  provider_.Script("primary", {.events = {"a"}});
  std::unique_ptr<Stream> viewer = Chat("sk-viewer", "m");
  EXPECT_THAT(viewer->status, StatusIs(absl::StatusCode::kPermissionDenied));
  std::unique_ptr<Stream> limited = Chat("sk-limited", "m");
  EXPECT_THAT(limited->status, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(status::GetErrorInfo(limited->status)->reason(), "MODEL_NOT_ALLOWED");
  EXPECT_THAT(provider_.calls(), IsEmpty());
  std::unique_ptr<Stream> allowed = Chat("sk-limited", "other");
  EXPECT_THAT(allowed->status, IsOk());
  EXPECT_THAT(provider_.calls(), ElementsAre("primary/other-1"));

  rpc::CallContext ctx;
  ctx.authorization = "Bearer sk-limited";
  absl::StatusOr<v1::ListModelsResponse> models = router_->ListModels(ctx, {});
  ASSERT_THAT(models, IsOk());
  ASSERT_EQ(models->models_size(), 1);
  EXPECT_EQ(models->models(0).id(), "other");
}

TEST_F(RouterTest, UnknownKeysAndModelsAreRefused) {
  std::unique_ptr<Stream> unknown = Chat("sk-nobody", "m");
  EXPECT_THAT(unknown->status, StatusIs(absl::StatusCode::kUnauthenticated));
  std::unique_ptr<Stream> model = Chat("sk-member", "no-such-model");
  EXPECT_THAT(model->status, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(status::GetErrorInfo(model->status)->reason(), "MODEL_NOT_FOUND");
  EXPECT_THAT(provider_.calls(), IsEmpty());
}

TEST_F(RouterTest, ACachedKeyServesWhileTeamManagementIsDownAndARemovedKeyStopsWithinTheTtl) {
  provider_.Script("primary", {.events = {"a"}});
  EXPECT_THAT(Chat("sk-member", "m")->status, IsOk());
  const int asked = team_.authentications.load();
  EXPECT_THAT(Chat("sk-member", "m")->status, IsOk());
  EXPECT_EQ(team_.authentications.load(), asked);  // From the cache.

  // team-management down: the key it vouched for goes on working.
  team_.unavailable = true;
  clock_.Advance(Router::kPrincipalTtl + absl::Seconds(1));
  EXPECT_THAT(Chat("sk-member", "m")->status, IsOk());

  // Back, and the key removed: refused once the cached entry is past its life.
  team_.unavailable = false;
  team_.RemoveKey("sk-member");
  clock_.Advance(Router::kPrincipalTtl + absl::Seconds(1));
  EXPECT_THAT(Chat("sk-member", "m")->status, StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(RoutingRulesTest, RetryableFollowsTheUpstreamStatusThenTheCode) {
  EXPECT_TRUE(Retryable(fakes::UpstreamError(429)));
  EXPECT_TRUE(Retryable(fakes::UpstreamError(500)));
  EXPECT_TRUE(Retryable(fakes::UpstreamError(503)));
  EXPECT_FALSE(Retryable(fakes::UpstreamError(400)));
  EXPECT_FALSE(Retryable(fakes::UpstreamError(401)));
  EXPECT_FALSE(Retryable(fakes::UpstreamError(404)));
  // An upstream's 4xx is not retried even under a code that otherwise would be.
  EXPECT_FALSE(Retryable(status::Error(absl::StatusCode::kUnavailable, "X", "y").HttpStatus(413)));
  EXPECT_TRUE(Retryable(absl::UnavailableError("connection refused")));
  EXPECT_TRUE(Retryable(absl::DeadlineExceededError("timeout")));
  EXPECT_TRUE(Retryable(absl::ResourceExhaustedError("busy")));
  EXPECT_TRUE(Retryable(absl::InternalError("bad answer")));
  EXPECT_FALSE(Retryable(absl::InvalidArgumentError("bad request")));
  EXPECT_FALSE(Retryable(absl::CancelledError("client gone")));
  EXPECT_FALSE(Retryable(absl::PermissionDeniedError("no")));
  EXPECT_FALSE(Retryable(absl::NotFoundError("no model")));
}

TEST(RoutingRulesTest, ModelAccessMatchesExactNamesAndPrefixes) {
  common::v1::Principal p = fakes::MemberPrincipal("teams/t", common::v1::ROLE_MEMBER);
  EXPECT_TRUE(ModelAllowed(p, "anything"));  // An empty list allows every model.
  p.mutable_settings()->add_model_access("gpt-4o");
  p.mutable_settings()->add_model_access("claude-*");
  EXPECT_TRUE(ModelAllowed(p, "gpt-4o"));
  EXPECT_FALSE(ModelAllowed(p, "gpt-4o-mini"));  // Exact unless the entry ends in '*'.
  EXPECT_FALSE(ModelAllowed(p, "gpt-4"));
  EXPECT_TRUE(ModelAllowed(p, "claude-haiku-4-5"));
  EXPECT_TRUE(ModelAllowed(p, "claude-"));
  EXPECT_FALSE(ModelAllowed(p, "claude"));
  EXPECT_FALSE(ModelAllowed(p, "ollama/claude-x"));
  common::v1::Principal admin;
  admin.set_bootstrap_admin(true);
  *admin.mutable_settings() = p.settings();
  EXPECT_TRUE(ModelAllowed(admin, "gpt-4o-mini"));
}

TEST(RoutingRulesTest, AuthorizeModelRefusesUnsafeNamesViewersAndOtherModels) {
  common::v1::Principal p = fakes::MemberPrincipal("teams/t", common::v1::ROLE_MEMBER);
  EXPECT_THAT(AuthorizeModel(p, "gpt-4o"), IsOk());
  for (const char* bad : {"", "../x", "a/../b", "a b", "a?b", "a%2fb", "a//b"}) {
    EXPECT_THAT(AuthorizeModel(p, bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  EXPECT_THAT(AuthorizeModel(p, std::string(257, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  p.set_role(common::v1::ROLE_VIEWER);
  EXPECT_THAT(AuthorizeModel(p, "gpt-4o"), StatusIs(absl::StatusCode::kPermissionDenied));
  p.set_role(common::v1::ROLE_ADMIN);
  p.mutable_settings()->add_model_access("gpt-4o");
  absl::Status other = AuthorizeModel(p, "gpt-4o-mini");
  EXPECT_THAT(other, StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(status::GetErrorInfo(other)->reason(), "MODEL_NOT_ALLOWED");
  EXPECT_EQ(status::GetErrorInfo(other)->param(), "model");
}

}  // namespace
}  // namespace aimarket::router
