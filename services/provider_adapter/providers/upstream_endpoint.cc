#include "services/provider_adapter/providers/upstream_endpoint.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/config/provider_types.h"

namespace aimarket::provider {

std::string BearerAuth(absl::string_view api_key) {
  return api_key.empty() ? "" : absl::StrCat("Authorization: Bearer ", api_key);
}

std::string KeyHeader(absl::string_view name, absl::string_view api_key) {
  return api_key.empty() ? "" : absl::StrCat(name, ": ", api_key);
}

UpstreamEndpoint::UpstreamEndpoint(const config::v1::ProviderConfig& config,
                                   std::vector<std::string> headers)
    : config_(config), base_(config.base_url()) {
  if (base_.empty()) {
    if (const config::ProviderTypeInfo* type = config::FindProviderType(config.type())) {
      base_ = std::string(type->default_base_url);
    }
  }
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
  for (std::string& h : headers) {
    if (!h.empty()) headers_.push_back(std::move(h));
  }
}

std::string UpstreamEndpoint::Url(absl::string_view path) const {
  return absl::StrCat(base_, path);
}

HttpCallRequest UpstreamEndpoint::Call(std::string method, absl::string_view path) const {
  HttpCallRequest http;
  http.method = std::move(method);
  http.url = Url(path);
  http.headers.reserve(headers_.size() + 3);
  http.headers = headers_;
  http.connect_timeout = config::ToDuration(config_.connect_timeout());
  http.first_byte_timeout = config::ToDuration(config_.first_byte_timeout());
  http.idle_timeout = config::ToDuration(config_.idle_timeout());
  return http;
}

HttpCallRequest UpstreamEndpoint::Post(const std::string& request_id, absl::string_view path,
                                       std::string body, absl::string_view accept) const {
  HttpCallRequest http = Call("POST", path);
  http.body = std::move(body);
  http.headers.emplace_back("Content-Type: application/json");
  http.headers.push_back(absl::StrCat("Accept: ", accept));
  if (!request_id.empty()) http.headers.push_back(absl::StrCat("X-Request-Id: ", request_id));
  return http;
}

HttpCallRequest UpstreamEndpoint::Post(const common::v1::ChatRequest& req, absl::string_view path,
                                       std::string body, absl::string_view stream_accept) const {
  return Post(req.request_id(), path, std::move(body),
              req.stream() ? stream_accept : "application/json");
}

HttpCallRequest UpstreamEndpoint::Get(absl::string_view path) const {
  HttpCallRequest http = Call("GET", path);
  http.headers.emplace_back("Accept: application/json");
  http.first_byte_timeout = absl::Seconds(10);
  http.idle_timeout = absl::Seconds(10);
  return http;
}

}  // namespace aimarket::provider
