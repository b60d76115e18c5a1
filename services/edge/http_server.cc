#include "services/edge/http_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/io/loop.h"
#include "common/log/log.h"
#include "common/metrics/metrics.h"
#include "services/edge/edge_metrics.h"
#include "services/edge/openai_error.h"

namespace aimarket::edge {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Executor = net::io_context::executor_type;
using Socket = tcp::socket::rebind_executor<Executor>::other;

namespace {

std::chrono::steady_clock::duration ToSteady(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

// OpenAI's error body for what the server refuses itself (fixed texts, never client input).
std::string ErrorJson(absl::string_view message, absl::string_view code,
                      absl::string_view type = "invalid_request_error") {
  return OpenAiErrorJson(message, type, "", code);
}

// A canned 503 for a connection refused at a cap: fixed text, written without reading the request.
std::string BusyResponse(absl::string_view message) {
  const std::string body = ErrorJson(message, "server_busy", "server_error");
  return absl::StrCat(
      "HTTP/1.1 503 Service Unavailable\r\nServer: aimarket\r\nContent-Type: application/json\r\n",
      "Content-Length: ", body.size(), "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n", body);
}

// "http://host:port/path?q" (absolute form, RFC 9112 §3.2.2) -> "/path?q"; others unchanged.
std::string OriginForm(absl::string_view target) {
  absl::string_view t = target;
  const size_t scheme = t.find("://");
  if (scheme == absl::string_view::npos || t.empty() || t.front() == '/')
    return std::string(target);
  const absl::string_view name = t.substr(0, scheme);
  if (!absl::EqualsIgnoreCase(name, "http") && !absl::EqualsIgnoreCase(name, "https"))
    return std::string(target);
  t.remove_prefix(scheme + 3);
  const size_t path = t.find_first_of("/?");
  if (path == absl::string_view::npos) return "/";
  t.remove_prefix(path);
  return t.front() == '?' ? absl::StrCat("/", t) : std::string(t);
}

}  // namespace

class WatchSweep;

// Guards posting to the io_context from writers held by other threads: closed (under its lock)
// before the io_context is destroyed, so a late writer never touches a dead io_context.
struct Gate {
  absl::Mutex mu;
  bool open ABSL_GUARDED_BY(mu) = true;
};

class HttpServer::Impl {
 public:
  Impl(const Options& options, HttpHandler handler)
      : options_(options),
        handler_(std::move(handler)),
        loops_(MakeLoops(options.io_threads)),
        acceptor_(*loops_.front().ioc),
        gate_(std::make_shared<Gate>()) {
    accept_timer_.emplace(*loops_.front().ioc);
  }
  ~Impl() {
    {
      absl::MutexLock lock(&gate_->mu);
      gate_->open = false;
    }
    // Producers still held back by the process-wide cap go on: their consumers are gone with the
    // server (a gRPC read held for one would otherwise keep its call from ever ending).
    std::vector<absl::AnyInvocable<void()>> left;
    {
      absl::MutexLock lock(&roomy_mu_);
      left.swap(roomy_waiters_);
    }
    for (auto& fn : left) fn();
  }

  absl::Status Listen();
  void Run();
  void Shutdown(absl::Duration deadline);

  const Options& options() const { return options_; }
  const HttpHandler& handler() const { return handler_; }
  const std::shared_ptr<Gate>& gate() const { return gate_; }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  void BeginRequest() { in_flight_.fetch_add(1); }
  void EndRequest() {
    if (in_flight_.fetch_sub(1) == 1) {
      absl::MutexLock lock(&mu_);  // Wake Shutdown().
    }
  }
  int port() const { return port_; }

