#include "common/status/error.h"

#include <utility>

#include "absl/strings/cord.h"

namespace aimarket::status {

std::optional<common::v1::ErrorInfo> GetErrorInfo(const absl::Status& s) {
  auto payload =
      s.GetPayload(kErrorInfoUrl);  // absl::optional: Debian builds absl without std aliases.
  if (!payload) return std::nullopt;
  common::v1::ErrorInfo info;
  if (!info.ParseFromString(std::string(*payload))) return std::nullopt;
  return info;
}

absl::Status WithErrorInfo(absl::Status s, const common::v1::ErrorInfo& info) {
  if (s.ok()) return s;
  s.SetPayload(kErrorInfoUrl, absl::Cord(info.SerializeAsString()));
  return s;
}

Error::Error(absl::StatusCode code, absl::string_view reason, absl::string_view message)
    : code_(code), message_(message) {
  info_.set_reason(std::string(reason));
}

Error& Error::Param(absl::string_view param) {
  info_.set_param(std::string(param));
  return *this;
}
Error& Error::HttpStatus(int http_status) {
  info_.set_http_status(http_status);
  return *this;
}
Error& Error::Type(absl::string_view type) {
  info_.set_type(std::string(type));
  return *this;
}
Error& Error::RetryAfter(absl::Duration d) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  info_.mutable_retry_after()->set_seconds(nanos / 1000000000);
  info_.mutable_retry_after()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return *this;
}
Error& Error::Domain(absl::string_view domain) {
  info_.set_domain(std::string(domain));
  return *this;
}
Error& Error::Meta(absl::string_view key, absl::string_view value) {
  (*info_.mutable_metadata())[std::string(key)] = std::string(value);
  return *this;
}
Error& Error::RateLimits(const common::v1::RateLimitStatus& rate_limits) {
  *info_.mutable_rate_limits() = rate_limits;
  return *this;
}

absl::Status Error::status() const { return WithErrorInfo(absl::Status(code_, message_), info_); }

}  // namespace aimarket::status
