#pragma once

// The router's cache of authenticated principals, so that a request does not cost a call to
// team-management. An entry lives `ttl` (the bound within which a revoked key or a changed setting
// takes effect); failures are not cached. While team-management cannot be reached, a known key is
// served for up to `max_stale` after it was last confirmed (Unclaim, Result::stale). Past half its
// life an entry is refreshed ahead: Lookup asks exactly one caller to refresh it while everyone
// keeps being served, so a busy key never waits for team-management. Thread-safe.
//
//   PrincipalCache cache(clock, absl::Seconds(2));
//   PrincipalCache::Result r = cache.Lookup(key);
//   if (!r.principal) { ...authenticate, then cache.Put(key, principal) }
//   else if (r.refresh) { ...authenticate in the background: Put, Erase (refused) or Unclaim }

#include <algorithm>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aimarket/common/v1/principal.pb.h"
#include "common/time/clock.h"

namespace aimarket::router {

class PrincipalCache {
 public:
  // `clock` outlives the cache. At most `max_entries` keys are held; beyond, the cache starts over.
  PrincipalCache(time::Clock& clock, absl::Duration ttl, size_t max_entries = 100000,
                 absl::Duration max_stale = absl::Seconds(30))
      : clock_(clock), ttl_(ttl), max_stale_(max_stale), max_entries_(max_entries) {}

  struct Result {
    // Shared with the cache: a hit copies no proto. Null when absent or expired.
    std::shared_ptr<const common::v1::Principal> principal;
    // This caller should refresh the entry (it is past half its life and nobody else is at it).
    bool refresh = false;
    // When `principal` is null: an expired entry confirmed within max_stale, for the caller to
    // serve if team-management cannot be reached (see Unclaim).
    std::shared_ptr<const common::v1::Principal> stale = nullptr;
  };

  Result Lookup(const std::string& api_key) {
    const absl::Time now = clock_.Now();
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = entries_.find(api_key);
      if (it == entries_.end() || it->second.expires <= now) return Expired(it, now);
      if (it->second.refreshing || now < it->second.confirmed + ttl_ / 2)
        return {it->second.principal, false, nullptr};
    }
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(api_key);
    if (it == entries_.end() || it->second.expires <= now) return Expired(it, now);
    const bool refresh = !it->second.refreshing;
    it->second.refreshing = true;
    return {it->second.principal, refresh, nullptr};
  }

  std::optional<common::v1::Principal> Get(const std::string& api_key) {
    std::shared_ptr<const common::v1::Principal> p = Lookup(api_key).principal;
    if (!p) return std::nullopt;
    return *p;
  }

  void Put(const std::string& api_key, const common::v1::Principal& principal) {
    const absl::Time now = clock_.Now();
    absl::MutexLock lock(&mu_);
    if (entries_.size() >= max_entries_) entries_.clear();
    entries_[api_key] =
        Entry{std::make_shared<const common::v1::Principal>(principal), now + ttl_, now, false};
  }

  // The key was refused (revoked, expired, removed): forget it at once.
  void Erase(const std::string& api_key) {
    absl::MutexLock lock(&mu_);
    entries_.erase(api_key);
  }

  // A refresh failed for another reason (team-management or its database unreachable): the entry
  // goes on serving for another ttl, but never past `max_stale` after it was last confirmed, and
  // the next Lookup past half of that may try again. While nothing can be confirmed nothing can be
  // revoked either (revoking writes to the same database), so a known key keeps working through a
  // database outage of up to max_stale.
  void Unclaim(const std::string& api_key) {
    const absl::Time now = clock_.Now();
    absl::MutexLock lock(&mu_);
    if (auto it = entries_.find(api_key); it != entries_.end()) {
      it->second.refreshing = false;
      it->second.expires =
          std::max(it->second.expires, std::min(now + ttl_, it->second.confirmed + max_stale_));
    }
  }

 private:
  struct Entry {
    std::shared_ptr<const common::v1::Principal> principal;
    absl::Time expires;
    absl::Time confirmed;  // When team-management last vouched for it.
    bool refreshing = false;
  };
  using Map = absl::flat_hash_map<std::string, Entry>;

  // No live entry at `it` (end() or expired): what is known of it, if anything.
  Result Expired(Map::const_iterator it, absl::Time now) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (it == entries_.end() || now >= it->second.confirmed + max_stale_) return {};
    return {nullptr, false, it->second.principal};
  }

  time::Clock& clock_;
  const absl::Duration ttl_;
  const absl::Duration max_stale_;
  const size_t max_entries_;
  absl::Mutex mu_;
  Map entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aimarket::router
