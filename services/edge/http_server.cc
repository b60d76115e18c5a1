#include "services/edge/http_server.h"

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/log/log.h"

namespace aimarket::edge {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::chrono::steady_clock::duration ToSteady(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(absl::ToChronoNanoseconds(d));
}

std::string ErrorJson(absl::string_view message, absl::string_view code) {
  // Fixed texts only (no client input), so no JSON escaping is needed.
  return absl::StrCat(R"({"error":{"message":")", message, R"(","type":"invalid_request_error","param":null,"code":)",
                      code.empty() ? "null" : absl::StrCat("\"", code, "\""), "}}");
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(const Options& options, HttpHandler handler)
      : options_(options),
        handler_(std::move(handler)),
        ioc_(options.io_threads),
        work_(net::make_work_guard(ioc_)),
        acceptor_(ioc_) {}

  absl::Status Listen();
  void Run();
  void Shutdown(absl::Duration deadline);

  const Options& options() const { return options_; }
  const HttpHandler& handler() const { return handler_; }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  void BeginRequest() { in_flight_.fetch_add(1); }
  void EndRequest() {
    if (in_flight_.fetch_sub(1) == 1) {
      absl::MutexLock lock(&mu_);  // Wake Shutdown().
    }
  }
  int port() const { return port_; }

 private:
  void DoAccept();

  const Options options_;
  const HttpHandler handler_;
  net::io_context ioc_;
  // Keeps the I/O threads running while no socket operation is pending (a handler answering from
  // another thread during a drain, after the acceptor closed).
  net::executor_work_guard<net::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  int port_ = 0;
};

namespace {

// One connection. Lives as long as an asynchronous operation or a ResponseWriter holds it.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpServer::Impl& server) : stream_(std::move(socket)), server_(server) {}

  void Start() {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
    const auto remote = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_ = absl::StrCat(remote.address().to_string(), ":", remote.port());
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::DoRead, shared_from_this()));
  }

  // Any thread.
  void Send(HttpResponse response) {
    net::post(stream_.get_executor(), [self = shared_from_this(), r = std::move(response)]() mutable {
      self->DoWrite(std::move(r));
    });
  }

 private:
  void DoRead() {
    parser_.emplace();
    parser_->body_limit(static_cast<std::uint64_t>(server_.options().max_body_bytes));
    parser_->header_limit(64 * 1024);
    stream_.expires_after(ToSteady(first_request_ ? server_.options().header_timeout : server_.options().idle_timeout));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    first_request_ = false;
    stream_.expires_after(ToSteady(server_.options().idle_timeout));
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted) {
      return DoClose();
    }
    if (ec == http::error::body_limit) {
      return DoReject(413, ErrorJson(absl::StrCat("Request body too large: the limit is ",
                                                  server_.options().max_body_bytes, " bytes."),
                                     "request_too_large"));
    }
    if (ec == http::error::header_limit) {
      return DoReject(431, ErrorJson("Request headers too large.", ""));
    }
    if (ec.category() == beast::http::make_error_code(http::error::bad_target).category()) {
      return DoReject(400, ErrorJson("Malformed HTTP request.", ""));
    }
    DoClose();
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec) return OnReadError(ec);
    stream_.expires_never();  // Answers may take minutes (LLM completions).
    http::request<http::string_body> req = parser_->release();
    keep_alive_ = req.keep_alive();
    version_ = req.version();

    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.headers.reserve(8);
    for (const auto& field : req) {
      r.headers.emplace_back(absl::AsciiStrToLower(absl::string_view(field.name_string().data(), field.name_string().size())),
                             std::string(field.value()));
    }
    r.body = std::move(req.body());
    r.peer = peer_;
    server_.BeginRequest();
    in_request_ = true;
    server_.handler()(std::move(r), MakeWriter());
  }

  std::shared_ptr<ResponseWriter> MakeWriter();

  void DoReject(int status, std::string body) {
    keep_alive_ = false;
    version_ = 11;
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    DoWrite(std::move(r));
  }

  void DoWrite(HttpResponse r) {
    res_.emplace(static_cast<http::status>(r.status), version_);
    res_->set(http::field::server, "aimarket");
    res_->set(http::field::content_type, r.content_type);
    for (auto& [k, v] : r.headers) res_->set(k, v);
    res_->body() = std::move(r.body);
    res_->keep_alive(keep_alive_ && !server_.draining());
    res_->prepare_payload();
    http::async_write(stream_, *res_, beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    const bool keep = res_->keep_alive();
    res_.reset();
    if (in_request_) {
      in_request_ = false;
      server_.EndRequest();
    }
    if (ec || !keep) return DoClose();
    DoRead();
  }

  void DoClose() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  std::string peer_;
  bool first_request_ = true;
  bool keep_alive_ = true;
  bool in_request_ = false;
  unsigned version_ = 11;
};

class SessionWriter final : public ResponseWriter {
 public:
  explicit SessionWriter(std::shared_ptr<Session> session) : session_(std::move(session)) {}
  ~SessionWriter() override {
    if (!sent_.exchange(true)) {
      HttpResponse r;
      r.status = 500;
      r.body = ErrorJson("The server failed to answer the request.", "");
      session_->Send(std::move(r));
    }
  }
  void Send(HttpResponse response) override {
    if (sent_.exchange(true)) return;
    session_->Send(std::move(response));
  }

 private:
  std::shared_ptr<Session> session_;
  std::atomic<bool> sent_{false};
};

std::shared_ptr<ResponseWriter> Session::MakeWriter() { return std::make_shared<SessionWriter>(shared_from_this()); }

}  // namespace

absl::Status HttpServer::Impl::Listen() {
  const std::string& listen = options_.listen;
  const size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("edge.listen: invalid address \"", listen, "\""));
  }
  beast::error_code ec;
  tcp::resolver resolver(ioc_);
  auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", listen, ": ", ec.message()));
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", listen, ": ", ec.message()));
  port_ = acceptor_.local_endpoint().port();
  return absl::OkStatus();
}

void HttpServer::Impl::Run() {
  DoAccept();
  threads_.reserve(options_.io_threads);
  for (int i = 0; i < options_.io_threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
}

void HttpServer::Impl::DoAccept() {
  acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open()) return;
    if (!ec) std::make_shared<Session>(std::move(socket), *this)->Start();
    DoAccept();
  });
}

void HttpServer::Impl::Shutdown(absl::Duration deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  draining_ = true;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  {
    absl::MutexLock lock(&mu_);
    auto idle = [this] { return in_flight_.load() == 0; };
    mu_.AwaitWithTimeout(absl::Condition(&idle), deadline);
  }
  if (in_flight_.load() > 0) {
    log::Warn("drain deadline passed; closing connections with requests in flight",
              {{"in_flight", in_flight_.load()}});
  }
  work_.reset();
  ioc_.stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(absl::ZeroDuration()); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const Options& options, HttpHandler handler) {
  Options opts = options;
  if (opts.io_threads <= 0) opts.io_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
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
