#include "services/usage_metering/budget_alerts.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <pqxx/pqxx>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/db/transact.h"
#include "common/json/json_escape.h"
#include "common/log/log.h"
#include "common/money/money.h"
#include "services/usage_metering/metering_metrics.h"

namespace aimarket::usage {
namespace {

constexpr int kBatch = 20;

std::string MonthText(absl::CivilMonth m) { return absl::FormatCivilTime(m); }  // "2026-12"

std::string MonthDate(absl::CivilMonth m) {
  return absl::StrFormat("%04d-%02d-01", m.year(), m.month());
}

// One recorded alert on its way to a webhook.
struct Delivery {
  int64_t id = 0;
  std::string team_id, month, url, secret;
  int32_t percent = 0;
  int64_t spent = 0, budget = 0, created = 0;
  int attempts = 0;
};

std::string AlertBody(const Delivery& d) {
  auto usd = [](int64_t nanos) { return money::Usd::Nanos(nanos).ToDecimal(); };
  return absl::StrCat(R"({"id":"alert_)", d.id, R"(","object":"budget.alert",)",
                      R"("type":"budget.threshold_reached","team_id":)", json::Quote(d.team_id),
                      R"(,"month":")", d.month, R"(","threshold_percent":)", d.percent,
                      R"(,"spent_usd":)", usd(d.spent), R"(,"budget_usd":)", usd(d.budget),
                      R"(,"created_at":)", d.created, "}");
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// Aborts a transfer once `stopping` (an std::atomic<bool>) is set.
int Abort(void* stopping, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(stopping)->load() ? 1 : 0;
}

// POSTs `body` to `url`; OK for a 2xx answer, else why not (short, for last_error).
absl::Status Post(const std::string& url, const std::vector<std::string>& headers,
                  const std::string& body, absl::Duration timeout, std::atomic<bool>& stopping) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  curl_slist* list = nullptr;
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, Abort);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &stopping);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return absl::UnavailableError(curl_easy_strerror(rc));
  if (status < 200 || status > 299) return absl::UnavailableError(absl::StrCat("HTTP ", status));
  return absl::OkStatus();
}

}  // namespace

std::string WebhookSignature(absl::string_view secret, int64_t unix_seconds,
                             absl::string_view body) {
  const std::string signed_text = absl::StrCat(unix_seconds, ".", body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac, &len);
  return absl::StrCat("t=", unix_seconds, ",v1=",
                      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(mac), len)));
}

BudgetAlerts::BudgetAlerts(db::ConnectionPool& pool, Ledger& ledger, Options options)
    : pool_(pool), ledger_(ledger), options_(options) {
  if (options_.background) thread_ = std::thread([this] { Run(); });
}

