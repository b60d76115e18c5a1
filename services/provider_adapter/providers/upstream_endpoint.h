#pragma once

// What every adapter builds the same way for its upstream: the base URL (the config's, else its
// type's default from config::ProviderTypes), the headers every call carries (the key, a version),
// the JSON POST with the provider's timeouts and the gateway's request id, and the health request.
//
//   UpstreamEndpoint endpoint(config, {BearerAuth(api_key)});
//   HttpCallRequest http = endpoint.Post(req, "/v2/chat", std::move(body));
//   HttpCallRequest health = endpoint.Get("/v1/models");

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "aimarket/common/v1/chat.pb.h"
#include "aimarket/config/v1/config.pb.h"
#include "services/provider_adapter/http/http_client.h"

namespace aimarket::provider {

// "Authorization: Bearer <key>", or "" for no key (an empty header is never sent).
std::string BearerAuth(absl::string_view api_key);
// "<name>: <key>" (x-api-key, x-goog-api-key), or "" for no key.
std::string KeyHeader(absl::string_view name, absl::string_view api_key);

// Immutable after construction; thread-safe.
class UpstreamEndpoint {
 public:
  // `headers` are "Name: value" lines sent on every call; empty ones are dropped.
  UpstreamEndpoint(const config::v1::ProviderConfig& config, std::vector<std::string> headers);

  const std::string& base_url() const { return base_; }
  // The base URL (trailing slashes dropped) + `path`.
  std::string Url(absl::string_view path) const;

  // A POST of the JSON `body` to Url(path) for a chat call: Accept is `stream_accept` for a
  // stream, application/json otherwise.
  HttpCallRequest Post(const common::v1::ChatRequest& req, absl::string_view path, std::string body,
                       absl::string_view stream_accept = "text/event-stream") const;
  // A POST of the JSON `body` to Url(path) answered with one body of type `accept`.
  HttpCallRequest Post(const std::string& request_id, absl::string_view path, std::string body,
                       absl::string_view accept = "application/json") const;
  // The health check's GET of Url(path): the cheapest read-only call that shows the provider is
  // up and the key accepted (CheckHealth expects a 2xx), with short timeouts.
  HttpCallRequest Get(absl::string_view path) const;

 private:
  HttpCallRequest Call(std::string method, absl::string_view path) const;

  const config::v1::ProviderConfig& config_;
  std::string base_;
  std::vector<std::string> headers_;
};

}  // namespace aimarket::provider
