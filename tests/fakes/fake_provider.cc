#include "tests/fakes/fake_provider.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status/error.h"
#include "common/status/reasons.h"

namespace aimarket::fakes {
namespace {

absl::Status Unreachable(const std::string& provider) {
  return status::Error(absl::StatusCode::kUnavailable, status::reason::kUpstreamUnreachable,
                       absl::StrCat(provider, " cannot be reached"));
}

}  // namespace

absl::Status UpstreamError(int http_status) {
  const absl::StatusCode code = http_status == 429   ? absl::StatusCode::kResourceExhausted
                                : http_status >= 500 ? absl::StatusCode::kUnavailable
                                                     : absl::StatusCode::kInvalidArgument;
  return status::Error(code, "UPSTREAM_ERROR", absl::StrCat("upstream answered ", http_status))
      .HttpStatus(http_status);
}

void FakeProvider::Script(const std::string& provider, Upstream upstream) {
  absl::MutexLock lock(&mu_);
  upstreams_[provider] = std::move(upstream);
}

const Upstream* FakeProvider::Called(const provider::v1::Target& target) {
  calls_.push_back(absl::StrCat(target.provider(), "/", target.model()));
  auto it = upstreams_.find(target.provider());
  return it == upstreams_.end() ? nullptr : &it->second;
}

void FakeProvider::Generate(rpc::CallContext, const provider::v1::Target& target,
                            const common::v1::ChatRequest& req,
                            rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  Upstream script;
  bool scripted = false;
  {
    absl::MutexLock lock(&mu_);
    if (const Upstream* u = Called(target)) {
      script = *u;
      scripted = true;
    }
  }
  // Answered without the lock: the router's failover calls Generate again from OnComplete.
  if (!scripted) return observer.OnComplete(Unreachable(target.provider()));
  for (const std::string& json : script.events) {
    common::v1::ChatEvent ev;
    ev.set_model(req.model());
    ev.set_raw_json(json);
    observer.OnEvent(ev);
  }
  if (script.usage) {
    common::v1::ChatEvent ev;
    ev.set_usage_only(true);
    *ev.mutable_usage() = *script.usage;
    observer.OnEvent(ev);
  }
  observer.OnComplete(script.status);
}

void FakeProvider::Embed(const rpc::CallContext&, const provider::v1::EmbedRequest& req,
                         rpc::Done<common::v1::EmbedResponse> done) {
  absl::StatusOr<common::v1::EmbedResponse> answer;
  {
    absl::MutexLock lock(&mu_);
    const Upstream* u = Called(req.target());
    if (u == nullptr) {
      answer = Unreachable(req.target().provider());
    } else if (!u->status.ok()) {
      answer = u->status;
    } else {
      common::v1::EmbedResponse resp;
      resp.set_model(req.target().model());
      if (u->usage) *resp.mutable_usage() = *u->usage;
      answer = std::move(resp);
    }
  }
  done(std::move(answer));
}

absl::StatusOr<provider::v1::CheckHealthResponse> FakeProvider::CheckHealth(
    const rpc::CallContext&, const provider::v1::CheckHealthRequest& req) {
  absl::MutexLock lock(&mu_);
  provider::v1::CheckHealthResponse resp;
  for (const auto& [name, upstream] : upstreams_) {
    if (!req.provider().empty() && req.provider() != name) continue;
    provider::v1::ProviderHealth& h = *resp.add_providers();
    h.set_provider(name);
    h.set_healthy(upstream.status.ok());
  }
  return resp;
}

std::vector<std::string> FakeProvider::calls() {
  absl::MutexLock lock(&mu_);
  return calls_;
}

}  // namespace aimarket::fakes