  // Connection caps (Options::max_connections*): false if a connection from `client` is one too
  // many, with the cap it would pass in `reason`. Each admitted connection is released once.
  bool AdmitConnection(const std::string& client, const char** reason);
  void ReleaseConnection(const std::string& client);
  // The budget of bytes that bodies being received may hold (Options::max_buffered_body_bytes).
  bool ReserveBody(int64_t bytes) {
    const int64_t cap = options_.max_buffered_body_bytes;
    const int64_t before = buffered_body_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    if (cap > 0 && before + bytes > cap) {
      buffered_body_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void ReleaseBody(int64_t bytes) {
    buffered_body_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  }
  // Response bytes queued for clients, in all (Options::max_buffered_response_bytes).
  void ChargeResponse(int64_t bytes) {
    queued_response_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  }
  void ReleaseResponse(int64_t bytes);
  bool ResponsesFull() const {
    const int64_t cap = options_.max_buffered_response_bytes;
    return cap > 0 && queued_response_bytes_.load(std::memory_order_relaxed) >= cap;
  }
  // Below the low-water mark (half the cap) again.
  bool ResponsesRoomy() const {
    const int64_t cap = options_.max_buffered_response_bytes;
    return cap <= 0 || queued_response_bytes_.load(std::memory_order_relaxed) <= cap / 2;
  }
  // Runs `fn` once the queued responses of all clients are below the low-water mark (at once if
  // they are).
  void WhenResponsesRoomy(absl::AnyInvocable<void()> fn);

 private:
  void DoAccept();
  void OnAcceptError(const beast::error_code& ec);

  const Options options_;
  const HttpHandler handler_;
  // Before the loops: sessions, destroyed with their io_context, release what they hold here.
  absl::Mutex conn_mu_;
  int connections_ ABSL_GUARDED_BY(conn_mu_) = 0;
  absl::flat_hash_map<std::string, int> per_client_ ABSL_GUARDED_BY(conn_mu_);
  std::atomic<int64_t> buffered_body_bytes_{0};
  std::atomic<int64_t> queued_response_bytes_{0};
  absl::Mutex roomy_mu_;
  // Producers held back by the process-wide cap alone.
  std::vector<absl::AnyInvocable<void()>> roomy_waiters_ ABSL_GUARDED_BY(roomy_mu_);
  // One io_context per I/O thread, each run by its thread alone (marked as its io::LoopThread):
  // a connection lives on one loop, and what its requests start elsewhere (the provider-adapter's
  // upstream calls, in the all-in-one process) can stay on that thread.
  struct Loop {
    std::unique_ptr<net::io_context> ioc;
    // Keeps the thread running while no socket operation is pending (a handler answering from
    // another thread during a drain, after the acceptor closed).
    std::optional<net::executor_work_guard<Executor>> work;
    // The loop's sessions whose handlers are at work (declared last: goes before the io_context).
    std::unique_ptr<WatchSweep> sweep;
  };
  static std::vector<Loop> MakeLoops(int n);

  std::vector<Loop> loops_;
  size_t next_loop_ = 0;
  tcp::acceptor acceptor_;
  // Accepting pauses this long after running out of descriptors (0: not paused).
  std::chrono::milliseconds accept_backoff_{0};
  std::optional<net::steady_timer> accept_timer_;
  std::shared_ptr<Gate> gate_;
  std::vector<std::thread> threads_;
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int port_ = 0;
};

namespace {

std::string StatusLine(int status, unsigned version) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return absl::StrCat(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ", status, " ",
                      absl::string_view(reason.data(), reason.size()), "\r\n");
}

// One connection, driven on its loop's thread. Between requests it stays alive through its pending
// read; while a handler works, through itself (self_), and once the handler has been at work for a
// while (WatchSweep) a read watches the socket, so that a client that goes away is noticed (and the
// handler told through OnDisconnect).
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `client` is the connection's admitted client address (released when the session goes).
  Session(Socket&& socket, HttpServer::Impl& server, WatchSweep& sweep, std::string client,
          std::string peer)
      : stream_(std::move(socket)),
        server_(server),
        sweep_(sweep),
        client_(std::move(client)),
        peer_(std::move(peer)) {
    EdgeMetrics::Get().ConnectionOpened();
  }
  ~Session() {
    // What the handler wrote and the client never took (in out_, or in the mailbox unrun).
    if (const int64_t left = queued_.load(); left > 0) server_.ReleaseResponse(left);
    ReleaseWaiters();  // Gone without closing (the server stopping): nobody waits on it forever.
    if (reserved_body_ > 0) server_.ReleaseBody(reserved_body_);
    server_.ReleaseConnection(client_);
    EdgeMetrics::Get().ConnectionClosed();
  }

  void Start() {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::DoRead, shared_from_this()));
  }

  // The drain deadline has passed with this request at work: a stream gets `chunk` (the edge's
  // error event) and its proper end, an unanswered request a 503; the handler is told, as if the
  // client had gone, so that it stops what it started upstream.
  void EndAtDeadline(const std::string& chunk) {
    if (state_ != State::kHandling) return;
    keep_alive_ = false;
    if (streaming_) {
      if (!head_only_) {
        if (chunked_) {
          if (!chunk.empty()) Queue(absl::StrCat(absl::Hex(chunk.size()), "\r\n", chunk, "\r\n"));
          Queue("0\r\n\r\n");
        } else if (!chunk.empty()) {
          Queue(chunk);
        }
      }
      close_after_ = true;
      Complete();
    } else {
      HttpResponse r;
      r.status = 503;
      r.headers.emplace_back("Retry-After", "1");
      r.body = ErrorJson("The server is shutting down; retry the request.", "server_shutting_down",
                         "server_error");
      DoSend(std::move(r));
    }
    if (on_disconnect_) {
      auto fn = std::move(on_disconnect_);
      on_disconnect_ = nullptr;
      fn();
    }
  }

  // --- Called through SessionWriter, on the loop's thread.
  // `credit`: what the writer charged for the body (Charge), 0 for the server's own answers.
  void DoSend(HttpResponse r, int64_t credit = 0) {
    if (state_ != State::kHandling) return Release(credit);
    const bool keep = keep_alive_ && !server_.draining();
    std::string out = Head(r, absl::StrCat("Content-Length: ", r.body.size(), "\r\n"), keep);
    if (!head_only_) out += r.body;  // HEAD: the headers GET would have, no body (RFC 9110 §9.3.2).
    Queue(std::move(out), /*later=*/false, credit);
    Complete();
  }

  void DoStartStream(HttpResponse r) {
    if (state_ != State::kHandling || streaming_) return;
    streaming_ = true;
    // HTTP/1.0 has no chunked encoding: the stream ends when the connection closes.
    chunked_ = version_ != 10;
    const bool keep = chunked_ && keep_alive_ && !server_.draining();
    Queue(Head(r, chunked_ ? "Transfer-Encoding: chunked\r\n" : "", keep), /*later=*/!head_only_);
    if (head_only_) Complete();  // No body follows a HEAD's headers; later writes are dropped.
  }

