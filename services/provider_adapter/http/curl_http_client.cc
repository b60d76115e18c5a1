#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/io/loop.h"
#include "common/log/log.h"
#include "common/status/error.h"
#include "common/status/reasons.h"
#include "services/provider_adapter/http/http_client.h"

namespace aimarket::provider {
namespace {

namespace net = boost::asio;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

class CurlLoop;

// Lets a thread that is not the loop's post to it, until the loop shuts down.
struct LoopGate {
  absl::Mutex mu;
  net::io_context* loop ABSL_GUARDED_BY(mu) = nullptr;
};

// One transfer. Owned by its loop while active; the caller holds a handle to cancel it.
class Transfer final : public HttpCall, public std::enable_shared_from_this<Transfer> {
 public:
  Transfer(HttpCallRequest req, HttpCallHandler& handler)
      : req_(std::move(req)), handler_(handler) {}
  ~Transfer() override {
    if (headers_ != nullptr) curl_slist_free_all(headers_);
  }
  void Cancel() override;
  // On the loop's thread, within OnData.
  void Pause() override { pause_requested_ = true; }
  void Resume() override;

  HttpCallRequest req_;
  HttpCallHandler& handler_;
  CurlLoop* loop_ = nullptr;
  std::shared_ptr<LoopGate> gate_;
  CURL* easy_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::vector<std::pair<std::string, std::string>> response_headers_;
  bool headers_delivered_ = false;
  bool body_started_ = false;
  bool pause_requested_ = false;  // Pause(): the next piece of the body is refused and held.
  bool paused_ = false;           // curl holds a piece (OnBody answered CURL_WRITEFUNC_PAUSE).
  int64_t body_bytes_ = 0;
  absl::Time started_ = absl::InfinitePast();
  absl::Time last_activity_ = absl::InfinitePast();
  char error_[CURL_ERROR_SIZE] = {0};
};

// A libcurl multi handle driven by one io_context (an Asio service, so there is exactly one per
// io_context and it goes away with it). Used only on the thread that runs that io_context: curl
// tells us which sockets to watch and when to call it back (curl_multi_socket_action), and the
// io_context's reactor does the watching, beside whatever else that thread serves.
class CurlLoop final : public net::execution_context::service {
 public:
  static inline net::execution_context::id id;

  explicit CurlLoop(net::execution_context& context)
      : net::execution_context::service(context),
        ioc_(static_cast<net::io_context&>(context)),
        gate_(std::make_shared<LoopGate>()) {
    GlobalInit();
    curl_timer_.emplace(ioc_);
    timeout_timer_.emplace(ioc_);
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 2048L);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &OnSocket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &OnTimer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
    absl::MutexLock lock(&gate_->mu);
    gate_->loop = &ioc_;
  }

  // The loop of `ioc`, created on first use. Only `ioc`'s thread may call the loop's methods.
  static CurlLoop& Of(net::io_context& ioc) {
    return net::use_service<CurlLoop>(static_cast<net::execution_context&>(ioc));
  }

  const std::shared_ptr<LoopGate>& gate() const { return gate_; }

