#include "services/router/reservation_book.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_metering.h"

namespace aimarket::router {
namespace {

usage::v1::AdmitRequest Admit(const std::string& id, int64_t reserve) {
  usage::v1::AdmitRequest req;
  req.set_request_id(id);
  req.set_team("teams/t");
  req.set_key_id("key_1");
  req.set_reserve_nano_usd(reserve);
  req.set_estimated_tokens(100);
  req.mutable_start_time()->set_seconds(1'800'000'000);
  return req;
}

usage::v1::Settlement Ended(const std::string& id, int64_t cost) {
  usage::v1::Settlement s;
  s.set_reservation_id(id);
  s.mutable_usage()->set_cost_nano_usd(cost);
  s.mutable_usage()->set_prompt_tokens(7);
  s.mutable_usage()->set_completion_tokens(3);
  return s;
}

TEST(ReservationBookTest, SendsEverythingItHoldsToANewIncarnationOnly) {
  fakes::FakeMetering metering;
  ReservationBook book(metering, {.background = false});
  book.Admitted(Admit("r1", 500), "fake-1");
  book.Admitted(Admit("r2", 300), "fake-1");
  book.Ended(Ended("r2", 40));
  ASSERT_TRUE(book.SyncOnce().ok());
  // First contact: a heartbeat, then everything.
  std::vector<usage::v1::SyncRequest> sent = metering.synced();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_FALSE(sent[0].full());
  EXPECT_TRUE(sent[1].full());
  ASSERT_EQ(sent[1].reservations_size(), 2);
  EXPECT_EQ(sent[1].router_id(), book.router_id());
  for (const usage::v1::HeldReservation& r : sent[1].reservations()) {
    if (r.reservation_id() == "r1") {
      EXPECT_EQ(r.reserve_nano_usd(), 500);
      EXPECT_EQ(r.tokens(), 100);
      EXPECT_FALSE(r.ended());
    } else {
      EXPECT_EQ(r.reserve_nano_usd(), 40);  // Ended: its actual cost and tokens.
      EXPECT_EQ(r.tokens(), 10);
      EXPECT_TRUE(r.ended());
    }
    EXPECT_EQ(r.team(), "teams/t");
    EXPECT_EQ(r.start_time().seconds(), 1'800'000'000);
  }
  // The same incarnation: a heartbeat only.
  ASSERT_TRUE(book.SyncOnce().ok());
  EXPECT_EQ(metering.synced().size(), 3u);
  EXPECT_FALSE(metering.synced()[2].full());

  // Acknowledged settlements are no longer held; a restarted metering gets what remains.
  usage::v1::SettleRequest acked;
  *acked.add_settlements() = Ended("r2", 40);
  book.Acknowledged(acked, "fake-1");
  EXPECT_EQ(book.held(), 1);
  metering.SetIncarnation("fake-2");
  ASSERT_TRUE(book.SyncOnce().ok());
  sent = metering.synced();
  ASSERT_EQ(sent.size(), 5u);
  EXPECT_TRUE(sent[4].full());
  ASSERT_EQ(sent[4].reservations_size(), 1);
  EXPECT_EQ(sent[4].reservations(0).reservation_id(), "r1");
}

TEST(ReservationBookTest, TheBackgroundThreadResyncsWhenAnAnswerShowsANewIncarnation) {
  fakes::FakeMetering metering;
  ReservationBook book(metering, {.sync_interval = absl::Hours(1)});
  book.Admitted(Admit("r1", 500), "fake-1");  // Unsynced yet: the thread wakes.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (metering.synced().size() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(metering.synced().size(), 2u);
  metering.SetIncarnation("fake-2");
  book.Admitted(Admit("r2", 500), "fake-2");  // An Admit answered by a restarted metering.
  while (metering.synced().size() < 4 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(metering.synced().size(), 4u);
  EXPECT_EQ(metering.synced()[3].reservations_size(), 2);
}

}  // namespace
}  // namespace aimarket::router