  void DoWriteChunk(std::string data, int64_t credit) {
    if (state_ != State::kHandling || !streaming_ || data.empty()) return Release(credit);
    if (chunked_) {
      Queue(absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n"), /*later=*/true, credit);
    } else {
      Queue(std::move(data), /*later=*/true, credit);
    }
  }

  void DoEnd() {
    if (state_ != State::kHandling || !streaming_) return;
    if (chunked_) Queue("0\r\n\r\n", /*later=*/true);
    Complete();
  }

  void DoAbort() {
    if (state_ != State::kHandling) return;
    // What was written before goes out first; then the connection drops mid-response.
    aborting_ = true;
    if (!writing_ && out_.empty()) DoClose();
  }

  // --- Backpressure (Options::max_response_buffer_bytes, max_buffered_response_bytes).
  // Bytes a writer hands over are charged before they are posted here, and released once the
  // client has taken them (OnWrite) or they are dropped. Charge, Release and Full from any thread.
  void Charge(int64_t n) {
    queued_.fetch_add(n, std::memory_order_relaxed);
    server_.ChargeResponse(n);
  }
  void Release(int64_t n) {
    if (n == 0) return;
    queued_.fetch_sub(n, std::memory_order_relaxed);
    server_.ReleaseResponse(n);
  }
  bool Full() const {
    const int64_t cap = server_.options().max_response_buffer_bytes;
    return (cap > 0 && queued_.load(std::memory_order_relaxed) >= cap) || server_.ResponsesFull();
  }
  bool OwnQueueLow() const {
    const int64_t cap = server_.options().max_response_buffer_bytes;
    return cap <= 0 || queued_.load(std::memory_order_relaxed) <= cap / 2;
  }
  // Runs `fn` when this connection's queue is below half its cap and all clients' together below
  // half theirs, or the client is gone.
  void DoWhenReady(absl::AnyInvocable<void()> fn) {
    if (disconnected_ || state_ == State::kClosed) return fn();
    if (!OwnQueueLow()) return drain_waiters_.push_back(std::move(fn));
    server_.WhenResponsesRoomy(std::move(fn));
  }

  // The send timeout (Options::send_timeout): the client has taken nothing of the write in flight
  // for that long.
  bool WriteStuck(std::chrono::steady_clock::time_point now) const {
    return writing_ && now - write_started_ > ToSteady(server_.options().send_timeout);
  }
  // The client reads nothing: it is dropped, and what its request started upstream is cancelled.
  void SendTimedOut() {
    if (state_ == State::kClosed) return;
    EdgeMetrics::Get().SendTimeout();
    Disconnected();
    DoClose();
  }

  void DoOnDisconnect(std::function<void()> fn) {
    if (disconnected_) {
      fn();
    } else {
      on_disconnect_ = std::move(fn);
    }
  }

  bool gone() const { return gone_.load(std::memory_order_relaxed); }
  bool streaming() const { return streaming_; }

  // A writer's calls run on the loop's thread in the order they were made, from whichever thread:
  // a writer may be used from several threads in turn (a handler starts a stream on the loop
  // thread, a worker writes the rest), and the io_context alone would not keep their order (the
  // loop thread's own posts wait in a thread-private queue, others' do not). So they go through
  // the session's mailbox, unless the call is made on the loop's thread with nothing waiting: then
  // it may run at once (an upstream's answer arriving on this thread goes out without another
  // round through the loop).
  bool MayRunNow() {
    if (!stream_.get_executor().running_in_this_thread() || in_mailbox_) return false;
    absl::MutexLock lock(&mailbox_mu_);
    return mailbox_.empty() && !drain_posted_;
  }

  // Runs `f` on the loop's thread after what was posted before it. `self` is this session.
  void Post(std::shared_ptr<Session> self, absl::AnyInvocable<void(Session&)> f) {
    {
      absl::MutexLock lock(&mailbox_mu_);
      mailbox_.push_back(std::move(f));
      if (drain_posted_) return;
      drain_posted_ = true;
    }
    net::post(stream_.get_executor(), [self = std::move(self)] { self->DrainMailbox(); });
  }

  // --- Called by the loop's WatchSweep.
  // The handler has been at work for a while: watch the client from now on.
  void Watch() {
    if (watching_ || pipelined_ || state_ == State::kClosed) return;
    watching_ = true;
    stream_.socket().async_read_some(
        buffer_.prepare(4096), beast::bind_front_handler(&Session::OnWatch, shared_from_this()));
  }

  // The server is going away with this request unanswered.
  void Abandon() {
    sweep_index_ = kNotSwept;
    self_.reset();
  }

 private:
  enum class State { kReading, kHandling, kFlushing, kClosed };

  // The status line and headers of `r`, with the body framing header `framing`; decides whether the
  // connection stays open after this response.
  std::string Head(const HttpResponse& r, absl::string_view framing, bool keep) {
    close_after_ = !keep;
    std::string out = StatusLine(r.status, version_);
    absl::StrAppend(&out, "Server: aimarket\r\nContent-Type: ", r.content_type, "\r\n", framing,
                    keep ? "" : "Connection: close\r\n");
    for (const auto& [k, v] : r.headers) absl::StrAppend(&out, k, ": ", v, "\r\n");
    out += "\r\n";
    return out;
  }

  // Every request's headers are read first (header_timeout for a new connection's first, then
  // idle_timeout), then its body (body_timeout in all): what came with the headers is parsed at
  // once, so a request that arrived whole costs one read as before, while one whose body is still
  // on its way can be refused before it is held (a cap on buffered bodies) or invited
  // (100-continue).
  void DoRead() {
    state_ = State::kReading;
    parser_.emplace();
    parser_->body_limit(static_cast<std::uint64_t>(server_.options().max_body_bytes));
    parser_->header_limit(64 * 1024);
    stream_.expires_after(ToSteady(first_request_ ? server_.options().header_timeout
                                                  : server_.options().idle_timeout));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    first_request_ = false;
    if (std::optional<HttpResponse> refused = CheckFraming(parser_->get())) {
      keep_alive_ = false;
      version_ = 11;
      StartHandling();
      return DoSend(*std::move(refused));
    }
    if (!parser_->is_done()) {
      const int64_t want = parser_->content_length()
                               ? static_cast<int64_t>(*parser_->content_length())
                               : server_.options().max_body_bytes;
      if (!server_.ReserveBody(want)) {
        EdgeMetrics::Get().Refused(EdgeMetrics::Cap::kBufferedBodyBytes);
        keep_alive_ = false;
        version_ = 11;
        StartHandling();
        HttpResponse r;
        r.status = 503;
        r.headers.emplace_back("Retry-After", "1");
        r.body =
            ErrorJson("The server is receiving too many request bodies at once; retry shortly.",
                      "server_busy", "server_error");
        return DoSend(std::move(r));
      }
      reserved_body_ = want;
    }
    // The part of the body that came with the headers.
    beast::error_code put_ec;
    FeedBody(put_ec);
    if (put_ec) return OnReadError(put_ec);
    if (parser_->is_done()) return OnRead({}, 0);
    stream_.expires_after(ToSteady(server_.options().body_timeout));
    const auto& head = parser_->get();
    if (head.version() == 11 &&
        absl::EqualsIgnoreCase(ToView(head[http::field::expect]), "100-continue")) {
      static constexpr absl::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                              [self = shared_from_this()](beast::error_code wec, std::size_t) {
                                if (wec) return self->DoClose();
                                self->ReadBody();
                              });
    }
    ReadBody();
  }