  void Add(const std::shared_ptr<Transfer>& t) {
    // Easy handles are recycled, reset (which keeps their buffers and caches): a handle reused
    // without the reset, keeping its options, made HTTP/2 transfers fail now and then with
    // "Connection died, tried 5 times" once the server rotated its connections (GOAWAY), found
    // under load through nginx with TLS and HTTP/2. Connections live in the multi handle's pool
    // either way.
    CURL* e = nullptr;
    if (!idle_.empty()) {
      e = idle_.back();
      idle_.pop_back();
      curl_easy_reset(e);
    } else {
      e = curl_easy_init();
    }
    {
      curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
      curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
      curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
      curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
      curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &OnHeaderLine);
      curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnBody);
      curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &OpenSocket);
      curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
      curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &OnCloseSocket);
      curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
    }
    t->easy_ = e;
    const HttpCallRequest& r = t->req_;
    curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
    // Waiting for a connection that may turn out to multiplex makes sense only where one can: TLS,
    // whose handshake (ALPN) says whether it speaks HTTP/2 before any request is sent. On cleartext
    // HTTP/1.1, a call would wait for another's connection until that answer is complete, however
    // long that is; it takes an idle connection or a new one instead.
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, absl::StartsWithIgnoreCase(r.url, "https://") ? 1L : 0L);
    if (r.method == "POST") {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, nullptr);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    } else {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method == "GET" ? nullptr : r.method.c_str());
      if (!r.body.empty()) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      }
    }
    if (r.public_https_only) {
      // Restricted calls get options no other call has: their handle is not recycled (Finish).
      // A connection of its own (a pooled one may lead anywhere the gateway talks to), checked
      // before it connects, and no redirects (they could lead to a pooled connection).
      curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
      curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &OpenPublicSocket);
    }
    if (r.max_body_bytes > 0)
      curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(r.max_body_bytes));
    if (r.total_timeout > absl::ZeroDuration()) {
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(absl::ToInt64Milliseconds(r.total_timeout)));
    }
    for (const std::string& h : r.headers) t->headers_ = curl_slist_append(t->headers_, h.c_str());
    t->headers_ = curl_slist_append(t->headers_, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers_);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(r.connect_timeout)));
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error_);
    t->started_ = t->last_activity_ = absl::Now();
    active_[e] = t;
    // curl starts the transfer from its timer callback (a zero timeout), never inside this call,
    // so a handler is never called back before Start() has returned.
    curl_multi_add_handle(multi_, e);
    ArmTimeoutCheck(Deadline(*t));
  }

  void Cancel(const std::shared_ptr<Transfer>& t) {
    if (t->easy_ != nullptr && t->loop_ == this)
      Finish(t->easy_, absl::CancelledError("cancelled by the caller"));
  }

  void Resume(const std::shared_ptr<Transfer>& t) {
    if (t->easy_ == nullptr || t->loop_ != this) return;
    t->pause_requested_ = false;
    if (!t->paused_) return;
    t->paused_ = false;
    t->last_activity_ = absl::Now();
    ArmTimeoutCheck(Deadline(*t));
    // curl hands over the piece it held, possibly before this returns; the transfer goes on at
    // the next socket action, which it asks for through its timer.
    curl_easy_pause(t->easy_, CURLPAUSE_CONT);
    Drain();
  }

  // The io_context is going away: calls in flight complete as cancelled, sockets are handed back
  // to curl (which closes them), and no thread may post here any more.
  void shutdown() override {
    {
      absl::MutexLock lock(&gate_->mu);
      gate_->loop = nullptr;
    }
    while (!active_.empty())
      Finish(active_.begin()->first, absl::CancelledError("HTTP client shut down"));
    for (CURL* e : idle_) curl_easy_cleanup(e);
    idle_.clear();
    curl_multi_cleanup(multi_);  // Reports every socket as removed.
    multi_ = nullptr;
    for (auto& [fd, w] : watches_) w->sd.release();
    watches_.clear();
    curl_timer_.reset();
    timeout_timer_.reset();
  }

 private:
  // A socket curl asked us to watch, registered with the io_context's reactor. The descriptor
  // stays curl's: it is released from the reactor when curl closes it.
  struct Watch {
    Watch(net::io_context& ioc, curl_socket_t fd, uint64_t id) : sd(ioc, fd), id(id) {}
    net::posix::basic_stream_descriptor<net::io_context::executor_type> sd;
    uint64_t id;
    int want = 0;
    bool reading = false;
    bool writing = false;
  };

  static int OnSocket(CURL*, curl_socket_t s, int what, void* user, void*) {
    auto* self = static_cast<CurlLoop*>(user);
    if (what == CURL_POLL_REMOVE) {
      // A connection going back to curl's pool, to be used by the next call, stays registered
      // with the reactor (unregistering and registering again would cost two system calls per
      // call) until curl closes it (OnCloseSocket). Only sockets opened through OpenSocket: curl
      // closes others (its resolver's socketpair) without telling us, and a stale registration
      // would capture the next socket given the same number.
      if (self->opened_.contains(s)) {
        if (auto it = self->watches_.find(s); it != self->watches_.end()) it->second->want = 0;
      } else {
        self->Unwatch(s);
      }
      return 0;
    }
    std::unique_ptr<Watch>& w = self->watches_[s];
    if (w == nullptr) w = std::make_unique<Watch>(self->ioc_, s, ++self->next_watch_id_);
    w->want = what;
    self->Arm(s, *w);
    return 0;
  }

  static int OnCloseSocket(void* user, curl_socket_t s) {
    auto* self = static_cast<CurlLoop*>(user);
    self->opened_.erase(s);
    self->Unwatch(s);
    return close(s);
  }

  void Unwatch(curl_socket_t s) {
    auto it = watches_.find(s);
    if (it == watches_.end()) return;
    it->second->sd.release();  // Pending waits complete as aborted and find no watch.
    watches_.erase(it);
  }

  void Arm(curl_socket_t s, Watch& w) {
    if ((w.want & CURL_POLL_IN) != 0 && !w.reading) {
      w.reading = true;
      w.sd.async_wait(net::posix::descriptor_base::wait_read,
                      [this, s, id = w.id](const boost::system::error_code& ec) {
                        OnReady(s, id, CURL_CSELECT_IN, ec);
                      });
    }
    if ((w.want & CURL_POLL_OUT) != 0 && !w.writing) {
      w.writing = true;
      w.sd.async_wait(net::posix::descriptor_base::wait_write,
                      [this, s, id = w.id](const boost::system::error_code& ec) {
                        OnReady(s, id, CURL_CSELECT_OUT, ec);
                      });
    }
  }

  void OnReady(curl_socket_t s, uint64_t id, int mask, const boost::system::error_code& ec) {
    auto it = watches_.find(s);
    if (it == watches_.end() || it->second->id != id) return;  // Removed (or the number reused).
    (mask == CURL_CSELECT_IN ? it->second->reading : it->second->writing) = false;
    if (ec == net::error::operation_aborted) return;
    int running = 0;
    curl_multi_socket_action(multi_, s, ec ? CURL_CSELECT_ERR : mask, &running);
    Drain();
    // curl may have removed the socket, or changed what it waits for, meanwhile.
    it = watches_.find(s);
    if (it != watches_.end() && it->second->id == id) Arm(s, *it->second);
  }

  // curl asks for a call back after `timeout_ms` (0: as soon as possible; -1: never) and moves
  // that time on almost every call. Re-arming an Asio timer each time would cost a timerfd system
  // call per request, so: "as soon as possible" is a post, and the timer is only moved earlier,
  // never later; when it fires early it simply re-arms for the time curl wants now.
  static int OnTimer(CURLM*, long timeout_ms, void* user) {
    auto* self = static_cast<CurlLoop*>(user);
    if (timeout_ms < 0) {
      self->curl_due_ = std::chrono::steady_clock::time_point::max();
    } else if (timeout_ms == 0) {
      self->curl_due_ = std::chrono::steady_clock::time_point::max();
      if (!self->kick_posted_) {
        self->kick_posted_ = true;
        net::post(self->ioc_, [self] {
          self->kick_posted_ = false;
          self->OnCurlTimeout();
        });
      }
    } else {
      self->curl_due_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
      self->ArmCurlTimer();
    }
    return 0;
  }

  void ArmCurlTimer() {
    if (curl_timer_ == std::nullopt || curl_due_ == std::chrono::steady_clock::time_point::max())
      return;
    if (curl_timer_armed_ && curl_timer_->expiry() <= curl_due_) return;
    curl_timer_armed_ = true;
    curl_timer_->expires_at(curl_due_);
    curl_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec == net::error::operation_aborted) return;  // Moved earlier; that wait is pending.
      curl_timer_armed_ = false;
      if (std::chrono::steady_clock::now() >= curl_due_) {
        curl_due_ = std::chrono::steady_clock::time_point::max();
        OnCurlTimeout();
      }
      ArmCurlTimer();
    });
  }

  void OnCurlTimeout() {
    if (multi_ == nullptr) return;
    int running = 0;
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    Drain();
  }

  // Our own timeouts (first byte, silence). One timer, armed for the earliest deadline and only
  // ever moved earlier (a new call's deadline is nearly always later than the armed one, so a call
  // costs no timer system call); when it fires it ends what has expired and re-arms for the next.
  // Until the first byte of the body (a streaming upstream sends its headers at once, and its first
  // event when the model has produced something), then between reads.
  static absl::Time Deadline(const Transfer& t) {
    if (t.paused_) return absl::InfiniteFuture();  // Held back by its consumer, not silent.
    return t.body_started_ ? t.last_activity_ + t.req_.idle_timeout
                           : t.started_ + t.req_.first_byte_timeout;
  }

  void ArmTimeoutCheck(absl::Time due) {
    if (timeout_timer_ == std::nullopt || (timeout_check_armed_ && timeout_due_ <= due)) return;
    timeout_check_armed_ = true;
    timeout_due_ = due;
    const absl::Duration wait =
        std::max(absl::ZeroDuration(), due - absl::Now()) + absl::Milliseconds(1);
    timeout_timer_->expires_after(absl::ToChronoMicroseconds(wait));
    timeout_timer_->async_wait([this](const boost::system::error_code& ec) {
      if (ec == net::error::operation_aborted) return;  // Moved earlier; that wait is pending.
      timeout_check_armed_ = false;
      CheckTimeouts();
    });
  }

  // A call moves from waiting for its first body byte to the silence deadline.
  void OnFirstByte(Transfer& t, absl::Time now) {
    if (t.body_started_) return;
    ArmTimeoutCheck(now + t.req_.idle_timeout);
  }

  // Every connection socket curl opens comes through here, so that its close (OnCloseSocket) is
  // known to follow.
  static curl_socket_t OpenSocket(void* user, curlsocktype, curl_sockaddr* address) {
    const curl_socket_t s = socket(address->family, address->socktype, address->protocol);
    if (s != CURL_SOCKET_BAD) static_cast<CurlLoop*>(user)->opened_.insert(s);
    return s;
  }

  static curl_socket_t OpenPublicSocket(void* user, curlsocktype purpose, curl_sockaddr* address) {
    if (!IsPublicAddress(&address->addr)) return CURL_SOCKET_BAD;
    return OpenSocket(user, purpose, address);
  }

  static size_t OnHeaderLine(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    absl::string_view line(data, size * n);
    // (No last_activity_ here: until the body starts, the first-byte deadline alone counts.)
    if (absl::StartsWith(line, "HTTP/")) {
      t->response_headers_.clear();  // A new header block (e.g. after 100 Continue).
      return size * n;
    }
    const size_t colon = line.find(':');
    if (colon != absl::string_view::npos) {
      t->response_headers_.emplace_back(
          absl::AsciiStrToLower(line.substr(0, colon)),
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
    if (t->pause_requested_) {
      // The consumer is full: curl keeps this piece and hands it over again on Resume().
      t->paused_ = true;
      return CURL_WRITEFUNC_PAUSE;
    }
    const absl::Time now = absl::Now();
    t->loop_->OnFirstByte(*t, now);
    t->last_activity_ = now;
    t->body_started_ = true;
    t->body_bytes_ += static_cast<int64_t>(size * n);
    if (t->req_.max_body_bytes > 0 && t->body_bytes_ > t->req_.max_body_bytes)
      return 0;  // Aborts: too large.
    DeliverHeaders(*t);
    t->handler_.OnData(absl::string_view(data, size * n));
    return size * n;
  }

  void Finish(CURL* e, const absl::Status& status) {
    auto it = active_.find(e);
    if (it == active_.end()) return;
    std::shared_ptr<Transfer> t = std::move(it->second);
    active_.erase(it);
    curl_multi_remove_handle(multi_, e);
    if (status.ok()) DeliverHeaders(*t);
    // The handle is reused by a later call; the Transfer (which a caller may still hold to cancel)
    // forgets it first, since the handler may start that later call.
    t->easy_ = nullptr;
    const HttpCallRequest& r = t->req_;
    const bool restricted =
        r.public_https_only || r.max_body_bytes > 0 || r.total_timeout > absl::ZeroDuration();
    if (idle_.size() < 256 && multi_ != nullptr && !restricted) {
      // Nothing of the finished call may stay reachable from the idle handle.
      curl_easy_setopt(e, CURLOPT_HTTPHEADER, nullptr);
      curl_easy_setopt(e, CURLOPT_ERRORBUFFER, nullptr);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, nullptr);
      curl_easy_setopt(e, CURLOPT_HEADERDATA, nullptr);
      curl_easy_setopt(e, CURLOPT_WRITEDATA, nullptr);
      curl_easy_setopt(e, CURLOPT_PRIVATE, nullptr);
      idle_.push_back(e);
    } else {
      curl_easy_cleanup(e);
    }
    t->handler_.OnComplete(status);
  }

  // The client learns what kind of failure it was, in curl's generic words; the log gets curl's own
  // detail, which names the upstream's host, address and port.
  static absl::Status FromCurl(CURLcode code, const Transfer& t) {
    if (code == CURLE_OK) return absl::OkStatus();
    const std::string detail =
        t.error_[0] != '\0' ? std::string(t.error_) : curl_easy_strerror(code);
    log::Warn("upstream transfer failed",
              {{"curl_code", static_cast<int>(code)}, {"error", detail}});
    const absl::string_view kind = curl_easy_strerror(code);
    switch (code) {
      case CURLE_COULDNT_CONNECT:
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_PEER_FAILED_VERIFICATION:
        return status::Error(absl::StatusCode::kUnavailable, status::reason::kUpstreamUnreachable,
                             absl::StrCat("cannot reach the upstream (", kind, ")"))
            .HttpStatus(502);
      case CURLE_OPERATION_TIMEDOUT:
        return status::Error(absl::StatusCode::kDeadlineExceeded, status::reason::kUpstreamTimeout,
                             absl::StrCat("the upstream timed out (", kind, ")"));
      default:
        return status::Error(absl::StatusCode::kUnavailable,
                             t.body_started_ ? status::reason::kUpstreamDisconnected
                                             : status::reason::kUpstreamUnreachable,
                             absl::StrCat("upstream connection failed (", kind, ")"))
            .HttpStatus(502);
    }
  }

  void CheckTimeouts() {
    const absl::Time now = absl::Now();
    std::vector<std::pair<CURL*, absl::Status>> expired;
    absl::Time next = absl::InfiniteFuture();
    for (auto& [e, t] : active_) {
      const absl::Time due = Deadline(*t);
      if (due > now) {
        next = std::min(next, due);
        continue;
      }
      const HttpCallRequest& r = t->req_;
      const bool waiting = !t->body_started_;
      expired.emplace_back(
          e, status::Error(absl::StatusCode::kDeadlineExceeded, status::reason::kUpstreamTimeout,
                           waiting ? absl::StrCat("no answer from the upstream within ",
                                                  absl::FormatDuration(r.first_byte_timeout))
                                   : absl::StrCat("the upstream went silent for ",
                                                  absl::FormatDuration(r.idle_timeout))));
    }
    for (auto& [e, s] : expired) Finish(e, s);
    if (next != absl::InfiniteFuture()) ArmTimeoutCheck(next);
  }

  void Drain() {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      const CURLcode result = msg->data.result;
      auto it = active_.find(e);
      if (it == active_.end()) continue;
      Finish(e, FromCurl(result, *it->second));
    }
  }

  net::io_context& ioc_;
  std::shared_ptr<LoopGate> gate_;
  CURLM* multi_ = nullptr;
  std::optional<net::steady_timer> curl_timer_;  // When curl wants to be called back.
  std::chrono::steady_clock::time_point curl_due_ = std::chrono::steady_clock::time_point::max();
  bool curl_timer_armed_ = false;
  bool kick_posted_ = false;
  std::optional<net::steady_timer> timeout_timer_;  // Our own timeouts.
  bool timeout_check_armed_ = false;
  absl::Time timeout_due_ = absl::InfiniteFuture();
  uint64_t next_watch_id_ = 0;
  std::unordered_map<curl_socket_t, std::unique_ptr<Watch>> watches_;
  std::unordered_set<curl_socket_t> opened_;  // Connection sockets curl opened through OpenSocket.
  std::map<CURL*, std::shared_ptr<Transfer>> active_;
  std::vector<CURL*> idle_;
};

