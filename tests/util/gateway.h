#pragma once

// One aimarketd (all services) and its mock provider, on a database of its own, started for real
// for the tests that try the gateway as a hostile client or upstream would
// (tests/integration/hardening*_test.cc).
//
//   AIM_PG_TEST_DATABASE(db);
//   auto gw = Gateway::Start(db);
//   EXPECT_EQ(gw->Chat(R"({"model":"demo",...})").status, 200);

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/util/pg_test_util.h"
#include "tests/util/process.h"

namespace aimarket::testing {

inline constexpr char kAdminKey[] = "sk-aim-hardening-admin-key";
inline constexpr char kJson[] = "Content-Type: application/json";
inline constexpr char kHi[] = R"("messages":[{"role":"user","content":"hi"}])";

// "Authorization: Bearer <key>".
std::string Bearer(absl::string_view key);

class Gateway {
 public:
  struct Options {
    // The port the gateway reaches Postgres on (a proxy's), 0 for the server's own.
    int dsn_port = 0;
    // More entries of `providers:` and `models:` (YAML list items, two spaces in), and more
    // top-level keys. "@MOCK_PORT@" in them is the mock provider's port.
    std::string providers;
    std::string models;
    std::string yaml;
    // Keys of `edge:` beside listen and io_threads ("max_queued_bytes: 65536").
    std::string edge;
    // More environment for aimarketd.
    std::map<std::string, std::string> env;
    // The processes and the services of each (--services), the edge's first; empty: one process
    // with all of them. E.g. {"edge", "router,team-management,usage-metering",
    // "provider-adapter"}: every streamed answer crosses two gRPC hops.
    std::vector<std::string> topology;
  };

  static std::unique_ptr<Gateway> Start(TestDatabase& db, const Options& options);
  static std::unique_ptr<Gateway> Start(TestDatabase& db, int dsn_port = 0) {
    Options options;
    options.dsn_port = dsn_port;
    return Start(db, options);
  }
  // Stops aimarketd with SIGTERM (expecting a clean exit) and checks that its output never showed
  // the admin key.
  ~Gateway();

  std::string Url(absl::string_view path) const;
  int http_port() const { return http_port_; }
  int grpc_port() const { return grpc_port_; }
  int mock_port() const { return mock_port_; }
  // The process of the edge (the only one unless a topology was given), and the i-th.
  Subprocess& process(size_t i = 0) { return *processes_[i]; }
  // Starts the i-th process again, as it was started (after it was killed or has exited), and
  // waits until its gRPC port answers.
  void Restart(size_t i);

  HttpResult Chat(const std::string& body, absl::string_view key = kAdminKey) const;
  // The upstream requests the mock received, as its JSON list; cleared by ClearMock().
  std::string MockRequests() const;
  void ClearMock() const;

  // A team allowed `models` (a JSON list or "all"), one member of it and that member's key.
  std::string TeamKey(absl::string_view models, std::string* team_id = nullptr) const;

 private:
  Gateway() = default;
  TempDir dir_;
  std::unique_ptr<Subprocess> mock_;
  std::vector<std::unique_ptr<Subprocess>> processes_;
  std::vector<std::vector<std::string>> argv_;  // Of each process.
  std::vector<int> process_grpc_ports_;
  std::map<std::string, std::string> env_;
  int mock_port_ = 0, http_port_ = 0, grpc_port_ = 0;
};

// Sends `request` on a fresh connection and reads until the server closes it (or `timeout`).
std::string RawExchange(int port, const std::string& request,
                        absl::Duration timeout = absl::Seconds(10));

}  // namespace aimarket::testing
