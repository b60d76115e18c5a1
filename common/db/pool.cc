#include "common/db/pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/db/pqxx_status.h"
#include "common/log/log.h"
#include "common/status/error.h"

namespace aimarket::db {
namespace {

constexpr absl::Duration kProbeEvery = absl::Seconds(1);
// A statement past its server-side timeout by this much: the server is not answering at all.
constexpr absl::Duration kCutGrace = absl::Seconds(1);

std::string WithConnectTimeout(const std::string& dsn, absl::Duration timeout) {
  if (absl::StrContains(dsn, "connect_timeout") || timeout <= absl::ZeroDuration()) return dsn;
  const int64_t seconds = std::max<int64_t>(
      2, absl::ToInt64Seconds(absl::Ceil(timeout, absl::Seconds(1))));  // libpq's least.
  if (absl::StartsWith(dsn, "postgres://") || absl::StartsWith(dsn, "postgresql://")) {
    return absl::StrCat(dsn, absl::StrContains(dsn, '?') ? "&" : "?", "connect_timeout=", seconds);
  }
  return absl::StrCat(dsn, dsn.empty() ? "" : " ", "connect_timeout=", seconds);
}

absl::Status Unavailable(absl::string_view message) {
  return status::Error(absl::StatusCode::kUnavailable, "DATABASE_UNAVAILABLE", message);
}

}  // namespace

ConnectionPool::Lease::Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> conn)
    : pool_(pool), conn_(std::move(conn)) {}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)) {}

ConnectionPool::Lease::~Lease() {
  if (conn_) pool_->Return(std::move(conn_));
}

ConnectionPool::ConnectionPool(Options options)
    : options_(std::move(options)),
      dsn_(WithConnectTimeout(options_.dsn, options_.connect_timeout)) {
  if (options_.statement_timeout > absl::ZeroDuration())
    watchdog_ = std::thread([this] { Watch(); });
}

ConnectionPool::~ConnectionPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (watchdog_.joinable()) watchdog_.join();
}

absl::StatusOr<std::unique_ptr<ConnectionPool>> ConnectionPool::Create(Options options) {
  if (options.size < 1) return absl::InvalidArgumentError("postgres.pool_size must be at least 1");
  auto pool = std::unique_ptr<ConnectionPool>(new ConnectionPool(std::move(options)));
  absl::StatusOr<Lease> first = pool->Acquire();
  if (!first.ok()) return first.status();
  return pool;
}

absl::StatusOr<ConnectionPool::Lease> ConnectionPool::Acquire() {
  const absl::Time now = absl::Now();
  const absl::Time deadline = now + options_.acquire_timeout;
  {
    absl::MutexLock lock(&mu_);
    if (!healthy_) {
      // Fast while the database is down; one caller a second finds out whether it is back.
      if (now < next_probe_) return Unavailable("The database is unavailable; retry shortly.");
      next_probe_ = now + kProbeEvery;
    }
    auto available = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !idle_.empty() || open_ < options_.size;
    };
    if (!mu_.AwaitWithDeadline(absl::Condition(&available), deadline)) {
      SetHealthy(false, absl::StrCat("no connection became free within ",
                                     absl::FormatDuration(options_.acquire_timeout)));
      return Unavailable("The database is busy or unavailable; retry shortly.");
    }
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> conn = std::move(idle_.back());
      idle_.pop_back();
      busy_.push_back({conn.get(), now});
      return Lease(this, std::move(conn));
    }
    ++open_;  // Reserve the slot, then connect without holding the lock.
  }
  try {
    auto conn = std::make_unique<pqxx::connection>(dsn_);
    if (options_.statement_timeout > absl::ZeroDuration()) {
      conn->set_variable("statement_timeout",
                         std::to_string(absl::ToInt64Milliseconds(options_.statement_timeout)));
    }
    absl::MutexLock lock(&mu_);
    busy_.push_back({conn.get(), absl::Now()});
    return Lease(this, std::move(conn));
  } catch (const std::exception& e) {
    absl::MutexLock lock(&mu_);
    --open_;
    SetHealthy(false, e.what());
    return FromPqxx(e);
  }
}

void ConnectionPool::Return(std::unique_ptr<pqxx::connection> conn) {
  absl::MutexLock lock(&mu_);
  bool cut = false;
  auto it =
      std::find_if(busy_.begin(), busy_.end(), [&](const Busy& b) { return b.conn == conn.get(); });
  if (it != busy_.end()) {
    cut = it->cut;
    busy_.erase(it);
  }
  if (!cut && conn->is_open()) {
    idle_.push_back(std::move(conn));
    SetHealthy(true, "");  // It answered.
  } else {
    --open_;  // Broken or cut: drop it; the next Acquire opens a fresh one.
  }
}

void ConnectionPool::Lease::Renew() { pool_->Renew(conn_.get()); }

void ConnectionPool::Renew(pqxx::connection* conn) {
  absl::MutexLock lock(&mu_);
  for (Busy& b : busy_) {
    if (b.conn == conn) b.since = absl::Now();
  }
}

void ConnectionPool::SetHealthy(bool healthy, absl::string_view why) {
  if (healthy == healthy_) return;
  healthy_ = healthy;
  if (healthy) {
    log::Info("database available again");
  } else {
    next_probe_ = absl::Now() + kProbeEvery;
    log::Warn("database unavailable: answering 503 at once until it is back", {{"error", why}});
  }
}

void ConnectionPool::Watch() {
  const absl::Duration limit = options_.statement_timeout + kCutGrace;
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(200));
    const absl::Time now = absl::Now();
    for (Busy& b : busy_) {
      if (b.cut || now - b.since < limit) continue;
      // The caller is blocked reading a socket the server does not answer on: shutting it down
      // (not closing it: the descriptor stays the caller's) makes that read fail at once.
      b.cut = true;
      ::shutdown(b.conn->sock(), SHUT_RDWR);
      SetHealthy(false,
                 absl::StrCat("a statement got no answer within ", absl::FormatDuration(limit)));
    }
  }
}

int ConnectionPool::open_connections() const {
  absl::MutexLock lock(&mu_);
  return open_;
}

int ConnectionPool::idle_connections() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(idle_.size());
}

bool ConnectionPool::healthy() const {
  absl::MutexLock lock(&mu_);
  return healthy_;
}

}  // namespace aimarket::db
