#include "services/router/principal_cache.h"

#include "common/time/fake_clock.h"
#include "gtest/gtest.h"

namespace aimarket::router {
namespace {

// Pointers are compared with .get(): gtest printing a shared_ptr<Principal> inlines protobuf's
// DebugString concatenation, which trips GCC 12's -Wstringop-overflow false positive at -O3.
TEST(PrincipalCacheTest, EntriesExpireAfterTheTtl) {
  time::FakeClock clock(absl::FromUnixSeconds(100));
  PrincipalCache cache(clock, absl::Seconds(2));
  EXPECT_FALSE(cache.Get("k").has_value());
  common::v1::Principal p;
  p.set_key_id("key-1");
  cache.Put("k", p);
  ASSERT_TRUE(cache.Get("k").has_value());
  EXPECT_EQ(cache.Get("k")->key_id(), "key-1");
  clock.Advance(absl::Milliseconds(1999));
  EXPECT_TRUE(cache.Get("k").has_value());
  clock.Advance(absl::Milliseconds(1));
  EXPECT_FALSE(cache.Get("k").has_value());  // A revoked key stops working within the TTL.
  EXPECT_FALSE(cache.Get("other").has_value());
}

TEST(PrincipalCacheTest, OneCallerRefreshesAnAgingEntryWhileEveryoneIsServed) {
  time::FakeClock clock(absl::FromUnixSeconds(100));
  PrincipalCache cache(clock, absl::Seconds(2));
  common::v1::Principal p;
  p.set_key_id("key-1");
  cache.Put("k", p);
  EXPECT_FALSE(cache.Lookup("k").refresh);  // young
  clock.Advance(absl::Seconds(1));
  PrincipalCache::Result first = cache.Lookup("k");
  ASSERT_NE(first.principal.get(), nullptr);
  EXPECT_TRUE(first.refresh);  // this caller refreshes
  PrincipalCache::Result second = cache.Lookup("k");
  ASSERT_NE(second.principal.get(), nullptr);
  EXPECT_FALSE(second.refresh);  // nobody else does meanwhile
  // A refresh that could not reach team-management lets the next caller try again.
  cache.Unclaim("k");
  EXPECT_TRUE(cache.Lookup("k").refresh);
  // A successful refresh starts a new life.
  p.set_version(2);
  cache.Put("k", p);
  clock.Advance(absl::Milliseconds(1500));
  EXPECT_EQ(cache.Lookup("k").principal->version(), 2);
  // A refused key is forgotten at once.
  cache.Erase("k");
  EXPECT_EQ(cache.Lookup("k").principal.get(), nullptr);
  // Without a refresh, an entry still ends with its TTL.
  cache.Put("k", p);
  EXPECT_FALSE(cache.Lookup("k").refresh);
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(cache.Lookup("k").refresh);
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(cache.Lookup("k").principal.get(), nullptr);
}

// team-management (or its database) down: a known key goes on working for up to max_stale after
// it was last confirmed, refreshes being tried all along; a key never seen gets nothing.
TEST(PrincipalCacheTest, ServesKnownKeysThroughAnOutageForAWhile) {
  time::FakeClock clock(absl::FromUnixSeconds(100));
  PrincipalCache cache(clock, absl::Seconds(2), 100, /*max_stale=*/absl::Seconds(10));
  cache.Put("k", {});
  for (int i = 0; i < 8; ++i) {
    clock.Advance(absl::Seconds(1));
    PrincipalCache::Result r = cache.Lookup("k");
    ASSERT_NE(r.principal.get(), nullptr) << i;
    if (r.refresh) cache.Unclaim("k");  // The refresh failed: unreachable.
  }
  clock.Advance(absl::Seconds(1));  // 9 s after it was confirmed.
  EXPECT_NE(cache.Lookup("k").principal.get(), nullptr);
  cache.Unclaim("k");
  clock.Advance(absl::Seconds(1) + absl::Milliseconds(1));
  EXPECT_EQ(cache.Lookup("k").principal.get(), nullptr);  // Past max_stale: asked again, for real.
  EXPECT_EQ(cache.Lookup("never-seen").principal.get(), nullptr);
}

TEST(PrincipalCacheTest, IsBounded) {
  time::FakeClock clock;
  PrincipalCache cache(clock, absl::Seconds(2), /*max_entries=*/2);
  cache.Put("a", {});
  cache.Put("b", {});
  cache.Put("c", {});
  EXPECT_TRUE(cache.Get("c").has_value());
  EXPECT_FALSE(cache.Get("a").has_value());
}

}  // namespace
}  // namespace aimarket::router
