#pragma once

// The reservations this router holds at usage-metering: every request under some limit (of its
// team or key) admitted and not yet acknowledged as settled, with what it reserves (its worst
// case, then its actual cost once it has ended). usage-metering keeps its counters in memory, so a
// restarted metering knows none of them; the book re-sends them all (MeteringApi::Sync, `full`)
// as soon as it sees an incarnation it has not synced with, in an Admit's or a Settle's answer or
// in its heartbeat, sent every `sync_interval`. A restarted metering refuses requests with limits
// for a grace period longer than that interval, so it has learnt them all before it admits more
// (docs/usage.md). The heartbeat also tells metering the router is alive: a silent router's
// reservations are charged when they expire.

#include <cstdint>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aimarket/usage/v1/metering_service.pb.h"
#include "services/usage_metering/metering_api.h"

namespace aimarket::router {

class ReservationBook {
 public:
  struct Options {
    absl::Duration sync_interval = absl::Seconds(1);
    // Whether a thread of its own syncs (tests call SyncOnce).
    bool background = true;
  };

  // `metering` outlives the book.
  ReservationBook(usage::MeteringApi& metering, Options options);
  ~ReservationBook();

  // A request admitted by the metering of `incarnation`.
  void Admitted(const usage::v1::AdmitRequest& req, absl::string_view incarnation);
  // Its settlement is on its way: it holds its actual cost and tokens now.
  void Ended(const usage::v1::Settlement& s);
  // Metering (of `incarnation`) has recorded these: no longer held.
  void Acknowledged(const usage::v1::SettleRequest& req, absl::string_view incarnation);

  // A heartbeat, or everything when metering's incarnation is new to the book. Thread-safe.
  absl::Status SyncOnce();

  int64_t held();
  const std::string& router_id() const { return router_id_; }

 private:
  struct Held {
    std::string team, key_id;
    int64_t reserve_nanos = 0;
    int64_t tokens = 0;
    int64_t start_us = 0;
    bool ended = false;
  };
  // Wakes the syncing thread when `incarnation` is not the one synced with.
  void Observe(absl::string_view incarnation) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run();

  usage::MeteringApi& metering_;
  const Options options_;
  const std::string router_id_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Held> held_ ABSL_GUARDED_BY(mu_);
  std::string synced_ ABSL_GUARDED_BY(mu_);  // The incarnation last sent everything to.
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex sync_mu_;  // One sync at a time.
  std::thread thread_;
};

}  // namespace aimarket::router