  // RFC 9112 §6.1 and §6.3: the body of a request with a Transfer-Encoding is framed by its final
  // coding, which must be chunked (any other leaves its length unknown: read as "no body", its
  // bytes would be taken for the next request, which is request smuggling behind a proxy that
  // frames it otherwise); HTTP/1.0 has no Transfer-Encoding at all; and the only coding the server
  // decodes is chunked, once. What is refused is answered and the connection closed (the caller),
  // unread. (Content-Length beside Transfer-Encoding, and differing Content-Lengths, Beast's parser
  // refuses itself.)
  static std::optional<HttpResponse> CheckFraming(const http::request<http::string_body>& head) {
    std::vector<std::string> codings;
    bool any = false;
    for (const auto& field : head) {
      if (field.name() != http::field::transfer_encoding) continue;
      any = true;
      for (absl::string_view c : absl::StrSplit(ToView(field.value()), ',')) {
        c = absl::StripAsciiWhitespace(c);
        if (!c.empty()) codings.push_back(absl::AsciiStrToLower(c));
      }
    }
    if (!any) return std::nullopt;
    HttpResponse r;
    r.status = 400;
    if (head.version() < 11) {
      r.body = ErrorJson("Transfer-Encoding is not allowed in an HTTP/1.0 request.",
                         "invalid_transfer_encoding");
    } else if (codings.empty() || codings.back() != "chunked" ||
               std::count(codings.begin(), codings.end(), "chunked") > 1) {
      r.body = ErrorJson("The request's Transfer-Encoding must end with chunked, applied once.",
                         "invalid_transfer_encoding");
    } else if (codings.size() > 1) {
      r.status = 501;
      r.body = ErrorJson("The only Transfer-Encoding accepted is chunked alone.",
                         "unsupported_transfer_encoding");
    } else {
      return std::nullopt;
    }
    return r;
  }

  // Offers the parser what the buffer holds, until it is done or needs more; what it takes is
  // consumed. The parser must never be offered the same bytes again without more after them
  // (Beast's chunk parser asserts on it, and without assertions misreads: found by
  // fuzz_http_request), which http::async_read would do after this: so the rest of the body is
  // read here too (ReadBody).
  void FeedBody(beast::error_code& ec) {
    while (!parser_->is_done() && buffer_.size() > 0) {
      const size_t n = parser_->put(buffer_.data(), ec);
      buffer_.consume(n);
      if (ec == http::error::need_more) {
        ec = {};
        return;
      }
      if (ec || n == 0) return;
    }
  }

  void ReadBody() {
    stream_.async_read_some(buffer_.prepare(kBodyReadBytes),
                            beast::bind_front_handler(&Session::OnBodyData, shared_from_this()));
  }

  void OnBodyData(beast::error_code ec, std::size_t n) {
    if (ec) return OnReadError(ec);
    buffer_.commit(n);
    FeedBody(ec);
    if (ec) return OnReadError(ec);
    if (parser_->is_done()) return OnRead({}, 0);
    ReadBody();
  }

  static absl::string_view ToView(beast::string_view v) {
    return absl::string_view(v.data(), v.size());
  }

  void OnReadError(beast::error_code ec) {
    ReleaseBody();
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted) {
      return DoClose();
    }
    keep_alive_ = false;
    version_ = 11;
    StartHandling();
    HttpResponse r;
    if (ec == http::error::body_limit) {
      r.status = 413;
      r.body = ErrorJson(absl::StrCat("Request body too large: the limit is ",
                                      server_.options().max_body_bytes, " bytes."),
                         "request_too_large");
    } else if (ec == http::error::header_limit) {
      r.status = 431;
      r.body = ErrorJson("Request headers too large.", "");
    } else if (ec.category() == beast::http::make_error_code(http::error::bad_target).category()) {
      r.status = 400;
      r.body = ErrorJson("Malformed HTTP request.", "");
    } else {
      return DoClose();
    }
    DoSend(std::move(r));
  }

  void ReleaseBody() {
    if (reserved_body_ > 0) server_.ReleaseBody(reserved_body_);
    reserved_body_ = 0;
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    ReleaseBody();            // Received: the request's own now, bounded by the connection caps.
    stream_.expires_never();  // Answers may take minutes (LLM completions).
    http::request<http::string_body> req = parser_->release();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    head_only_ = req.method() == http::verb::head;

    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = OriginForm(ToView(req.target()));
    r.headers.reserve(8);
    for (const auto& field : req) {
      r.headers.emplace_back(absl::AsciiStrToLower(absl::string_view(field.name_string().data(),
                                                                     field.name_string().size())),
                             std::string(field.value()));
    }
    r.body = std::move(req.body());
    r.peer = peer_;
    streaming_ = false;
    StartHandling();
    if (server_.ResponsesFull()) {
      // Clients hold as much unsent response as the process allows: new work waits until they
      // take it (the answers already under way are held back, not dropped).
      EdgeMetrics::Get().Refused(EdgeMetrics::Cap::kBufferedResponseBytes);
      HttpResponse busy;
      busy.status = 503;
      busy.headers.emplace_back("Retry-After", "1");
      busy.body = ErrorJson("The server holds too many unread answers; retry shortly.",
                            "server_busy", "server_error");
      return DoSend(std::move(busy));
    }
    server_.handler()(std::move(r), MakeWriter());
  }

  // A handler is at work: the session keeps itself alive until the response is out, and the
  // sweep starts watching the client (Watch) if the handler takes a while. Not at once: watching
  // costs a system call (a read that finds nothing, or a readiness wait's epoll_ctl), and most
  // answers that are not streamed take less than a tick. A watch that sees an error or EOF means
  // the client went away; data is a pipelined next request, kept in buffer_ for the parser.
  void StartHandling() {
    state_ = State::kHandling;
    server_.BeginRequest();
    in_request_ = true;
    self_ = shared_from_this();
    JoinSweep();
  }

