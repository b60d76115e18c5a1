#include "tests/util/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <tuple>
#include <utility>

#include "tests/util/process.h"

namespace aimarket::testing {

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(listen_fd_, 64);
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  if (pipe(wake_) != 0) wake_[0] = wake_[1] = -1;
  thread_ = std::thread([this] { Run(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  if (write(wake_[1], "x", 1) < 0) {
    // The poll wakes within 50 ms anyway.
  }
  thread_.join();
  close(listen_fd_);
  close(wake_[0]);
  close(wake_[1]);
}

void TcpProxy::Run() {
  // Pairs of (client, upstream) sockets.
  std::vector<std::pair<int, int>> pairs;
  char buf[65536];
  while (!stop_) {
    const bool frozen = frozen_;
    const size_t polled = frozen ? 0 : pairs.size();  // The pairs whose sockets are in fds.
    std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    if (!frozen) {
      for (const auto& [a, b] : pairs) {
        fds.push_back({a, POLLIN, 0});
        fds.push_back({b, POLLIN, 0});
      }
    }
    // Frozen: wake now and then to notice a thaw.
    if (poll(fds.data(), fds.size(), 50) < 0) continue;
    if (fds[1].revents & POLLIN) {
      const int client = accept(listen_fd_, nullptr, nullptr);
      const int upstream = client >= 0 ? ConnectLoopback(target_port_) : -1;
      if (upstream >= 0) {
        pairs.emplace_back(client, upstream);
      } else if (client >= 0) {
        close(client);
      }
    }
    if (frozen) continue;
    std::vector<std::pair<int, int>> alive;
    for (size_t i = 0; i < polled; ++i) {
      const auto [a, b] = pairs[i];
      bool open = true;
      for (const auto& [from, to, ev] :
           {std::tuple{a, b, fds[2 + 2 * i].revents}, std::tuple{b, a, fds[3 + 2 * i].revents}}) {
        if (!open || !(ev & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = read(from, buf, sizeof(buf));
        if (n <= 0) {
          open = false;
          break;
        }
        for (ssize_t off = 0; off < n;) {
          const ssize_t w = write(to, buf + off, static_cast<size_t>(n - off));
          if (w <= 0) {
            open = false;
            break;
          }
          off += w;
        }
      }
      if (open) {
        alive.emplace_back(a, b);
      } else {
        close(a);
        close(b);
      }
    }
    // Connections accepted in this round are not in fds yet: keep them.
    for (size_t i = polled; i < pairs.size(); ++i) alive.push_back(pairs[i]);
    pairs = std::move(alive);
  }
  for (const auto& [a, b] : pairs) {
    close(a);
    close(b);
  }
}

}  // namespace aimarket::testing
