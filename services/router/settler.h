#pragma once

// The router's Settler: settlements go to usage-metering in batches, each kept until metering
// acknowledges it (it answers only once the batch's events are committed) and retried with the
// same request ids until then (Settle is idempotent by request id, so a retry after a lost answer
// records nothing twice).
//
// - A batch leaves when it is full (max_batch) or when its oldest settlement has waited
//   max_delay; at most max_in_flight batches are unanswered at once.
// - A failed batch goes back to the front of the queue, and sending pauses for a backoff that
//   doubles from min_backoff to max_backoff while failures go on.
// - Memory is bounded by max_pending settlements not yet acknowledged: at the bound Accepting()
//   is false and the pipeline refuses new requests with 503 METERING_BACKLOG; settlements of
//   requests already running are still taken (never dropped), so the bound is exceeded by at most
//   the requests in flight.
// - Drain(deadline) sends everything at once and waits for the acknowledgements: aimarketd calls
//   it at shutdown, after the servers have stopped taking requests.
//
// A thread of its own calls Flush(); with Options::background false nothing does, and a test calls
// Flush() after moving its FakeClock.

#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/time/clock.h"
#include "services/router/dispatch.h"
#include "services/router/reservation_book.h"
#include "services/usage_metering/metering_api.h"

namespace aimarket::router {

class BatchingSettler final : public Settler {
 public:
  struct Options {
    int max_batch = 500;
    absl::Duration max_delay = absl::Milliseconds(5);
    int64_t max_pending = 100'000;
    int max_in_flight = 4;
    absl::Duration min_backoff = absl::Milliseconds(50);
    absl::Duration max_backoff = absl::Seconds(2);
    // How long one Settle call may take before it counts as failed (and is retried).
    absl::Duration call_timeout = absl::Seconds(10);
    bool background = true;
  };

  // `metering`, `clock` and `book` (may be null) outlive the settler. The book learns what has
  // ended and what metering has acknowledged.
  BatchingSettler(usage::MeteringApi& metering, time::Clock& clock, Options options,
                  ReservationBook* book = nullptr);
  // Stops the thread. What is unacknowledged then is lost: call Drain first.
  ~BatchingSettler() override;

  void Settle(usage::v1::Settlement settlement) override;
  bool Accepting() override;

  // Sends what is due now (see above).
  void Flush();
  // Sends everything, ignoring max_delay, and waits (in real time) until every settlement is
  // acknowledged or `deadline` passes. Returns how many are still unacknowledged.
  int64_t Drain(absl::Time deadline);

  // Settlements taken and not yet acknowledged (queued or in a batch on its way).
  int64_t pending();

 private:
  struct Queued {
    usage::v1::Settlement settlement;
    absl::Time since;
  };

  void Run();
  void Send(std::vector<Queued> batch);
  void Sent(usage::v1::SettleRequest& req, const std::vector<absl::Time>& since,
            const absl::StatusOr<usage::v1::SettleResponse>& resp);

  usage::MeteringApi& metering_;
  time::Clock& clock_;
  const Options options_;
  ReservationBook* const book_;

  absl::Mutex mu_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);  // Not yet sent (or sent and failed).
  int64_t pending_ ABSL_GUARDED_BY(mu_) = 0;       // queue_ plus what is in flight.
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;         // Batches.
  absl::Time retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: started once everything else is.
};

}  // namespace aimarket::router