void Transfer::Resume() {
  absl::MutexLock lock(&gate_->mu);
  if (gate_->loop == nullptr) return;
  net::post(*gate_->loop, [t = shared_from_this()] { t->loop_->Resume(t); });
}

void Transfer::Cancel() {
  // Always through the loop, even from its own thread: the caller may be inside a callback of
  // this very transfer, or hold a lock its OnComplete takes.
  absl::MutexLock lock(&gate_->mu);
  if (gate_->loop == nullptr) return;
  net::post(*gate_->loop, [t = shared_from_this()] { t->loop_->Cancel(t); });
}

class CurlHttpClient final : public HttpClient {
 public:
  CurlHttpClient()
      : own_(std::make_unique<net::io_context>(1)), work_(net::make_work_guard(*own_)) {
    GlobalInit();
    own_gate_ = CurlLoop::Of(*own_).gate();
    thread_ = std::thread([this] {
      io::LoopThread mark(*own_);
      own_->run();
    });
  }

  ~CurlHttpClient() override {
    // Calls started before this point are added first (posts run in order), then the loop stops;
    // destroying its io_context completes whatever is still in flight as cancelled.
    work_.reset();
    net::post(*own_, [this] { own_->stop(); });
    thread_.join();
    own_.reset();
  }

  std::shared_ptr<HttpCall> Start(HttpCallRequest request, HttpCallHandler& handler) override {
    auto t = std::make_shared<Transfer>(std::move(request), handler);
    // On a thread that runs a loop of its own (the edge's I/O threads in the all-in-one process,
    // or this client's thread when a handler fails over), the call stays on that thread.
    if (net::io_context* here = io::CurrentLoop(); here != nullptr) {
      CurlLoop& loop = CurlLoop::Of(*here);
      t->loop_ = &loop;
      t->gate_ = loop.gate();
      loop.Add(t);
      return t;
    }
    t->loop_ = &CurlLoop::Of(*own_);
    t->gate_ = own_gate_;
    net::post(*own_, [t] { t->loop_->Add(t); });
    return t;
  }