BudgetAlerts::~BudgetAlerts() {
  stopping_ = true;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status BudgetAlerts::LoadFired(absl::CivilMonth month) {
  return db::Transact(pool_, [&](pqxx::work& tx) -> absl::Status {
    for (const pqxx::row& row :
         tx.exec_params("SELECT team_id, threshold_percent FROM budget_alerts WHERE month = $1",
                        MonthDate(month))) {
      ledger_.AlertFired(absl::StrCat("teams/", row[0].c_str()), month, row[1].as<int32_t>());
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<int> BudgetAlerts::Raise() {
  std::array<int64_t, 4> teams_past{};
  const std::vector<Ledger::Alert> due = ledger_.DueAlerts(&teams_past);
  MeteringMetrics::Get().TeamsPastThresholds(Ledger::kAlertGauges, teams_past);
  int fired = 0;
  for (const Ledger::Alert& a : due) {
    const std::string team_id(absl::StripPrefix(a.team, "teams/"));
    absl::StatusOr<bool> inserted =
        db::Transact(pool_, [&](pqxx::work& tx) -> absl::StatusOr<bool> {
          // The team may be gone (deleted since): nothing to announce.
          if (tx.exec_params("SELECT 1 FROM teams WHERE id = $1", team_id).empty()) return false;
          pqxx::result r = tx.exec_params(
              "INSERT INTO budget_alerts (team_id, month, threshold_percent, spent_nano_usd, "
              "budget_nano_usd) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
              team_id, MonthDate(a.month), a.percent, a.spent_nanos, a.budget_nanos);
          if (r.empty()) return false;  // Recorded before (by an earlier run of this process).
          const std::string after = absl::StrCat(
              R"({"threshold_percent":)", a.percent, R"(,"month":")", MonthText(a.month),
              R"(","spent_usd":)", money::Usd::Nanos(a.spent_nanos).ToDecimal(),
              R"(,"budget_usd":)", money::Usd::Nanos(a.budget_nanos).ToDecimal(), "}");
          tx.exec_params(
              "INSERT INTO audit_log (team_id, actor, action, resource, after, actor_key_id) "
              "VALUES ($1, 'usage-metering', 'budget.alert', $2, $3::jsonb, '')",
              team_id, a.team, after);
          return true;
        });
    if (!inserted.ok()) {
      log::Warn("budget alert not recorded; retrying",
                {{"team", a.team}, {"error", inserted.status().ToString()}});
      continue;
    }
    ledger_.AlertFired(a.team, a.month, a.percent);
    if (*inserted) {
      ++fired;
      MeteringMetrics::Get().AlertFired();
      log::Info("budget alert", {{"team", a.team},
                                 {"threshold_percent", absl::StrCat(a.percent)},
                                 {"month", MonthText(a.month)}});
    }
  }
  if (fired > 0) {
    absl::MutexLock lock(&mu_);
    wake_ = true;
  }
  return fired;
}

int BudgetAlerts::DeliverDue() {
  absl::StatusOr<std::vector<Delivery>> due =
      db::Transact(pool_, [&](pqxx::work& tx) -> absl::StatusOr<std::vector<Delivery>> {
        std::vector<Delivery> out;
        for (const pqxx::row& row : tx.exec_params(
                 "SELECT a.id, a.team_id, to_char(a.month, 'YYYY-MM'), a.threshold_percent, "
                 "a.spent_nano_usd, a.budget_nano_usd, extract(epoch from a.create_time)::bigint, "
                 "a.attempts, coalesce(t.settings ->> 'alert_webhook_url', ''), t.webhook_secret "
                 "FROM budget_alerts a JOIN teams t ON t.id = a.team_id "
                 "WHERE a.delivery = 'pending' AND a.next_attempt_time <= now() "
                 "ORDER BY a.next_attempt_time LIMIT $1",
                 kBatch)) {
          Delivery& d = out.emplace_back();
          d.id = row[0].as<int64_t>();
          d.team_id = row[1].as<std::string>();
          d.month = row[2].as<std::string>();
          d.percent = row[3].as<int32_t>();
          d.spent = row[4].as<int64_t>();
          d.budget = row[5].as<int64_t>();
          d.created = row[6].as<int64_t>();
          d.attempts = row[7].as<int>();
          d.url = row[8].as<std::string>();
          d.secret = row[9].as<std::string>();
        }
        return out;
      });
  if (!due.ok()) {
    log::Warn("budget alerts not read for delivery", {{"error", due.status().ToString()}});
    return 0;
  }
  for (const Delivery& d : *due) {
    if (stopping_.load()) break;
    if (d.url.empty()) {
      (void)db::Transact(pool_, [&](pqxx::work& tx) -> absl::Status {
        tx.exec_params("UPDATE budget_alerts SET delivery = 'none' WHERE id = $1", d.id);
        return absl::OkStatus();
      });
      continue;
    }
    const std::string body = AlertBody(d);
    const std::string id = absl::StrCat("alert_", d.id);
    absl::Status sent = Post(
        d.url,
        {"Content-Type: application/json", "User-Agent: aimarket-webhooks/1",
         "X-Aimarket-Event: budget.threshold_reached", absl::StrCat("X-Aimarket-Delivery: ", id),
         absl::StrCat("X-Aimarket-Signature: ",
                      WebhookSignature(d.secret, absl::ToUnixSeconds(absl::Now()), body))},
        body, options_.timeout, stopping_);
    if (stopping_.load()) break;  // Shutting down: the row stays pending for the next start.
    const int attempts = d.attempts + 1;
    const bool give_up = !sent.ok() && attempts >= options_.max_attempts;
    absl::Duration backoff = options_.min_backoff;
    for (int i = 1; i < attempts && backoff < options_.max_backoff; ++i) backoff *= 2;
    backoff = std::min(backoff, options_.max_backoff);
    MeteringMetrics::Get().WebhookDelivery(sent.ok() ? "delivered" : give_up ? "gave_up" : "retry");
    if (!sent.ok()) {
      log::Warn("budget alert webhook failed", {{"alert", id},
                                                {"attempt", absl::StrCat(attempts)},
                                                {"error", std::string(sent.message())}});
    }
    (void)db::Transact(pool_, [&](pqxx::work& tx) -> absl::Status {
      tx.exec_params(
          "UPDATE budget_alerts SET attempts = $2, "
          "delivery = CASE WHEN $3 THEN 'delivered' WHEN $4 THEN 'failed' ELSE 'pending' END, "
          "delivered_time = CASE WHEN $3 THEN now() END, last_error = $5, "
          "next_attempt_time = now() + $6 * interval '1 millisecond' WHERE id = $1",
          d.id, attempts, sent.ok(), give_up, std::string(sent.message()).substr(0, 200),
          absl::ToInt64Milliseconds(backoff));
      return absl::OkStatus();
    });
  }
  return static_cast<int>(due->size());
}

void BudgetAlerts::Run() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || wake_; };
    mu_.AwaitWithTimeout(absl::Condition(&woken), absl::Seconds(1));
    if (stop_) break;
    wake_ = false;
    mu_.Unlock();
    while (DeliverDue() == kBatch && !stopping_.load()) {
    }
    mu_.Lock();
  }
}

}  // namespace aimarket::usage