  void DrainMailbox() {
    {
      absl::MutexLock lock(&mailbox_mu_);
      draining_.swap(mailbox_);
      drain_posted_ = false;
    }
    // What these start on this thread must wait for the rest of the batch.
    in_mailbox_ = true;
    for (auto& f : draining_) f(*this);
    in_mailbox_ = false;
    draining_.clear();
  }

  void OnWatch(beast::error_code ec, std::size_t n) {
    watching_ = false;
    buffer_.commit(n);
    // Cancelled by us once the response was out: go back to reading requests, with timeouts.
    if (ec == net::error::operation_aborted && state_ == State::kReading) return DoRead();
    if (!ec && n == 0) ec = net::error::eof;
    if (ec) {
      Disconnected();
      return DoClose();
    }
    pipelined_ = true;
    if (state_ == State::kReading) NextRequest();
  }

  void Disconnected() {
    if (disconnected_) return;
    disconnected_ = true;
    gone_ = true;
    ReleaseWaiters();
    // Only a handler still at work has something to cancel: once the response is fully queued, a
    // client closing (even before our last write completed) is the normal end of the exchange.
    if (on_disconnect_ && state_ == State::kHandling) {
      auto fn = std::move(on_disconnect_);
      on_disconnect_ = nullptr;
      fn();
    }
  }

  // Queues `data` for the client. A whole response goes out at once; the pieces of a stream
  // (`later`) wait for the end of the current round of handlers, so that what arrives together
  // (the head and the first chunk, a burst of chunks from one upstream read) leaves in one write.
  void Queue(std::string data, bool later = false, int64_t credit = 0) {
    if (disconnected_) return Release(credit);
    out_.push_back(Piece{std::move(data), credit});
    if (writing_) return;
    if (!later) return WriteNext();
    if (flush_posted_) return;
    flush_posted_ = true;
    net::post(stream_.get_executor(),
              beast::bind_front_handler(&Session::Flush, shared_from_this()));
  }

  void Flush() {
    flush_posted_ = false;
    if (!writing_ && !out_.empty()) WriteNext();
  }

