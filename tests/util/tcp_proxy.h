#pragma once

// A loopback TCP proxy for tests that need a peer to hang: it forwards bytes both ways until
// Freeze(), after which it stops reading and writing (the kernel still acknowledges what arrives,
// exactly as with a SIGSTOPped server or a black-holed network) until Thaw().
//
//   TcpProxy proxy(pg_port);
//   ... dsn with port=proxy.port() ...
//   proxy.Freeze();  // the database "hangs"

#include <atomic>
#include <thread>
#include <vector>

namespace aimarket::testing {

class TcpProxy {
 public:
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  void Freeze() { frozen_ = true; }
  void Thaw() { frozen_ = false; }

 private:
  void Run();

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<bool> frozen_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace aimarket::testing
