#include "common/rpc/call_context.h"

#include <random>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace aimarket::rpc {

void Cancellation::Cancel() {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return;
  cancelled_ = true;
  for (auto& [id, fn] : callbacks_) fn();
  callbacks_.clear();
}

bool Cancellation::IsCancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

int Cancellation::OnCancel(absl::AnyInvocable<void()> fn) {
  absl::MutexLock lock(&mu_);
  const int id = ++next_id_;
  if (cancelled_) {
    fn();
  } else {
    callbacks_.emplace_back(id, std::move(fn));
  }
  return id;
}

void Cancellation::RemoveCallback(int id) {
  absl::MutexLock lock(&mu_);
  for (auto it = callbacks_.begin(); it != callbacks_.end(); ++it) {
    if (it->first == id) {
      callbacks_.erase(it);
      return;
    }
  }
}

std::string CallContext::ApiKey() const {
  // Only the Bearer scheme carries a key (RFC 6750; "Basic ..." or a bare key is no key at all).
  absl::string_view v = absl::StripAsciiWhitespace(authorization);
  if (v.size() < 7 || !absl::EqualsIgnoreCase(v.substr(0, 6), "bearer") ||
      (v[6] != ' ' && v[6] != '\t'))
    return "";
  return std::string(absl::StripAsciiWhitespace(v.substr(7)));
}

bool SecretEquals(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % b.size()]);
  return diff == 0;
}

std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "req_";
  for (int part = 0; part < 2; ++part) {
    uint64_t v = rng();
    for (int i = 0; i < 12; ++i) {
      id.push_back(kHex[v & 0xf]);
      v >>= 4;
    }
  }
  return id;
}

}  // namespace aimarket::rpc