  // Writes what is queued, gathered into one system call (what the socket takes of it: a client
  // that reads slowly takes part, and the rest goes in the next write).
  void WriteNext() {
    writing_ = true;
    batch_.clear();
    size_t bytes = 0;
    size_t skip = front_written_;
    for (const Piece& piece : out_) {
      batch_.push_back(net::buffer(piece.bytes) + skip);
      bytes += piece.bytes.size() - skip;
      skip = 0;
      if (batch_.size() == kMaxBatch || bytes >= kMaxBatchBytes) break;
    }
    write_started_ = std::chrono::steady_clock::now();
    stream_.async_write_some(batch_,
                             beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t written) {
    writing_ = false;
    // The pieces written whole go, and their bytes are released; of one written in part, what was
    // written is skipped next time. (References to deque elements survive pushes at the back, so
    // the batch stayed valid.)
    int64_t taken = 0;
    size_t left = written;
    while (!out_.empty() && out_.front().bytes.size() - front_written_ <= left) {
      left -= out_.front().bytes.size() - front_written_;
      taken += out_.front().credit;
      out_.pop_front();
      front_written_ = 0;
    }
    front_written_ += left;
    batch_.clear();
    Release(taken);
    if (ec) {
      int64_t dropped = 0;
      for (const Piece& piece : out_) dropped += piece.credit;
      out_.clear();
      front_written_ = 0;
      Release(dropped);
      Disconnected();
      if (state_ == State::kFlushing) FinishRequest();
      return DoClose();
    }
    if (!drain_waiters_.empty() && OwnQueueLow()) {
      std::vector<absl::AnyInvocable<void()>> ready;
      ready.swap(drain_waiters_);
      for (auto& fn : ready) server_.WhenResponsesRoomy(std::move(fn));
    }
    if (!out_.empty()) return WriteNext();
    if (aborting_) return DoClose();
    if (state_ == State::kFlushing) ResponseDone();
  }

  // The response is fully queued.
  void Complete() {
    state_ = State::kFlushing;
    if (!writing_ && out_.empty()) ResponseDone();
  }

  // The response is fully written: on to the next request, or close.
  void ResponseDone() {
    FinishRequest();
    if (close_after_ || disconnected_) return DoClose();
    state_ = State::kReading;
    if (pipelined_) return NextRequest();
    if (!watching_) return DoRead();
    // The watch is still pending; cancel it (OnWatch then reads the next request with the idle
    // timeout, which a wait started before it was set would not honour).
    beast::error_code cancel_ec;
    stream_.socket().cancel(cancel_ec);
  }

  void FinishRequest() {
    if (in_request_) {
      in_request_ = false;
      on_disconnect_ = nullptr;
      LeaveSweep();
      server_.EndRequest();
      self_.reset();  // The caller holds the session too (the handler it runs in is bound to it).
    }
  }

  void NextRequest() {
    pipelined_ = false;
    DoRead();
  }

  // The client is gone: producers held back for it go on (and learn of it by writing).
  void ReleaseWaiters() {
    std::vector<absl::AnyInvocable<void()>> waiting;
    waiting.swap(drain_waiters_);
    for (auto& fn : waiting) fn();
  }

  void DoClose() {
    if (state_ == State::kClosed) return;
    FinishRequest();
    state_ = State::kClosed;
    ReleaseWaiters();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  std::shared_ptr<ResponseWriter> MakeWriter();
  void JoinSweep();
  void LeaveSweep();

  friend class aimarket::edge::WatchSweep;
  static constexpr size_t kNotSwept = ~size_t{0};

  beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy> stream_;
  HttpServer::Impl& server_;
  WatchSweep& sweep_;
  const std::string client_;        // The client address this connection counts against.
  int64_t reserved_body_ = 0;       // Of the buffered-body budget, for the body being received.
  bool head_only_ = false;          // The request is a HEAD.
  size_t sweep_index_ = kNotSwept;  // This session's place in the sweep's list.
  uint64_t sweep_tick_ = 0;         // The sweep's tick when the handler started.
  absl::Mutex mailbox_mu_;
  std::vector<absl::AnyInvocable<void(Session&)>> mailbox_ ABSL_GUARDED_BY(mailbox_mu_);
  bool drain_posted_ ABSL_GUARDED_BY(mailbox_mu_) = false;
  std::vector<absl::AnyInvocable<void(Session&)>> draining_;  // The batch DrainMailbox runs.
  bool in_mailbox_ = false;                                   // DrainMailbox is running it.
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  static constexpr size_t kBodyReadBytes = 64 << 10;  // Read at once of a body still arriving.
  // A piece of a response queued for the client, with the bytes it was charged (Charge).
  struct Piece {
    std::string bytes;
    int64_t credit = 0;
  };
  std::deque<Piece> out_;
  static constexpr size_t kMaxBatch = 64;
  // One write offers at most this much (more if one piece is larger).
  static constexpr size_t kMaxBatchBytes = 256 << 10;
  size_t front_written_ = 0;  // Of out_.front(), by an earlier write that took part of it.
  // Of the write in flight: a write completes as soon as the client has taken any of it, so this
  // is the time since the client last took something (the send timeout).
  std::chrono::steady_clock::time_point write_started_;
  std::atomic<int64_t> queued_{0};                         // Charged and not yet released.
  std::vector<absl::AnyInvocable<void()>> drain_waiters_;  // Producers held back (DoWhenReady).
  std::vector<net::const_buffer> batch_;  // What the write in flight sends: the front of out_.
  bool flush_posted_ = false;
  const std::string peer_;
  std::function<void()> on_disconnect_;
  std::shared_ptr<Session> self_;
  std::atomic<bool> gone_{false};
  State state_ = State::kReading;
  bool first_request_ = true;
  bool keep_alive_ = true;
  bool close_after_ = false;
  bool in_request_ = false;
  bool streaming_ = false;
  bool chunked_ = true;
  bool writing_ = false;
  bool watching_ = false;
  bool pipelined_ = false;
  bool disconnected_ = false;
  bool aborting_ = false;
  unsigned version_ = 11;
};

// Runs `f` on `session`'s loop, in order with what was posted before, charging `credit` bytes to
// its queue first (Session::Charge). False if the session or the server is gone (nothing charged).
template <typename F>
bool PostTo(const std::weak_ptr<Session>& session, Gate& gate, F&& f, int64_t credit = 0) {
  std::shared_ptr<Session> s;
  {
    absl::ReaderMutexLock lock(&gate.mu);
    if (!gate.open) return false;
    s = session.lock();
    if (!s || s->gone()) return false;
    if (credit > 0) s->Charge(credit);
    if (!s->MayRunNow()) {
      Session* raw = s.get();
      raw->Post(std::move(s), std::forward<F>(f));
      return true;
    }
  }
  // On the loop's thread (which keeps the io_context alive): outside the gate's lock, since `f`
  // may end in the handler, which may use a writer again.
  f(*s);
  return true;
}

// The backpressure of one response (ResponseWriter::Flow): full while the connection's unsent
// bytes reach edge.max_response_buffer_bytes or all connections' edge.max_buffered_response_bytes;
// ready again below half of each. Holds the session weakly, like its writer.
class SessionFlow final : public rpc::FlowControl {
 public:
  SessionFlow(std::weak_ptr<Session> session, std::shared_ptr<Gate> gate)
      : session_(std::move(session)), gate_(std::move(gate)) {}

  bool Full() const override {
    std::shared_ptr<Session> s = session_.lock();
    return s != nullptr && !s->gone() && s->Full();
  }

  void WhenReady(absl::AnyInvocable<void()> resume) override {
    // Kept here until posted, so that it still runs if the session is gone.
    auto held = std::make_shared<absl::AnyInvocable<void()>>(std::move(resume));
    if (!PostTo(session_, *gate_, [held](Session& s) { s.DoWhenReady(std::move(*held)); })) {
      (*held)();
    }
  }

 private:
  std::weak_ptr<Session> session_;
  std::shared_ptr<Gate> gate_;
};

// The handler's handle on a session. Holds it weakly: the session lives through its own I/O, and
// a writer outliving the server (or the connection) only finds nothing to write to.
class SessionWriter final : public ResponseWriter {
 public:
  SessionWriter(std::weak_ptr<Session> session, std::shared_ptr<Gate> gate)
      : session_(std::move(session)), gate_(std::move(gate)) {}

  ~SessionWriter() override {
    const int state = state_.exchange(kDone);
    if (state == kNew) {
      HttpResponse r;
      r.status = 500;
      r.body = ErrorJson("The server failed to answer the request.", "");
      Post([r = std::move(r)](Session& s) mutable { s.DoSend(std::move(r)); });
    } else if (state == kStreaming) {
      Post([](Session& s) { s.DoEnd(); });
    }
  }

  void Send(HttpResponse response) override {
    int expected = kNew;
    if (!state_.compare_exchange_strong(expected, kDone)) return;
    const auto credit = static_cast<int64_t>(response.body.size());
    Post([r = std::move(response), credit](Session& s) mutable { s.DoSend(std::move(r), credit); },
         credit);
  }

  void StartStream(HttpResponse head) override {
    int expected = kNew;
    if (!state_.compare_exchange_strong(expected, kStreaming)) return;
    Post([r = std::move(head)](Session& s) mutable { s.DoStartStream(std::move(r)); });
  }

  bool Write(std::string data) override {
    if (state_.load() != kStreaming) return false;
    const auto credit = static_cast<int64_t>(data.size());
    return Post(
        [d = std::move(data), credit](Session& s) mutable { s.DoWriteChunk(std::move(d), credit); },
        credit);
  }

  std::shared_ptr<rpc::FlowControl> Flow() override {
    return std::make_shared<SessionFlow>(session_, gate_);
  }

  void End() override {
    int expected = kStreaming;
    if (!state_.compare_exchange_strong(expected, kDone)) return;
    Post([](Session& s) { s.DoEnd(); });
  }

  void Abort() override {
    if (state_.exchange(kDone) == kDone) return;
    Post([](Session& s) { s.DoAbort(); });
  }

  void OnDisconnect(std::function<void()> fn) override {
    Post([fn = std::move(fn)](Session& s) mutable { s.DoOnDisconnect(std::move(fn)); });
  }

 private:
  enum { kNew, kStreaming, kDone };

  // Runs `f` on the session's loop, in order. False if the session or the server is gone.
  template <typename F>
  bool Post(F&& f, int64_t credit = 0) {
    return PostTo(session_, *gate_, std::forward<F>(f), credit);
  }

  std::weak_ptr<Session> session_;
  std::shared_ptr<Gate> gate_;
  std::atomic<int> state_{kNew};
};

std::shared_ptr<ResponseWriter> Session::MakeWriter() {
  return std::make_shared<SessionWriter>(weak_from_this(), server_.gate());
}

}  // namespace

// The sessions of one loop whose handlers are at work. Every tick (0.1 s) it starts the watch of
// those at work since before the previous tick, so a client that goes away while its answer is
// being made is noticed within 0.2 s. Used on the loop's thread only.
class WatchSweep {
 public:
  static constexpr auto kTick = std::chrono::milliseconds(100);

