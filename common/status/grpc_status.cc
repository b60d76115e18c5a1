#include "common/status/grpc_status.h"

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
absl::Status Error::status() const { return WithErrorInfo(absl::Status(code_, message_), info_); }

grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  // absl and gRPC share the google.rpc.Code numbering, so the cast is exact for every code.
  const auto code = static_cast<grpc::StatusCode>(static_cast<int>(s.code()));
  std::optional<common::v1::ErrorInfo> info = GetErrorInfo(s);
  if (!info) return grpc::Status(code, std::string(s.message()));
  return grpc::Status(code, std::string(s.message()), info->SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(static_cast<int>(s.error_code())),
                   s.error_message());
  if (!s.error_details().empty()) {
    common::v1::ErrorInfo info;
    if (info.ParseFromString(s.error_details())) out = WithErrorInfo(std::move(out), info);
  }
  return out;
}

common::v1::ErrorInfo ToErrorEvent(const absl::Status& s) {
  common::v1::ErrorInfo info = GetErrorInfo(s).value_or(common::v1::ErrorInfo());
  info.set_code(static_cast<int>(s.code()));
  info.set_message(std::string(s.message()));
  return info;
}

absl::Status FromErrorEvent(const common::v1::ErrorInfo& info) {
  const auto code = static_cast<absl::StatusCode>(
      info.code() == 0 ? static_cast<int>(absl::StatusCode::kUnknown) : info.code());
  common::v1::ErrorInfo detail = info;
  detail.clear_code();
  detail.clear_message();
  return WithErrorInfo(absl::Status(code, info.message()), detail);
}

}  // namespace aimarket::status
