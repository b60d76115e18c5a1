#pragma once

// The router's cache of authenticated principals, so that a request does not cost a call to
// team-management. An entry lives `ttl` (the bound within which a revoked key or a changed setting
// takes effect); failures are not cached. Thread-safe.
//
//   PrincipalCache cache(clock, absl::Seconds(2));
//   if (auto p = cache.Get(key)) ... else cache.Put(key, principal);

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
  PrincipalCache(time::Clock& clock, absl::Duration ttl, size_t max_entries = 100000)
      : clock_(clock), ttl_(ttl), max_entries_(max_entries) {}

  std::optional<common::v1::Principal> Get(const std::string& api_key) {
    const absl::Time now = clock_.Now();
    absl::ReaderMutexLock lock(&mu_);
    auto it = entries_.find(api_key);
    if (it == entries_.end() || it->second.expires <= now) return std::nullopt;
    return it->second.principal;
  }

  void Put(const std::string& api_key, const common::v1::Principal& principal) {
    const absl::Time expires = clock_.Now() + ttl_;
    absl::MutexLock lock(&mu_);
    if (entries_.size() >= max_entries_) entries_.clear();
    entries_[api_key] = Entry{principal, expires};
  }

 private:
  struct Entry {
    common::v1::Principal principal;
    absl::Time expires;
  };
  time::Clock& clock_;
  const absl::Duration ttl_;
  const size_t max_entries_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aimarket::router