  explicit WatchSweep(net::io_context& ioc) : timer_(ioc) {}
  ~WatchSweep() {
    // The server is going away (its loop has stopped): break the sessions' hold on themselves, so
    // that they go before the io_context does.
    std::vector<Session*> left;
    left.swap(sessions_);
    for (Session* s : left) s->Abandon();
  }

  void Add(Session* s) {
    s->sweep_index_ = sessions_.size();
    s->sweep_tick_ = tick_;
    sessions_.push_back(s);
    if (!armed_) Arm();
  }

  // The drain deadline: every session still at work ends now (Session::EndAtDeadline).
  void EndAll(const std::string& chunk) {
    std::vector<std::shared_ptr<Session>> at_work;
    at_work.reserve(sessions_.size());
    for (Session* s : sessions_) at_work.push_back(s->shared_from_this());
    for (const auto& s : at_work) s->EndAtDeadline(chunk);
  }

  void Remove(Session* s) {
    const size_t i = s->sweep_index_;
    if (i >= sessions_.size() || sessions_[i] != s) return;
    sessions_[i] = sessions_.back();
    sessions_[i]->sweep_index_ = i;
    sessions_.pop_back();
    s->sweep_index_ = Session::kNotSwept;
  }

 private:
  // The timer runs while sessions are listed, and stops at a tick that finds none; a timer left
  // running costs nothing per request.
  void Arm() {
    armed_ = true;
    timer_.expires_after(kTick);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      armed_ = false;
      if (ec) return;
      ++tick_;
      // Watch() only starts a read, so the list does not change under the loop.
      const auto now = std::chrono::steady_clock::now();
      std::vector<std::shared_ptr<Session>> stuck;
      for (Session* s : sessions_) {
        if (tick_ - s->sweep_tick_ >= 2) s->Watch();
        if (s->WriteStuck(now)) stuck.push_back(s->shared_from_this());
      }
      // Closing changes the list: after the walk.
      for (const auto& s : stuck) s->SendTimedOut();
      if (!sessions_.empty()) Arm();
    });
  }

  net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>,
                            Executor>
      timer_;
  std::vector<Session*> sessions_;
  uint64_t tick_ = 0;
  bool armed_ = false;
};

namespace {

void Session::JoinSweep() { sweep_.Add(this); }
void Session::LeaveSweep() { sweep_.Remove(this); }

}  // namespace

std::vector<HttpServer::Impl::Loop> HttpServer::Impl::MakeLoops(int n) {
  std::vector<Loop> loops(std::max(1, n));
  for (Loop& l : loops) {
    l.ioc = std::make_unique<net::io_context>(1);
    l.work.emplace(net::make_work_guard(*l.ioc));
    l.sweep = std::make_unique<WatchSweep>(*l.ioc);
  }
  return loops;
}

absl::Status HttpServer::Impl::Listen() {
  const std::string& listen = options_.listen;
  const size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("edge.listen: invalid address \"", listen, "\""));
  }
  beast::error_code ec;
  tcp::resolver resolver(*loops_.front().ioc);
  auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", listen, ": ", ec.message()));
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot listen for HTTP on ", listen, ": ", ec.message()));
  port_ = acceptor_.local_endpoint().port();
  return absl::OkStatus();
}

void HttpServer::Impl::Run() {
  DoAccept();
  threads_.reserve(loops_.size());
  for (Loop& l : loops_) {
    threads_.emplace_back([ioc = l.ioc.get()] {
      io::LoopThread mark(*ioc);
      ioc->run();
    });
  }
}

bool HttpServer::Impl::AdmitConnection(const std::string& client, const char** reason) {
  absl::MutexLock lock(&conn_mu_);
  if (options_.max_connections > 0 && connections_ >= options_.max_connections) {
    *reason = "max_connections";
    return false;
  }
  int& mine = per_client_[client];
  if (options_.max_connections_per_client > 0 && mine >= options_.max_connections_per_client) {
    if (mine == 0) per_client_.erase(client);
    *reason = "max_connections_per_client";
    return false;
  }
  ++mine;
  ++connections_;
  return true;
}

void HttpServer::Impl::ReleaseResponse(int64_t bytes) {
  queued_response_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  if (!ResponsesRoomy()) return;
  std::vector<absl::AnyInvocable<void()>> ready;
  {
    absl::MutexLock lock(&roomy_mu_);
    if (roomy_waiters_.empty()) return;
    ready.swap(roomy_waiters_);
  }
  for (auto& fn : ready) fn();
}

