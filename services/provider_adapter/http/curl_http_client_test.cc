// The libcurl client against a real HTTP server on a loopback port (the edge's own server), on
// both kinds of loop: a caller's loop thread (as the edge's I/O threads in the all-in-one process)
// and the client's own thread.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "common/io/loop.h"
#include "gtest/gtest.h"
#include "services/edge/http_server.h"
#include "services/provider_adapter/http/http_client.h"

namespace aimarket::provider {
namespace {

namespace net = boost::asio;

// Answers GET /size/N with N bytes, and never answers /hang.
class Upstream {
 public:
  Upstream() {
    edge::HttpServer::Options opts;
    server_ = *edge::HttpServer::Start(
        opts, [this](edge::HttpRequest r, std::shared_ptr<edge::ResponseWriter> w) {
          absl::string_view path = r.Path();
          if (path == "/stall") {  // Starts a body, then goes silent.
            edge::HttpResponse head;
            head.content_type = "text/event-stream";
            w->StartStream(std::move(head));
            w->Write("data: {}\n\n");
            hanging_.push_back(std::move(w));
            return;
          }
          if (path == "/hang") {
            hanging_.push_back(std::move(w));  // Keeps the response open.
            return;
          }
          int64_t n = 0;
          if (absl::ConsumePrefix(&path, "/size/") && absl::SimpleAtoi(path, &n)) {
            edge::HttpResponse resp;
            resp.content_type = "application/octet-stream";
            resp.body.resize(n);
            for (int64_t i = 0; i < n; ++i) resp.body[i] = static_cast<char>('a' + i % 26);
            w->Send(std::move(resp));
            return;
          }
          edge::HttpResponse not_found;
          not_found.status = 404;
          w->Send(std::move(not_found));
        });
  }
  std::string Url(absl::string_view path) const {
    return absl::StrCat("http://127.0.0.1:", server_->port(), path);
  }

 private:
  std::vector<std::shared_ptr<edge::ResponseWriter>>
      hanging_;  // Only touched on the server's one I/O thread.
  std::unique_ptr<edge::HttpServer> server_;
};

// Records a call and the threads its callbacks ran on.
class Recorder final : public HttpCallHandler {
 public:
  void OnHeaders(int status, const std::vector<std::pair<std::string, std::string>>&) override {
    status_ = status;
    Note();
  }
  void OnData(absl::string_view data) override {
    body_.append(data.data(), data.size());
    Note();
  }
  void OnComplete(const absl::Status& status) override {
    result_ = status;
    Note();
    done_.Notify();
  }
  bool Wait() { return done_.WaitForNotificationWithTimeout(absl::Seconds(20)); }

  int status_ = 0;
  std::string body_;
  absl::Status result_;
  std::thread::id first_thread_;
  bool one_thread_ = true;

 private:
  void Note() {
    if (first_thread_ == std::thread::id()) first_thread_ = std::this_thread::get_id();
    if (first_thread_ != std::this_thread::get_id()) one_thread_ = false;
  }
  absl::Notification done_;
};

// An io_context run by one thread that is marked as its loop thread, like an edge I/O thread.
class CallerLoop {
 public:
  CallerLoop() : ioc_(std::make_unique<net::io_context>(1)), work_(net::make_work_guard(*ioc_)) {
    thread_ = std::thread([this] {
      io::LoopThread mark(*ioc_);
      id_ = std::this_thread::get_id();
      started_.Notify();
      ioc_->run();
    });
    started_.WaitForNotification();
  }
  ~CallerLoop() { Stop(); }
  // Runs `f` on the loop thread and waits for it.
  template <typename F>
  void Run(F f) {
    absl::Notification ran;
    net::post(*ioc_, [&] {
      f();
      ran.Notify();
    });
    ran.WaitForNotification();
  }
  // Stops the thread and destroys the io_context (and what runs on it).
  void Stop() {
    if (ioc_ == nullptr) return;
    work_.reset();
    ioc_->stop();
    thread_.join();
    ioc_.reset();
  }
  std::thread::id id() const { return id_; }

