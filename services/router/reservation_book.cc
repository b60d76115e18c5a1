#include "services/router/reservation_book.h"

#include <google/protobuf/util/time_util.h>

#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/log/log.h"

namespace aimarket::router {
namespace {

using google::protobuf::util::TimeUtil;

// Reservations per Sync call at most (a few hundred KiB).
constexpr int kPerSync = 5000;

std::string NewRouterId() {
  std::random_device random;
  return absl::StrFormat("router-%08x%08x", random(), random());
}

}  // namespace

ReservationBook::ReservationBook(usage::MeteringApi& metering, Options options)
    : metering_(metering), options_(options), router_id_(NewRouterId()) {
  if (options_.background) thread_ = std::thread([this] { Run(); });
}

ReservationBook::~ReservationBook() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ReservationBook::Observe(absl::string_view incarnation) {
  if (!incarnation.empty() && incarnation != synced_) wake_ = true;
}

void ReservationBook::Admitted(const usage::v1::AdmitRequest& req, absl::string_view incarnation) {
  Held h;
  h.team = req.team();
  h.key_id = req.key_id();
  h.reserve_nanos = req.reserve_nano_usd();
  h.tokens = req.estimated_tokens();
  h.start_us = TimeUtil::TimestampToMicroseconds(req.start_time());
  absl::MutexLock lock(&mu_);
  held_.insert_or_assign(req.request_id(), std::move(h));
  Observe(incarnation);
}

void ReservationBook::Ended(const usage::v1::Settlement& s) {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(s.reservation_id());
  if (it == held_.end()) return;
  it->second.ended = true;
  it->second.reserve_nanos = s.usage().cost_nano_usd();
  it->second.tokens = s.usage().prompt_tokens() + s.usage().completion_tokens();
}

void ReservationBook::Acknowledged(const usage::v1::SettleRequest& req,
                                   absl::string_view incarnation) {
  absl::MutexLock lock(&mu_);
  for (const usage::v1::Settlement& s : req.settlements()) held_.erase(s.reservation_id());
  Observe(incarnation);
}

int64_t ReservationBook::held() {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(held_.size());
}

absl::Status ReservationBook::SyncOnce() {
  absl::MutexLock sync_lock(&sync_mu_);
  usage::v1::SyncRequest beat;
  beat.set_router_id(router_id_);
  {
    absl::MutexLock lock(&mu_);
    wake_ = false;
    beat.set_incarnation(synced_);
  }
  rpc::CallContext ctx;
  ctx.deadline = absl::Now() + absl::Seconds(5);
  absl::StatusOr<usage::v1::SyncResponse> answer = metering_.Sync(ctx, beat);
  if (!answer.ok()) return answer.status();
  if (answer->incarnation() == beat.incarnation()) return absl::OkStatus();

  // A metering this router has not told yet: everything, in calls of kPerSync.
  std::vector<usage::v1::SyncRequest> calls;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, h] : held_) {
      if (calls.empty() || calls.back().reservations_size() >= kPerSync) {
        usage::v1::SyncRequest& call = calls.emplace_back();
        call.set_router_id(router_id_);
        call.set_full(true);
      }
      usage::v1::HeldReservation& r = *calls.back().add_reservations();
      r.set_reservation_id(id);
      r.set_team(h.team);
      r.set_key_id(h.key_id);
      r.set_reserve_nano_usd(h.reserve_nanos);
      r.set_tokens(h.tokens);
      *r.mutable_start_time() = TimeUtil::MicrosecondsToTimestamp(h.start_us);
      r.set_ended(h.ended);
    }
  }
  if (calls.empty()) calls.emplace_back().set_full(true);  // Nothing held: say so.
  for (usage::v1::SyncRequest& call : calls) {
    call.set_router_id(router_id_);
    call.set_incarnation(beat.incarnation());
    absl::StatusOr<usage::v1::SyncResponse> sent = metering_.Sync(ctx, call);
    if (!sent.ok()) return sent.status();
    if (sent->incarnation() != answer->incarnation()) {
      return absl::AbortedError("usage-metering restarted during the sync");
    }
  }
  absl::MutexLock lock(&mu_);
  synced_ = answer->incarnation();
  log::Info("reservations sent to usage-metering",
            {{"incarnation", synced_}, {"reservations", absl::StrCat(held_.size())}});
  return absl::OkStatus();
}

void ReservationBook::Run() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || wake_; };
    mu_.AwaitWithTimeout(absl::Condition(&woken), options_.sync_interval);
    if (stop_) break;
    // A heartbeat always: metering keeps this router's reservations (of requests under no limit
    // too, which the book does not hold) alive while it hears from it.
    mu_.Unlock();
    if (absl::Status s = SyncOnce(); !s.ok()) {
      log::Debug("sync with usage-metering failed; retrying", {{"error", s.ToString()}});
    }
    mu_.Lock();
  }
}

}  // namespace aimarket::router