void HttpServer::Impl::WhenResponsesRoomy(absl::AnyInvocable<void()> fn) {
  {
    absl::MutexLock lock(&roomy_mu_);
    // Checked under the lock that ReleaseResponse takes to hand the waiters over: no wake-up is
    // lost between the check and the wait.
    if (!ResponsesRoomy()) {
      roomy_waiters_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void HttpServer::Impl::ReleaseConnection(const std::string& client) {
  absl::MutexLock lock(&conn_mu_);
  --connections_;
  auto it = per_client_.find(client);
  if (it != per_client_.end() && --it->second <= 0) per_client_.erase(it);
}

void HttpServer::Impl::DoAccept() {
  // New connections go round-robin over the loops.
  Loop& loop = loops_[next_loop_++ % loops_.size()];
  acceptor_.async_accept(*loop.ioc, [this, &loop](beast::error_code ec, Socket socket) {
    if (!acceptor_.is_open()) return;
    if (ec) return OnAcceptError(ec);
    if (accept_backoff_.count() > 0) {
      accept_backoff_ = std::chrono::milliseconds(0);
      log::Info("accepting HTTP connections again");
    }
    beast::error_code rec;
    const tcp::endpoint remote = socket.remote_endpoint(rec);
    if (rec) {  // Gone already.
      DoAccept();
      return;
    }
    std::string client = remote.address().to_string();
    const char* reason = nullptr;
    if (!AdmitConnection(client, &reason)) {
      // Answered and closed at once, without reading: old connections go on undisturbed.
      EdgeMetrics::Get().Refused(absl::string_view(reason) == "max_connections"
                                     ? EdgeMetrics::Cap::kConnections
                                     : EdgeMetrics::Cap::kConnectionsPerClient);
      static const std::string kBusy =
          BusyResponse("The server has too many open connections; retry shortly.");
      beast::error_code wec;
      socket.non_blocking(true, wec);
      socket.write_some(net::buffer(kBusy), wec);
      socket.shutdown(tcp::socket::shutdown_send, wec);
      socket.close(wec);
    } else {
      std::string peer = absl::StrCat(client, ":", remote.port());
      std::make_shared<Session>(std::move(socket), *this, *loop.sweep, std::move(client),
                                std::move(peer))
          ->Start();
    }
    DoAccept();
  });
}

void HttpServer::Impl::OnAcceptError(const beast::error_code& ec) {
  const int e = ec.value();
  const bool fd_limit = ec.category() == boost::system::system_category() &&
                        (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM);
  if (!fd_limit) {
    EdgeMetrics::Get().AcceptFailed(/*fd_limit=*/false);
    DoAccept();  // The connection failed (ECONNABORTED, ...), not the listener.
    return;
  }
  // Out of descriptors: the pending connection stays in the backlog, so accepting again at once
  // would fail at once, forever. Pause, longer each time (up to a second), and say so once.
  EdgeMetrics::Get().AcceptFailed(/*fd_limit=*/true);
  if (accept_backoff_.count() == 0) {
    log::Warn("cannot accept HTTP connections: out of file descriptors; pausing accepts",
              {{"error", ec.message()}, {"connections", [this] {
                                           absl::MutexLock lock(&conn_mu_);
                                           return connections_;
                                         }()}});
  }
  accept_backoff_ = std::min(std::chrono::milliseconds(1000),
                             std::max(std::chrono::milliseconds(10), accept_backoff_ * 2));
  accept_timer_->expires_after(accept_backoff_);
  accept_timer_->async_wait([this](const boost::system::error_code& wait_ec) {
    if (!wait_ec && acceptor_.is_open()) DoAccept();
  });
}

void HttpServer::Impl::Shutdown(absl::Duration deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  const absl::Time end = absl::Now() + deadline;
  draining_ = true;
  auto idle = [this] { return in_flight_.load() == 0; };
  {
    // Still accepting: while requests are at work the process is alive and answers (/healthz, a
    // request a load balancer sends before it has seen /readyz fail), with "Connection: close".
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(&idle), end);
  }
  absl::Notification closed;
  net::post(acceptor_.get_executor(), [this, &closed] {
    beast::error_code ec;
    acceptor_.close(ec);
    accept_timer_->cancel();
    closed.Notify();
  });
  closed.WaitForNotificationWithTimeout(absl::Seconds(5));
  {
    // What was accepted just before the listener closed.
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(&idle), end);
  }
  if (in_flight_.load() > 0) {
    log::Warn("drain deadline passed; ending the requests still in flight",
              {{"in_flight", in_flight_.load()}});
    for (Loop& l : loops_) {
      net::post(*l.ioc,
                [sweep = l.sweep.get(), this] { sweep->EndAll(options_.stream_deadline_chunk); });
    }
    // Their last bytes go out (a client that does not read them is not waited for long).
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&idle), absl::Seconds(1));
  }
  for (Loop& l : loops_) {
    l.work.reset();
    l.ioc->stop();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

std::string PercentDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && absl::ascii_isxdigit(s[i + 1]) &&
        absl::ascii_isxdigit(s[i + 2])) {
      auto nibble = [](char c) {
        return absl::ascii_isdigit(c) ? c - '0' : absl::ascii_tolower(c) - 'a' + 10;
      };
      out.push_back(static_cast<char>(nibble(s[i + 1]) * 16 + nibble(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(absl::ZeroDuration()); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const Options& options,
                                                              HttpHandler handler) {
  Options opts = options;
  if (opts.io_threads <= 0)
    opts.io_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto impl = std::make_unique<Impl>(opts, std::move(handler));
  if (absl::Status s = impl->Listen(); !s.ok()) return s;
  impl->Run();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port(); }

void HttpServer::Shutdown(absl::Duration deadline) {
  if (impl_) impl_->Shutdown(deadline);
}

}  // namespace aimarket::edge
