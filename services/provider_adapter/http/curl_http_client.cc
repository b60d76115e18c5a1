#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include <atomic>
#include <deque>
#include <map>
#include <vector>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/status/grpc_status.h"
#include "services/provider_adapter/http/http_client.h"

namespace aimarket::provider {
namespace {

class CurlHttpClient;

// One transfer. Owned by the loop while active; the caller holds a handle to cancel it.
class Transfer final : public HttpCall, public std::enable_shared_from_this<Transfer> {
 public:
  Transfer(CurlHttpClient& client, HttpCallRequest req, HttpCallHandler& handler)
      : client_(client), req_(std::move(req)), handler_(handler) {}
  ~Transfer() override {
    if (headers_ != nullptr) curl_slist_free_all(headers_);
  }
  void Cancel() override;

  CurlHttpClient& client_;
  HttpCallRequest req_;
  HttpCallHandler& handler_;
  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::vector<std::pair<std::string, std::string>> response_headers_;
  bool headers_delivered_ = false;
  bool body_started_ = false;
  absl::Time started_ = absl::InfinitePast();
  absl::Time last_activity_ = absl::InfinitePast();
  absl::Status timeout_;  // Set when the loop aborts the transfer for a timeout.
  char error_[CURL_ERROR_SIZE] = {0};
};

class CurlHttpClient final : public HttpClient {
 public:
  CurlHttpClient() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 2048L);
    // Event-driven: curl tells us which sockets to watch and when to call it back, so a wake-up
    // costs O(sockets with activity), not O(all connections) as curl_multi_poll would.
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &OnSocket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &OnTimer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
    loop_ = std::thread([this] { Loop(); });
  }

  ~CurlHttpClient() override {
    stop_ = true;
    Wake();
    loop_.join();
    for (auto& [easy, t] : active_) {
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
      t->easy_ = nullptr;
      t->handler_.OnComplete(absl::CancelledError("HTTP client shut down"));
    }
    active_.clear();
    for (CURL* e : idle_) curl_easy_cleanup(e);
    curl_multi_cleanup(multi_);
    close(wake_);
    close(epoll_);
  }

  std::shared_ptr<HttpCall> Start(HttpCallRequest request, HttpCallHandler& handler) override {
    auto t = std::make_shared<Transfer>(*this, std::move(request), handler);
    {
      absl::MutexLock lock(&mu_);
      pending_.push_back(t);
    }
    Wake();
    return t;
  }

  void RequestCancel(std::shared_ptr<Transfer> t) {
    {
      absl::MutexLock lock(&mu_);
      cancels_.push_back(std::move(t));
    }
    Wake();
  }