 private:
  std::unique_ptr<net::io_context> own_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  std::shared_ptr<LoopGate> own_gate_;
  std::thread thread_;
};

}  // namespace

bool IsPublicAddress(const void* addr) {
  const auto* sa = static_cast<const sockaddr*>(addr);
  auto v4_public = [](uint32_t a) {  // Host byte order.
    const auto in = [a](uint32_t net, int bits) {
      return (a >> (32 - bits)) == (net >> (32 - bits));
    };
    return !(in(0x00000000, 8) || in(0x0A000000, 8) || in(0x7F000000, 8) || in(0xA9FE0000, 16) ||
             in(0xAC100000, 12) || in(0xC0A80000, 16) || in(0x64400000, 10) || in(0xC0000000, 24) ||
             in(0xC6120000, 15) ||
             a >= 0xE0000000);  // 0/8 10/8 127/8 169.254/16 172.16/12 192.168/16
                                // 100.64/10 192.0.0/24 198.18/15 224/4 and above
  };
  if (sa->sa_family == AF_INET) {
    return v4_public(ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr));
  }
  if (sa->sa_family != AF_INET6) return false;
  const uint8_t* b = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr.s6_addr;
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMapped, 12) == 0) {  // ::ffff:a.b.c.d
    return v4_public((uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) |
                     b[15]);
  }
  bool zero_prefix = true;  // :: and ::1, and the deprecated ::a.b.c.d
  for (int i = 0; i < 12; ++i) zero_prefix &= b[i] == 0;
  if (zero_prefix) return false;
  if ((b[0] & 0xfe) == 0xfc) return false;                  // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;  // fe80::/10 link-local
  if (b[0] == 0xff) return false;                           // ff00::/8 multicast
  return true;
}

std::unique_ptr<HttpClient> NewCurlHttpClient() { return std::make_unique<CurlHttpClient>(); }

}  // namespace aimarket::provider
