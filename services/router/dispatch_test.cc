// The dispatch pipeline on fakes of its seams and of the provider (tests/fakes): one admission
// per request, one failover rule for chat and embeddings, exactly one settlement for every end a
// request can have, cost from usage; and the batching settler on a fake clock.

#include "services/router/dispatch.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/status/error.h"
#include "common/status/status_matchers.h"
#include "common/time/fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/router/reservation_book.h"
#include "services/router/settler.h"
#include "tests/fakes/fake_metering.h"
#include "tests/fakes/fake_pipeline.h"
#include "tests/fakes/fake_provider.h"
#include "tests/fakes/fake_team.h"

namespace aimarket::router {
namespace {

using ::aimarket::status::IsOk;
using ::aimarket::status::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

class Stream final : public rpc::StreamObserver<common::v1::ChatEvent> {
 public:
  void OnEvent(const common::v1::ChatEvent& ev) override { events.push_back(ev); }
  void OnComplete(const absl::Status& s) override {
    status = s;
    done.Notify();
  }
  std::vector<common::v1::ChatEvent> events;
  absl::Status status;
  absl::Notification done;
};

// A provider that sends one event, then waits for the test to end the stream: what a client's
// cancellation in the middle of a stream looks like from the pipeline.
class HeldProvider final : public provider::ProviderApi {
 public:
  void Generate(rpc::CallContext, const provider::v1::Target&, const common::v1::ChatRequest&,
                rpc::StreamObserver<common::v1::ChatEvent>& observer) override {
    common::v1::ChatEvent ev;
    ev.set_raw_json("first");
    observer.OnEvent(ev);
    observer_ = &observer;
  }
  void Embed(const rpc::CallContext&, const provider::v1::EmbedRequest&,
             rpc::Done<common::v1::EmbedResponse> done) override {
    done(absl::UnimplementedError("no"));
  }
  absl::StatusOr<provider::v1::CheckHealthResponse> CheckHealth(
      const rpc::CallContext&, const provider::v1::CheckHealthRequest&) override {
    return absl::UnimplementedError("no");
  }
  rpc::StreamObserver<common::v1::ChatEvent>* observer_ = nullptr;
};

pricing::Prices Price(double input, double output, int64_t max_output = 1000) {
  pricing::Prices p;
  p.input = p.cached_input = p.cache_write = *money::PerMtok::FromDollars(input);
  p.output = *money::PerMtok::FromDollars(output);
  p.max_output_tokens = max_output;
  return p;
}

common::v1::Usage MakeUsage(int64_t prompt, int64_t completion) {
  common::v1::Usage u;
  u.set_prompt_tokens(prompt);
  u.set_completion_tokens(completion);
  u.set_total_tokens(prompt + completion);
  return u;
}

class DispatchTest : public ::testing::Test {
 protected:
  DispatchTest() {
    auto route = std::make_shared<Route>();
    route->name = "m";
    route->deployments.push_back({"primary", "m-primary", Price(1, 2)});
    route->deployments.push_back({"backup", "m-backup", Price(3, 4)});
    route_ = route;
  }

  Ticket MakeTicket() {
    Ticket t;
    t.request_id = "req_" + std::to_string(++requests_);
    common::v1::Principal p = fakes::MemberPrincipal("teams/t", common::v1::ROLE_MEMBER);
    p.mutable_settings()->set_cost_center("cc-1");
    t.principal = std::make_shared<const common::v1::Principal>(std::move(p));
    t.route = route_;
    t.prompt_tokens = 100;
    return t;
  }

