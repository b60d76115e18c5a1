#pragma once

// Child processes for integration tests: aimarketd and tools started for real.
//
//   Subprocess p = *Subprocess::Start({bin, "--config=x.yaml"}, {{"AIMARKET_ADMIN_KEY", "k"}});
//   p.Signal(SIGTERM);
//   EXPECT_EQ(p.Wait(absl::Seconds(30)), 0);

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace aimarket::testing {

class Subprocess {
 public:
  // Starts argv[0] with the test's environment plus `env` (overriding; an empty value unsets).
  // stdout and stderr go to files read by output().
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  // Kills the process (SIGKILL) if it still runs.
  ~Subprocess();

  void Signal(int sig);
  bool Running();
  // Waits up to `timeout`; the exit code, 128+signal if killed by a signal, or nullopt on timeout.
  std::optional<int> Wait(absl::Duration timeout);
  // Everything the process wrote to stdout and stderr so far.
  std::string output() const;
  pid_t pid() const { return pid_; }

 private:
  Subprocess(pid_t pid, std::string out_path) : pid_(pid), out_path_(std::move(out_path)) {}
  pid_t pid_;
  std::string out_path_;
  std::optional<int> exit_code_;
};

// Runs a command to completion; returns its exit code and fills `output` (stdout+stderr).
int RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               std::string* output, absl::Duration timeout = absl::Minutes(2));

// A TCP port on 127.0.0.1, free now and kept from other test processes until this one exits; never
// from the ephemeral range, so no outgoing connection can take it before a server binds it.
int FreePort();

// A connected TCP socket to 127.0.0.1:port, or -1.
int ConnectLoopback(int port);

// What the peer sends on `fd` until it closes the connection, or until `timeout` has passed.
std::string ReadUntilClosed(int fd, absl::Duration timeout = absl::Seconds(5));

// A temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `contents` to path()/name and returns the full path.
  std::string WriteFile(const std::string& name, const std::string& contents) const;

 private:
  std::string path_;
};

// A minimal HTTP/1.1 client over libcurl for tests.
struct HttpResult {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;                           // transport error, if any
};
HttpResult HttpRequest(const std::string& method, const std::string& url,
                       const std::vector<std::string>& headers = {}, const std::string& body = "");

}  // namespace aimarket::testing