 private:
  std::unique_ptr<net::io_context> ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::thread thread_;
  std::thread::id id_;
  absl::Notification started_;
};

HttpCallRequest Get(std::string url) {
  HttpCallRequest r;
  r.method = "GET";
  r.url = std::move(url);
  return r;
}

TEST(CurlHttpClientTest, CallFromALoopThreadStaysOnThatThread) {
  Upstream upstream;
  auto client = NewCurlHttpClient();
  CallerLoop loop;
  // Several calls in a row reuse the pooled connection that stays registered with the loop.
  for (int i = 0; i < 3; ++i) {
    Recorder rec;
    std::shared_ptr<HttpCall> call;
    loop.Run([&] { call = client->Start(Get(upstream.Url("/size/1000")), rec); });
    ASSERT_TRUE(rec.Wait());
    EXPECT_TRUE(rec.result_.ok()) << rec.result_;
    EXPECT_EQ(rec.status_, 200);
    EXPECT_EQ(rec.body_.size(), 1000u);
    EXPECT_TRUE(rec.one_thread_);
    EXPECT_EQ(rec.first_thread_, loop.id());
  }
}

TEST(CurlHttpClientTest, UpstreamsNamedByHostnameKeepWorking) {
  // A name that needs curl's resolver (a thread and a socketpair that curl watches and closes
  // without telling us), unlike an address or "localhost": the machine's own name when it
  // resolves to loopback. Every call must be as quick as the first (a stale watch once made the
  // calls after the first wait for a timeout).
  char name[256] = {};
  ASSERT_EQ(gethostname(name, sizeof(name) - 1), 0);
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* found = nullptr;
  if (getaddrinfo(name, nullptr, &hints, &found) != 0 || found == nullptr)
    GTEST_SKIP() << name << " does not resolve";
  const bool loopback =
      (ntohl(reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr.s_addr) >> 24) == 127;
  freeaddrinfo(found);
  if (!loopback) GTEST_SKIP() << name << " does not resolve to loopback";
  Upstream upstream;
  const std::string port = upstream.Url("").substr(std::string("http://127.0.0.1:").size());
  auto client = NewCurlHttpClient();
  CallerLoop loop;
  for (int i = 0; i < 6; ++i) {
    Recorder rec;
    HttpCallRequest req = Get(absl::StrCat("http://", name, ":", port, "/size/10"));
    req.first_byte_timeout = absl::Seconds(3);
    req.connect_timeout = absl::Seconds(3);
    const absl::Time start = absl::Now();
    std::shared_ptr<HttpCall> call;
    loop.Run([&] { call = client->Start(std::move(req), rec); });
    ASSERT_TRUE(rec.Wait());
    EXPECT_TRUE(rec.result_.ok()) << "call " << i << ": " << rec.result_;
    EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "call " << i;
  }
}

TEST(CurlHttpClientTest, CallFromAnyOtherThreadRunsOnTheClientsThread) {
  Upstream upstream;
  auto client = NewCurlHttpClient();
  Recorder rec;
  auto call = client->Start(Get(upstream.Url("/size/10")), rec);
  ASSERT_TRUE(rec.Wait());
  EXPECT_TRUE(rec.result_.ok()) << rec.result_;
  EXPECT_EQ(rec.body_, "abcdefghij");
  EXPECT_NE(rec.first_thread_, std::this_thread::get_id());
}

TEST(CurlHttpClientTest, LargeBodyArrivesWhole) {
  // Many reads per readiness event: a wait re-armed on a socket that still holds data must fire.
  Upstream upstream;
  auto client = NewCurlHttpClient();
  CallerLoop loop;
  Recorder rec;
  std::shared_ptr<HttpCall> call;
  loop.Run([&] { call = client->Start(Get(upstream.Url("/size/5000000")), rec); });
  ASSERT_TRUE(rec.Wait());
  EXPECT_TRUE(rec.result_.ok()) << rec.result_;
  ASSERT_EQ(rec.body_.size(), 5000000u);
  for (size_t i = 0; i < rec.body_.size(); i += 4099)
    ASSERT_EQ(rec.body_[i], static_cast<char>('a' + i % 26)) << i;
}

// A burst that arrives while another call's connection is still waiting for its answer's headers
// goes out on connections of its own: with a cleartext HTTP/1.1 upstream (Ollama, TGI, vLLM),
// asking curl to wait for a connection that might multiplex (PIPEWAIT) parked the burst behind
// the stuck one until it closed. Started in the same loop turn, repeated with fresh clients.
TEST(CurlHttpClientTest, NoCallWaitsForAnothersConnection) {
  Upstream upstream;
  for (int round = 0; round < 5; ++round) {
    auto client = NewCurlHttpClient();
    CallerLoop loop;
    Recorder stuck;
    std::vector<std::unique_ptr<Recorder>> healthy;
    for (int i = 0; i < 4; ++i) healthy.push_back(std::make_unique<Recorder>());
    std::vector<std::shared_ptr<HttpCall>> calls;
    loop.Run([&] {
      calls.push_back(client->Start(Get(upstream.Url("/hang")), stuck));
      for (auto& rec : healthy) {
        HttpCallRequest req = Get(upstream.Url("/size/10"));
        req.first_byte_timeout = absl::Seconds(5);
        calls.push_back(client->Start(std::move(req), *rec));
      }
    });
    for (auto& rec : healthy) {
      ASSERT_TRUE(rec->Wait());
      EXPECT_TRUE(rec->result_.ok()) << "round " << round << ": " << rec->result_;
      EXPECT_EQ(rec->body_, "abcdefghij");
    }
    calls.front()->Cancel();
    ASSERT_TRUE(stuck.Wait());
    EXPECT_EQ(stuck.result_.code(), absl::StatusCode::kCancelled);
  }
}

// Backpressure: a handler that pauses the call in OnData gets nothing more until Resume() (from
// another thread), however long that takes (the silence timeout does not count a paused call),
// and then the rest of the body, whole.
TEST(CurlHttpClientTest, PausedCallReadsNothingUntilResumed) {
  class Pausing final : public HttpCallHandler {
   public:
    void OnHeaders(int, const std::vector<std::pair<std::string, std::string>>&) override {}
    void OnData(absl::string_view data) override {
      bytes_.fetch_add(static_cast<int64_t>(data.size()));
      if (!paused_once_.exchange(true)) call->Pause();
    }
    void OnComplete(const absl::Status& s) override {
      result = s;
      done.Notify();
    }
    std::shared_ptr<HttpCall> call;
    std::atomic<int64_t> bytes_{0};
    std::atomic<bool> paused_once_{false};
    absl::Status result;
    absl::Notification done;
  };
  Upstream upstream;
  auto client = NewCurlHttpClient();
  CallerLoop loop;
  Pausing h;
  HttpCallRequest req = Get(upstream.Url("/size/20000000"));
  req.idle_timeout = absl::Milliseconds(300);
  loop.Run([&] { h.call = client->Start(std::move(req), h); });
  while (h.bytes_.load() == 0) absl::SleepFor(absl::Milliseconds(5));
  absl::SleepFor(absl::Seconds(1));  // Longer than the silence timeout.
  const int64_t held = h.bytes_.load();
  EXPECT_LT(held, 1 << 20) << "read on while paused";
  EXPECT_FALSE(h.done.HasBeenNotified()) << h.result;
  h.call->Resume();
  ASSERT_TRUE(h.done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_TRUE(h.result.ok()) << h.result;
  EXPECT_EQ(h.bytes_.load(), 20000000);
}

TEST(CurlHttpClientTest, CancelFromAnotherThread) {
  Upstream upstream;
  auto client = NewCurlHttpClient();
  CallerLoop loop;
  Recorder rec;
  std::shared_ptr<HttpCall> call;
  loop.Run([&] { call = client->Start(Get(upstream.Url("/hang")), rec); });
  absl::SleepFor(absl::Milliseconds(100));
  call->Cancel();
  ASSERT_TRUE(rec.Wait());
  EXPECT_EQ(rec.result_.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(rec.first_thread_, loop.id());
}

TEST(CurlHttpClientTest, FirstByteTimeout) {
  Upstream upstream;
  auto client = NewCurlHttpClient();
  CallerLoop loop;
  Recorder rec;
  HttpCallRequest req = Get(upstream.Url("/hang"));
  req.first_byte_timeout = absl::Milliseconds(200);
  std::shared_ptr<HttpCall> call;
  loop.Run([&] { call = client->Start(std::move(req), rec); });
  ASSERT_TRUE(rec.Wait());
  EXPECT_EQ(rec.result_.code(), absl::StatusCode::kDeadlineExceeded) << rec.result_;
}

TEST(CurlHttpClientTest, SilenceAfterTheFirstByteTimesOut) {
  // The idle deadline (200 ms) is far earlier than the first-byte one (60 s) armed at the start.
  Upstream upstream;
  auto client = NewCurlHttpClient();
  CallerLoop loop;
  Recorder rec;
  HttpCallRequest req = Get(upstream.Url("/stall"));
  req.idle_timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  std::shared_ptr<HttpCall> call;
  loop.Run([&] { call = client->Start(std::move(req), rec); });
  ASSERT_TRUE(rec.Wait());
  EXPECT_EQ(rec.result_.code(), absl::StatusCode::kDeadlineExceeded) << rec.result_;
  EXPECT_EQ(rec.body_, "data: {}\n\n");
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(CurlHttpClientTest, LoopGoingAwayCompletesItsCallsAsCancelled) {
  Upstream upstream;
  auto client = NewCurlHttpClient();
  CallerLoop loop;
  Recorder rec;
  std::shared_ptr<HttpCall> call;
  loop.Run([&] { call = client->Start(Get(upstream.Url("/hang")), rec); });
  absl::SleepFor(absl::Milliseconds(50));
  loop.Stop();
  ASSERT_TRUE(rec.Wait());
  EXPECT_EQ(rec.result_.code(), absl::StatusCode::kCancelled);
  call->Cancel();  // The loop is gone: nothing to do, and nothing may crash.
}

TEST(CurlHttpClientTest, PublicHttpsOnlyRefusesPlainHttpAndInternalAddresses) {
  Upstream upstream;
  auto client = NewCurlHttpClient();
  CallerLoop loop;
  const std::string port = upstream.Url("").substr(std::string("http://127.0.0.1:").size());
  for (const std::string& url :
       {upstream.Url("/size/10"), "https://127.0.0.1:" + port + "/size/10",
        "https://[::1]:" + port + "/size/10", "https://localhost:" + port + "/size/10"}) {
    SCOPED_TRACE(url);
    Recorder rec;
    HttpCallRequest req = Get(url);
    req.public_https_only = true;
    std::shared_ptr<HttpCall> call;
    loop.Run([&] { call = client->Start(std::move(req), rec); });
    ASSERT_TRUE(rec.Wait());
    EXPECT_FALSE(rec.result_.ok());
    EXPECT_EQ(rec.status_, 0);  // Nothing was answered: the connection was never made,
    EXPECT_EQ(rec.result_.message().find("SSL"), std::string::npos)
        << rec.result_;  // not even a TLS handshake.
  }
  // The same loop still makes ordinary calls.
  Recorder ok;
  std::shared_ptr<HttpCall> call;
  loop.Run([&] { call = client->Start(Get(upstream.Url("/size/10")), ok); });
  ASSERT_TRUE(ok.Wait());
  EXPECT_TRUE(ok.result_.ok()) << ok.result_;
}

TEST(CurlHttpClientTest, BodyLargerThanTheLimitFails) {
  Upstream upstream;
  auto client = NewCurlHttpClient();
  CallerLoop loop;
  Recorder rec;
  HttpCallRequest req = Get(upstream.Url("/size/100000"));
  req.max_body_bytes = 1000;
  std::shared_ptr<HttpCall> call;
  loop.Run([&] { call = client->Start(std::move(req), rec); });
  ASSERT_TRUE(rec.Wait());
  EXPECT_FALSE(rec.result_.ok());
  EXPECT_LE(rec.body_.size(), 100000u);
}

sockaddr_storage V4(const char* ip) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in*>(&ss);
  a->sin_family = AF_INET;
  inet_pton(AF_INET, ip, &a->sin_addr);
  return ss;
}

sockaddr_storage V6(const char* ip) {
  sockaddr_storage ss{};
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  a->sin6_family = AF_INET6;
  inet_pton(AF_INET6, ip, &a->sin6_addr);
  return ss;
}

TEST(PublicAddressTest, OnlyPublicUnicastAddressesPass) {
  for (const char* ip : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "93.184.216.34"}) {
    sockaddr_storage a = V4(ip);
    EXPECT_TRUE(IsPublicAddress(&a)) << ip;
  }
  for (const char* ip :
       {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1"}) {
    sockaddr_storage a = V4(ip);
    EXPECT_FALSE(IsPublicAddress(&a)) << ip;
  }
  for (const char* ip : {"2001:4860:4860::8888", "::ffff:8.8.8.8"}) {
    sockaddr_storage a = V6(ip);
    EXPECT_TRUE(IsPublicAddress(&a)) << ip;
  }
  for (const char* ip :
       {"::1", "::", "fe80::1", "fd00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"}) {
    sockaddr_storage a = V6(ip);
    EXPECT_FALSE(IsPublicAddress(&a)) << ip;
  }
}

TEST(CurlHttpClientTest, RefusedConnectionIsUnreachable) {
  auto client = NewCurlHttpClient();
  CallerLoop loop;
  Recorder rec;
  std::shared_ptr<HttpCall> call;
  // Port 1 on loopback: nothing listens there.
  loop.Run([&] { call = client->Start(Get("http://127.0.0.1:1/x"), rec); });
  ASSERT_TRUE(rec.Wait());
  EXPECT_EQ(rec.result_.code(), absl::StatusCode::kUnavailable) << rec.result_;
}

}  // namespace
}  // namespace aimarket::provider