  std::unique_ptr<Stream> Chat(rpc::CallContext ctx = {}) {
    auto stream = std::make_unique<Stream>();
    dispatcher_.Chat(std::move(ctx), MakeTicket(), req_, *stream);
    EXPECT_TRUE(stream->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return stream;
  }

  absl::StatusOr<common::v1::EmbedResponse> Embed() {
    absl::StatusOr<common::v1::EmbedResponse> resp;
    absl::Notification done;
    dispatcher_.Embed({}, MakeTicket(), embed_req_,
                      [&](absl::StatusOr<common::v1::EmbedResponse> r) {
                        resp = std::move(r);
                        done.Notify();
                      });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return resp;
  }

  usage::v1::Settlement OnlySettlement() {
    std::vector<usage::v1::Settlement> s = settler_.settled();
    EXPECT_THAT(s, SizeIs(1));
    return s.empty() ? usage::v1::Settlement() : s[0];
  }

  std::shared_ptr<const Route> route_;
  int requests_ = 0;
  time::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  fakes::FakeProvider provider_;
  fakes::FakeAdmission admission_;
  fakes::FakePlanner planner_;
  fakes::FakeSettler settler_;
  Dispatcher dispatcher_{admission_, planner_, settler_, provider_, clock_};
  common::v1::ChatRequest req_;
  common::v1::EmbedRequest embed_req_;
};

TEST_F(DispatchTest, ChatAndEmbeddingsAreAdmittedOnceAndFailOverByTheSameCode) {
  provider_.Script("primary", {.status = fakes::UpstreamError(503)});
  provider_.Script("backup", {.events = {"a"}, .usage = MakeUsage(10, 20)});
  std::unique_ptr<Stream> chat = Chat();
  EXPECT_THAT(chat->status, IsOk());
  absl::StatusOr<common::v1::EmbedResponse> embed = Embed();
  ASSERT_THAT(embed, IsOk());
  EXPECT_EQ(embed->model(), "m-backup");

  EXPECT_THAT(admission_.tickets(), SizeIs(2));  // One each, whatever the attempts.
  EXPECT_THAT(provider_.calls(), ElementsAre("primary/m-primary", "backup/m-backup",
                                             "primary/m-primary", "backup/m-backup"));
  std::vector<usage::v1::Settlement> settled = settler_.settled();
  ASSERT_THAT(settled, SizeIs(2));
  EXPECT_EQ(settled[0].kind(), "chat");
  EXPECT_EQ(settled[1].kind(), "embeddings");
  for (const usage::v1::Settlement& s : settled) {
    EXPECT_EQ(s.outcome(), "ok");
    EXPECT_EQ(s.attempts(), 2);
    EXPECT_EQ(s.deployment(), 1);
    EXPECT_EQ(s.provider(), "backup");
    EXPECT_EQ(s.upstream_model(), "m-backup");
    EXPECT_EQ(s.team(), "teams/t");
    EXPECT_EQ(s.cost_center(), "cc-1");
    EXPECT_EQ(s.reservation_id(), "r-" + s.request_id());
    EXPECT_EQ(s.http_status(), 200);
  }
  // 10 × $3 + 20 × $4 per million = 110 µ$ = 110,000 n$, at the backup's prices.
  EXPECT_EQ(settled[0].usage().cost_nano_usd(), 110'000);
}

TEST_F(DispatchTest, EmbeddingsWithoutTokenCountsAreEstimatedFromTheInput) {
  provider_.Script("primary", {});  // Answers without usage, as Gemini does.
  absl::StatusOr<common::v1::EmbedResponse> embed = Embed();
  ASSERT_THAT(embed, IsOk());
  usage::v1::Settlement settled = OnlySettlement();
  EXPECT_TRUE(settled.estimated());
  EXPECT_EQ(settled.usage().prompt_tokens(), 100);  // The ticket's estimate.
  EXPECT_EQ(settled.usage().cost_nano_usd(), 100'000);
  EXPECT_EQ(embed->usage().cost_nano_usd(), 100'000);
}

TEST_F(DispatchTest, TheUsageEventCarriesItsCostToTheCaller) {
  provider_.Script("primary", {.events = {"a", "b"}, .usage = MakeUsage(1000, 500)});
  std::unique_ptr<Stream> s = Chat();
  ASSERT_THAT(s->events, SizeIs(3));
  EXPECT_TRUE(s->events[2].usage_only());
  // 1,000 × $1 + 500 × $2 per million = $0.002.
  EXPECT_EQ(s->events[2].usage().cost_nano_usd(), 2'000'000);
  usage::v1::Settlement settled = OnlySettlement();
  EXPECT_EQ(settled.usage().cost_nano_usd(), 2'000'000);
  EXPECT_FALSE(settled.estimated());
  EXPECT_EQ(settled.usage().prompt_tokens(), 1000);
}

TEST_F(DispatchTest, AnUpstreamErrorIsSettledOnceWithNothingToPay) {
  provider_.Script("primary", {.status = fakes::UpstreamError(400)});
  std::unique_ptr<Stream> s = Chat();
  EXPECT_THAT(s->status, StatusIs(absl::StatusCode::kInvalidArgument));
  usage::v1::Settlement settled = OnlySettlement();
  EXPECT_EQ(settled.outcome(), "error");
  EXPECT_EQ(settled.http_status(), 400);
  EXPECT_EQ(settled.attempts(), 1);
  EXPECT_FALSE(settled.estimated());
  EXPECT_EQ(settled.usage().cost_nano_usd(), 0);
}

TEST_F(DispatchTest, AStreamCutByTheUpstreamIsSettledFromWhatWasDelivered) {
  provider_.Script("primary", {.events = {"a", "b", "c"}, .status = fakes::UpstreamError(502)});
  provider_.Script("backup", {.events = {"never"}});
  std::unique_ptr<Stream> s = Chat();
  EXPECT_FALSE(s->status.ok());
  usage::v1::Settlement settled = OnlySettlement();
  EXPECT_EQ(settled.outcome(), "cut");
  EXPECT_EQ(settled.http_status(), 200);  // The client got a 200 and a stream.
  EXPECT_TRUE(settled.estimated());
  EXPECT_EQ(settled.usage().prompt_tokens(), 100);    // The ticket's estimate.
  EXPECT_EQ(settled.usage().completion_tokens(), 3);  // A token per chunk delivered.
  // 100 × $1 + 3 × $2 per million = 106 µ$.
  EXPECT_EQ(settled.usage().cost_nano_usd(), 106'000);
  EXPECT_THAT(provider_.calls(), ElementsAre("primary/m-primary"));
}

TEST_F(DispatchTest, ACancellationDuringAdmissionReachesNoProviderAndIsSettledOnce) {
  provider_.Script("primary", {.events = {"a"}});
  admission_.Hold();
  rpc::CallContext ctx;
  auto stream = std::make_unique<Stream>();
  dispatcher_.Chat(ctx, MakeTicket(), req_, *stream);
  ctx.cancellation->Cancel();  // The client goes while admission is out.
  admission_.Release();
  ASSERT_TRUE(stream->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_THAT(stream->status, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(provider_.calls(), IsEmpty());
  usage::v1::Settlement settled = OnlySettlement();
  EXPECT_EQ(settled.outcome(), "cancelled");
  EXPECT_EQ(settled.attempts(), 0);
  EXPECT_EQ(settled.deployment(), -1);
  EXPECT_EQ(settled.usage().cost_nano_usd(), 0);
}

TEST_F(DispatchTest, ACancellationMidStreamIsSettledOnceAsEstimated) {
  HeldProvider held;
  Dispatcher dispatcher(admission_, planner_, settler_, held, clock_);
  rpc::CallContext ctx;
  Stream stream;
  dispatcher.Chat(ctx, MakeTicket(), req_, stream);
  ASSERT_NE(held.observer_, nullptr);
  clock_.Advance(absl::Milliseconds(250));
  ctx.cancellation->Cancel();
  held.observer_->OnComplete(absl::CancelledError("client gone"));
  ASSERT_TRUE(stream.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  usage::v1::Settlement settled = OnlySettlement();
  EXPECT_EQ(settled.outcome(), "cancelled");
  EXPECT_TRUE(settled.estimated());
  EXPECT_EQ(settled.usage().completion_tokens(), 1);
  EXPECT_EQ(settled.latency_us(), 250'000);
  EXPECT_EQ(settled.time_to_first_token_us(), 0);  // The first event came at once.
}

TEST_F(DispatchTest, AModelWithoutAKnownPriceIsServedAndMarkedUnpriced) {
  auto route = std::make_shared<Route>();
  route->name = "gpt-new-thing";
  route->deployments.push_back({"primary", "gpt-new-thing", std::nullopt});
  route_ = route;
  provider_.Script("primary", {.events = {"a"}, .usage = MakeUsage(10, 20)});
  EXPECT_THAT(Chat()->status, IsOk());
  usage::v1::Settlement settled = OnlySettlement();
  EXPECT_TRUE(settled.unpriced());
  EXPECT_EQ(settled.usage().prompt_tokens(), 10);
  EXPECT_EQ(settled.usage().cost_nano_usd(), 0);
  EXPECT_EQ(settled.reserved_nano_usd(), 0);
}

TEST_F(DispatchTest, ARefusalSettlesNothingAndCallsNoProvider) {
  provider_.Script("primary", {.events = {"a"}});
  admission_.Refuse(status::Error(absl::StatusCode::kResourceExhausted, "BUDGET", "no"));
  EXPECT_THAT(Chat()->status, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(provider_.calls(), IsEmpty());
  EXPECT_THAT(settler_.settled(), IsEmpty());
}

TEST_F(DispatchTest, ASettlerAtItsBoundRefusesNewRequestsWith503) {
  settler_.SetAccepting(false);
  std::unique_ptr<Stream> s = Chat();
  EXPECT_THAT(s->status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(status::GetErrorInfo(s->status)->reason(), "METERING_BACKLOG");
  EXPECT_THAT(admission_.tickets(), IsEmpty());
}

TEST_F(DispatchTest, APlannedOrderIsFollowed) {
  planner_.Script({1, 0});
  provider_.Script("backup", {.status = fakes::UpstreamError(500)});
  provider_.Script("primary", {.events = {"a"}});
  EXPECT_THAT(Chat()->status, IsOk());
  EXPECT_THAT(provider_.calls(), ElementsAre("backup/m-backup", "primary/m-primary"));
  EXPECT_EQ(OnlySettlement().deployment(), 0);
}

TEST_F(DispatchTest, TheRateLimitStatusRidesTheFirstEventTheEmbeddingsAndErrors) {
  common::v1::RateLimitStatus limits;
  limits.set_limit_requests(10);
  limits.set_remaining_requests(7);
  admission_.SetRateLimits(limits);
  provider_.Script("primary", {.events = {"a", "b"}, .usage = MakeUsage(10, 2)});
  std::unique_ptr<Stream> s = Chat();
  ASSERT_THAT(s->events, SizeIs(3));
  EXPECT_EQ(s->events[0].rate_limits().remaining_requests(), 7);
  EXPECT_FALSE(s->events[1].has_rate_limits());
  EXPECT_FALSE(s->events[2].has_rate_limits());
  absl::StatusOr<common::v1::EmbedResponse> embed = Embed();
  ASSERT_THAT(embed, IsOk());
  EXPECT_EQ(embed->rate_limits().limit_requests(), 10);
  // An upstream's error after admission tells the caller where it stands too.
  provider_.Script("primary", {.status = fakes::UpstreamError(400)});
  s = Chat();
  std::optional<common::v1::ErrorInfo> info = status::GetErrorInfo(s->status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->rate_limits().remaining_requests(), 7);
}

TEST_F(DispatchTest, MeteringAdmissionSendsBothLimitSetsAndRefusesUnpricedModelsUnderABudget) {
  fakes::FakeMetering metering;
  ReservationBook book(metering, {.background = false});
  MeteringAdmission admission(metering, &book);
  Ticket t = MakeTicket();
  t.kind = "chat";
  common::v1::Principal p = *t.principal;
  p.mutable_key_limits()->set_monthly_budget_nano_usd(5);
  p.mutable_key_limits()->mutable_rate_limits()->set_requests_per_minute(3);
  p.mutable_settings()->mutable_rate_limits()->set_tokens_per_minute(100);
  t.principal = std::make_shared<const common::v1::Principal>(p);
  absl::StatusOr<Admitted> admitted;
  admission.Admit({}, t, [&](absl::StatusOr<Admitted> a) { admitted = std::move(a); });
  ASSERT_THAT(admitted, IsOk());
  ASSERT_THAT(metering.admitted(), SizeIs(1));
  const usage::v1::AdmitRequest req = metering.admitted()[0];
  EXPECT_EQ(req.key_limits().monthly_budget_nano_usd(), 5);
  EXPECT_EQ(req.key_limits().rate_limits().requests_per_minute(), 3);
  EXPECT_EQ(req.settings().rate_limits().tokens_per_minute(), 100);
  EXPECT_EQ(req.kind(), "chat");
  EXPECT_EQ(req.cost_center(), "cc-1");
  EXPECT_EQ(req.router_id(), book.router_id());
  EXPECT_EQ(book.held(), 1);

  // A deployment without a price: its cost could not be held against the key's budget.
  auto route = std::make_shared<Route>(*route_);
  route->deployments[1].prices.reset();
  t.route = route;
  t.request_id = "req_unpriced";
  admission.Admit({}, t, [&](absl::StatusOr<Admitted> a) { admitted = std::move(a); });
  EXPECT_THAT(admitted, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(status::GetErrorInfo(admitted.status())->reason(), "MODEL_PRICE_UNKNOWN");
  EXPECT_THAT(metering.admitted(), SizeIs(1));  // Metering was not asked.
  // Without a budget it is served (and its events marked unpriced).
  p.mutable_key_limits()->clear_monthly_budget_nano_usd();
  t.principal = std::make_shared<const common::v1::Principal>(p);
  admission.Admit({}, t, [&](absl::StatusOr<Admitted> a) { admitted = std::move(a); });
  EXPECT_THAT(admitted, IsOk());
}

TEST(WorstCaseTest, TheDearestDeploymentAndTheSmallerOfTheRequestsAndTheModelsLimit) {
  auto route = std::make_shared<Route>();
  route->deployments.push_back({"a", "x", Price(1, 10, 100)});
  route->deployments.push_back({"b", "y", Price(2, 1, 1000)});
  route->deployments.push_back({"c", "z", std::nullopt});  // Unpriced: costs nothing.
  Ticket t;
  t.route = route;
  t.principal = std::make_shared<const common::v1::Principal>();
  t.prompt_tokens = 1000;
  // No max_tokens: a: 1,000 × 1 + 100 × 10 = 2,000; b: 1,000 × 2 + 1,000 × 1 = 3,000 (µ$).
  EXPECT_EQ(WorstCaseCost(t).nanos(), 3'000'000);
  EXPECT_EQ(WorstCaseTokens(t), 1000 + 4096);  // The unpriced one may write the default.
  // max_tokens 50: a: 1,000 + 500 = 1,500; b: 2,000 + 50 = 2,050.
  t.max_output_tokens = 50;
  EXPECT_EQ(WorstCaseCost(t).nanos(), 2'050'000);
  EXPECT_EQ(WorstCaseTokens(t), 1050);
}

TEST(EstimateTest, TwoBytesATokenPlusImagesAndMessages) {
  common::v1::ChatRequest req;
  req.add_messages()->set_content(std::string(101, 'x'));  // 51 tokens + 4.
  common::v1::ChatMessage& m = *req.add_messages();
  m.add_parts()->set_text("abcd");                          // 2 tokens + 4.
  m.add_parts()->mutable_image_url()->set_url("data:...");  // 2,000.
  EXPECT_EQ(EstimatePromptTokens(req), 51 + 2 + 8 + kTokensPerImage);
  common::v1::EmbedRequest embed;
  embed.add_input("hello");
  embed.add_input("world!");
  EXPECT_EQ(EstimatePromptTokens(embed), 6);
}

// --- BatchingSettler on a fake clock, flushed by hand.

usage::v1::Settlement Settlement(int i) {
  usage::v1::Settlement s;
  s.set_request_id("req_" + std::to_string(i));
  return s;
}

std::vector<std::string> Ids(const std::vector<usage::v1::Settlement>& settled) {
  std::vector<std::string> ids;
  for (const usage::v1::Settlement& s : settled) ids.push_back(s.request_id());
  return ids;
}

class SettlerTest : public ::testing::Test {
 protected:
  BatchingSettler::Options Options() {
    BatchingSettler::Options o;
    o.max_batch = 3;
    o.max_delay = absl::Milliseconds(5);
    o.max_pending = 4;
    o.min_backoff = absl::Milliseconds(50);
    o.background = false;
    return o;
  }
  time::FakeClock clock_{absl::FromUnixSeconds(1'800'000'000)};
  fakes::FakeMetering metering_;
};

TEST_F(SettlerTest, BatchesLeaveWhenFullOrWhenTheirOldestHasWaited) {
  BatchingSettler settler(metering_, clock_, Options());
  settler.Settle(Settlement(1));
  settler.Settle(Settlement(2));
  settler.Flush();
  EXPECT_THAT(metering_.settled(), IsEmpty());  // Neither full nor old enough.
  settler.Settle(Settlement(3));
  settler.Flush();
  EXPECT_THAT(Ids(metering_.settled()), ElementsAre("req_1", "req_2", "req_3"));  // Full.

  settler.Settle(Settlement(4));
  clock_.Advance(absl::Milliseconds(4));
  settler.Flush();
  EXPECT_THAT(metering_.settled(), SizeIs(3));
  clock_.Advance(absl::Milliseconds(1));
  settler.Flush();  // The oldest has waited max_delay.
  EXPECT_THAT(Ids(metering_.settled()), ElementsAre("req_1", "req_2", "req_3", "req_4"));
  EXPECT_EQ(settler.pending(), 0);
}

TEST_F(SettlerTest, AFailedBatchIsKeptAndRetriedWithTheSameIdsAfterABackoff) {
  BatchingSettler settler(metering_, clock_, Options());
  metering_.failing_settles = 1;
  for (int i = 1; i <= 3; ++i) settler.Settle(Settlement(i));
  settler.Flush();
  EXPECT_THAT(metering_.settled(), IsEmpty());
  EXPECT_EQ(settler.pending(), 3);
  settler.Flush();  // Backing off.
  EXPECT_THAT(metering_.settled(), IsEmpty());
  clock_.Advance(absl::Milliseconds(50));
  settler.Flush();
  EXPECT_THAT(Ids(metering_.settled()), ElementsAre("req_1", "req_2", "req_3"));
  EXPECT_EQ(settler.pending(), 0);
}

TEST_F(SettlerTest, AtItsBoundNewRequestsAreRefusedAndNoSettlementIsDropped) {
  BatchingSettler settler(metering_, clock_, Options());
  metering_.failing_settles = 1000;                            // Metering unreachable.
  for (int i = 1; i <= 5; ++i) settler.Settle(Settlement(i));  // Past the bound: all kept.
  EXPECT_FALSE(settler.Accepting());
  EXPECT_EQ(settler.pending(), 5);
  settler.Flush();
  metering_.failing_settles = 0;  // Back.
  clock_.Advance(absl::Seconds(5));
  settler.Flush();
  clock_.Advance(absl::Seconds(5));
  settler.Flush();
  EXPECT_THAT(Ids(metering_.settled()), ElementsAre("req_1", "req_2", "req_3", "req_4", "req_5"));
  EXPECT_TRUE(settler.Accepting());
}

TEST_F(SettlerTest, DrainSendsEverythingAtOnce) {
  BatchingSettler::Options o = Options();
  o.max_delay = absl::Hours(1);
  BatchingSettler settler(metering_, clock_, o);
  for (int i = 1; i <= 7; ++i) settler.Settle(Settlement(i));
  EXPECT_EQ(settler.Drain(absl::Now() + absl::Seconds(10)), 0);
  EXPECT_THAT(metering_.settled(), SizeIs(7));
}

TEST_F(SettlerTest, DrainGivesUpAtItsDeadlineAndSaysHowManyAreLeft) {
  BatchingSettler settler(metering_, clock_, Options());
  metering_.failing_settles = 1'000'000;
  settler.Settle(Settlement(1));
  EXPECT_EQ(settler.Drain(absl::Now() + absl::Milliseconds(100)), 1);
}

TEST_F(SettlerTest, TheBackgroundThreadSendsWithoutBeingAsked) {
  BatchingSettler::Options o = Options();
  o.background = true;
  time::FakeClock& clock = clock_;
  BatchingSettler settler(metering_, clock, o);
  for (int i = 1; i <= 3; ++i) settler.Settle(Settlement(i));  // A full batch.
  for (int i = 0; i < 1000 && metering_.settled().size() < 3; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_THAT(metering_.settled(), SizeIs(3));
}

}  // namespace
}  // namespace aimarket::router
