#include "services/router/settler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log/log.h"
#include "services/router/router_metrics.h"

namespace aimarket::router {

BatchingSettler::BatchingSettler(usage::MeteringApi& metering, time::Clock& clock, Options options,
                                 ReservationBook* book)
    : metering_(metering),
      clock_(clock),
      options_(options),
      book_(book),
      backoff_(options.min_backoff) {
  if (options_.background) thread_ = std::thread([this] { Run(); });
}

BatchingSettler::~BatchingSettler() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    // Answers still on their way touch this object: wait for them (each ends by call_timeout).
    auto answered = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
    mu_.Await(absl::Condition(&answered));
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  if (pending_ > 0) {
    log::Error("settlements lost: not acknowledged by usage-metering at shutdown",
               {{"settlements", absl::StrCat(pending_)}});
  }
}

void BatchingSettler::Settle(usage::v1::Settlement settlement) {
  if (book_) book_->Ended(settlement);
  absl::MutexLock lock(&mu_);
  queue_.push_back({std::move(settlement), clock_.Now()});
  ++pending_;
  RouterMetrics::Get().SettlementQueued(pending_);
}

bool BatchingSettler::Accepting() {
  absl::MutexLock lock(&mu_);
  return pending_ < options_.max_pending;
}

int64_t BatchingSettler::pending() {
  absl::MutexLock lock(&mu_);
  return pending_;
}

void BatchingSettler::Run() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    auto full = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_ || (static_cast<int>(queue_.size()) >= options_.max_batch &&
                       in_flight_ < options_.max_in_flight);
    };
    mu_.AwaitWithTimeout(absl::Condition(&full), options_.max_delay);
    if (stop_) break;
    mu_.Unlock();
    Flush();
    mu_.Lock();
  }
}

void BatchingSettler::Flush() {
  std::vector<std::vector<Queued>> batches;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    RouterMetrics::Get().SettlementOldest(queue_.empty() ? absl::ZeroDuration()
                                                         : now - queue_.front().since);
    if (now < retry_at_) return;  // Backing off after a failure.
    while (in_flight_ + static_cast<int>(batches.size()) < options_.max_in_flight &&
           !queue_.empty()) {
      const bool full = static_cast<int>(queue_.size()) >= options_.max_batch;
      const bool due = draining_ || now - queue_.front().since >= options_.max_delay;
      if (!full && !due) break;
      const size_t n = std::min(queue_.size(), static_cast<size_t>(options_.max_batch));
      std::vector<Queued>& batch = batches.emplace_back();
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    in_flight_ += static_cast<int>(batches.size());
  }
  // Outside the lock: an in-process metering may answer on this thread.
  for (std::vector<Queued>& batch : batches) Send(std::move(batch));
}

void BatchingSettler::Send(std::vector<Queued> batch) {
  // The settlements move into the request (no copy); a failed batch takes them back.
  auto req = std::make_shared<usage::v1::SettleRequest>();
  req->mutable_settlements()->Reserve(static_cast<int>(batch.size()));
  std::vector<absl::Time> since;
  since.reserve(batch.size());
  for (Queued& q : batch) {
    req->add_settlements()->Swap(&q.settlement);
    since.push_back(q.since);
  }
  RouterMetrics::Get().SettleBatchSent(batch.size());
  rpc::CallContext ctx;
  ctx.deadline = absl::Now() + options_.call_timeout;
  metering_.Settle(
      ctx, *req,
      [this, req, since = std::move(since)](
          absl::StatusOr<usage::v1::SettleResponse> resp) mutable { Sent(*req, since, resp); });
}

void BatchingSettler::Sent(usage::v1::SettleRequest& req, const std::vector<absl::Time>& since,
                           const absl::StatusOr<usage::v1::SettleResponse>& resp) {
  const absl::Status& status = resp.status();
  if (book_ && status.ok()) book_->Acknowledged(req, resp->incarnation());
  const size_t n = static_cast<size_t>(req.settlements_size());
  absl::MutexLock lock(&mu_);
  --in_flight_;
  if (status.ok()) {
    pending_ -= static_cast<int64_t>(n);
    backoff_ = options_.min_backoff;
    retry_at_ = absl::InfinitePast();
    RouterMetrics::Get().SettlementsAcknowledged(n, pending_);
    return;
  }
  // Back to the front, in their order, for the next try with the same request ids.
  for (size_t i = n; i-- > 0;) {
    Queued q;
    q.settlement.Swap(req.mutable_settlements(static_cast<int>(i)));
    q.since = since[i];
    queue_.push_front(std::move(q));
  }
  retry_at_ = clock_.Now() + backoff_;
  log::Warn("usage-metering did not acknowledge a batch of settlements; retrying",
            {{"settlements", absl::StrCat(n)},
             {"retry_in_ms", absl::StrCat(absl::ToInt64Milliseconds(backoff_))},
             {"code", absl::StatusCodeToString(status.code())}});
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  RouterMetrics::Get().SettleBatchFailed();
}

int64_t BatchingSettler::Drain(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
  }
  while (true) {
    Flush();
    absl::MutexLock lock(&mu_);
    if (pending_ == 0) return 0;
    if (absl::Now() >= deadline) {
      log::Error("settlements not acknowledged by the drain deadline",
                 {{"settlements", absl::StrCat(pending_)}});
      return pending_;
    }
    // Wake on an answer, or soon enough to send a retry that has become due.
    const int64_t before = pending_;
    auto changed = [this, before]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_ != before; };
    mu_.AwaitWithDeadline(absl::Condition(&changed),
                          std::min(deadline, absl::Now() + absl::Milliseconds(10)));
  }
}

}  // namespace aimarket::router