 private:
  // Coalesced: while a wake-up is pending, further calls cost no system call.
  void Wake() {
    if (wake_pending_.exchange(true)) return;
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_, &one, sizeof(one));
  }

  static int OnSocket(CURL*, curl_socket_t s, int what, void* user, void*) {
    auto* self = static_cast<CurlHttpClient*>(user);
    if (what == CURL_POLL_REMOVE) {
      if (self->watched_.erase(s) > 0) epoll_ctl(self->epoll_, EPOLL_CTL_DEL, s, nullptr);
      return 0;
    }
    epoll_event ev{};
    ev.events = ((what & CURL_POLL_IN) != 0 ? uint32_t{EPOLLIN} : 0u) | ((what & CURL_POLL_OUT) != 0 ? uint32_t{EPOLLOUT} : 0u);
    ev.data.fd = s;
    const bool known = !self->watched_.insert(s).second;
    if (epoll_ctl(self->epoll_, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) != 0 && errno == ENOENT) {
      epoll_ctl(self->epoll_, EPOLL_CTL_ADD, s, &ev);  // curl reused a descriptor number.
    }
    return 0;
  }

  static int OnTimer(CURLM*, long timeout_ms, void* user) {
    auto* self = static_cast<CurlHttpClient*>(user);
    self->timer_ = timeout_ms < 0 ? absl::InfiniteFuture() : absl::Now() + absl::Milliseconds(timeout_ms);
    return 0;
  }

  static size_t OnHeaderLine(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    absl::string_view line(data, size * n);
    t->last_activity_ = absl::Now();
    if (absl::StartsWith(line, "HTTP/")) {
      t->response_headers_.clear();  // A new header block (e.g. after 100 Continue).
      return size * n;
    }
    const size_t colon = line.find(':');
    if (colon != absl::string_view::npos) {
      t->response_headers_.emplace_back(absl::AsciiStrToLower(line.substr(0, colon)),
                                        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
    }
    return size * n;
  }

  static void DeliverHeaders(Transfer& t) {
    if (t.headers_delivered_) return;
    t.headers_delivered_ = true;
    long status = 0;
    curl_easy_getinfo(t.easy_, CURLINFO_RESPONSE_CODE, &status);
    t.handler_.OnHeaders(static_cast<int>(status), t.response_headers_);
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    t->last_activity_ = absl::Now();
    t->body_started_ = true;
    DeliverHeaders(*t);
    t->handler_.OnData(absl::string_view(data, size * n));
    return size * n;
  }

  void Add(const std::shared_ptr<Transfer>& t) {
    // Easy handles are recycled (curl_easy_reset keeps their buffers and caches); connections live
    // in the multi handle's pool either way.
    CURL* e = nullptr;
    if (!idle_.empty()) {
      e = idle_.back();
      idle_.pop_back();
      curl_easy_reset(e);
    } else {
      e = curl_easy_init();
    }
    t->easy_ = e;
    const HttpCallRequest& r = t->req_;
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    if (r.method == "POST" || !r.body.empty()) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    }
    for (const std::string& h : r.headers) t->headers_ = curl_slist_append(t->headers_, h.c_str());
    t->headers_ = curl_slist_append(t->headers_, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers_);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(r.connect_timeout)));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &OnHeaderLine);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error_);
    t->started_ = t->last_activity_ = absl::Now();
    active_[e] = t;
    curl_multi_add_handle(multi_, e);
  }

  void Finish(CURL* e, const absl::Status& status) {
    auto it = active_.find(e);
    if (it == active_.end()) return;
    std::shared_ptr<Transfer> t = std::move(it->second);
    active_.erase(it);
    curl_multi_remove_handle(multi_, e);
    if (status.ok()) DeliverHeaders(*t);
    t->handler_.OnComplete(status);
    // The handle is reused by a later call; the Transfer (which a caller may still hold to cancel)
    // forgets it.
    t->easy_ = nullptr;
    if (idle_.size() < 256) {
      idle_.push_back(e);
    } else {
      curl_easy_cleanup(e);
    }
  }

  static absl::Status FromCurl(CURLcode code, const Transfer& t) {
    const std::string detail = t.error_[0] != '\0' ? std::string(t.error_) : curl_easy_strerror(code);
    switch (code) {
      case CURLE_OK:
        return absl::OkStatus();
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
        return status::Error(absl::StatusCode::kUnavailable, "UPSTREAM_UNREACHABLE",
                             absl::StrCat("cannot reach the upstream: ", detail))
            .HttpStatus(502);
      case CURLE_OPERATION_TIMEDOUT:
        return status::Error(absl::StatusCode::kDeadlineExceeded, "UPSTREAM_TIMEOUT",
                             absl::StrCat("the upstream timed out: ", detail));
      default:
        return status::Error(absl::StatusCode::kUnavailable,
                             t.body_started_ ? "UPSTREAM_DISCONNECTED" : "UPSTREAM_UNREACHABLE",
                             absl::StrCat("upstream connection failed: ", detail))
            .HttpStatus(502);
    }
  }

  void CheckTimeouts() {
    const absl::Time now = absl::Now();
    std::vector<std::pair<CURL*, absl::Status>> expired;
    for (auto& [e, t] : active_) {
      const HttpCallRequest& r = t->req_;
      if (!t->body_started_ && t->response_headers_.empty() && now - t->started_ > r.first_byte_timeout) {
        expired.emplace_back(e, status::Error(absl::StatusCode::kDeadlineExceeded, "UPSTREAM_TIMEOUT",
                                              absl::StrCat("no answer from the upstream within ",
                                                           absl::FormatDuration(r.first_byte_timeout))));
      } else if (t->body_started_ && now - t->last_activity_ > r.idle_timeout) {
        expired.emplace_back(e, status::Error(absl::StatusCode::kDeadlineExceeded, "UPSTREAM_TIMEOUT",
                                              absl::StrCat("the upstream went silent for ",
                                                           absl::FormatDuration(r.idle_timeout))));
      }
    }
    for (auto& [e, s] : expired) Finish(e, s);
  }

  void Drain() {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      auto it = active_.find(msg->easy_handle);
      if (it == active_.end()) continue;
      Finish(msg->easy_handle, FromCurl(msg->data.result, *it->second));
    }
  }

  void Loop() {
    epoll_event events[64];
    int running = 0;
    while (!stop_) {
      int wait_ms = 1000;
      if (timer_ != absl::InfiniteFuture()) {
        wait_ms = static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(timer_ - absl::Now()), 0, 1000));
      }
      if (!active_.empty()) wait_ms = std::min(wait_ms, 50);  // Our own timeouts.
      const int n = epoll_wait(epoll_, events, 64, wait_ms);
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake_) {
          uint64_t count;
          [[maybe_unused]] ssize_t r = read(wake_, &count, sizeof(count));
          wake_pending_ = false;  // Before the queues are taken below: a later Start wakes again.
          continue;
        }
        int mask = 0;
        if (events[i].events & EPOLLIN) mask |= CURL_CSELECT_IN;
        if (events[i].events & EPOLLOUT) mask |= CURL_CSELECT_OUT;
        if (events[i].events & (EPOLLERR | EPOLLHUP)) mask |= CURL_CSELECT_ERR;
        curl_multi_socket_action(multi_, fd, mask, &running);
      }
      std::deque<std::shared_ptr<Transfer>> pending, cancels;
      {
        absl::MutexLock lock(&mu_);
        pending.swap(pending_);
        cancels.swap(cancels_);
      }
      for (auto& t : pending) Add(t);
      for (auto& t : cancels) {
        if (t->easy_ != nullptr) Finish(t->easy_, absl::CancelledError("cancelled by the caller"));
      }
      if (!pending.empty() || (timer_ != absl::InfiniteFuture() && absl::Now() >= timer_)) {
        timer_ = absl::InfiniteFuture();
        curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
      }
      Drain();
      // Timeouts have a granularity of 50 ms; checking them on every wake-up would cost O(calls).
      if (const absl::Time now = absl::Now(); now - last_timeout_check_ >= absl::Milliseconds(50)) {
        last_timeout_check_ = now;
        CheckTimeouts();
      }
    }
  }

  CURLM* multi_ = nullptr;
  std::thread loop_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> wake_pending_{false};
  int epoll_ = -1;
  int wake_ = -1;
  absl::Time timer_ = absl::InfiniteFuture();  // When curl wants to be called back; loop thread only.
  std::set<curl_socket_t> watched_;            // Sockets registered with epoll; loop thread only.
  absl::Time last_timeout_check_ = absl::InfinitePast();
  absl::Mutex mu_;
  std::deque<std::shared_ptr<Transfer>> pending_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<Transfer>> cancels_ ABSL_GUARDED_BY(mu_);
  std::map<CURL*, std::shared_ptr<Transfer>> active_;  // Loop thread only.
  std::vector<CURL*> idle_;                             // Loop thread only.
};

void Transfer::Cancel() { client_.RequestCancel(shared_from_this()); }

}  // namespace

std::unique_ptr<HttpClient> NewCurlHttpClient() { return std::make_unique<CurlHttpClient>(); }

}  // namespace aimarket::provider
