#include "services/router/routing_rules.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/status/error.h"

namespace aimarket::router {

bool Retryable(const absl::Status& s) {
  if (auto info = status::GetErrorInfo(s); info && info->http_status() != 0) {
    return info->http_status() == 429 || info->http_status() >= 500;
  }
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnknown:
      return true;
    default:
      return false;
  }
}

bool ModelAllowed(const common::v1::Principal& p, absl::string_view model) {
  if (p.bootstrap_admin() || p.settings().model_access().empty()) return true;
  for (const std::string& allowed : p.settings().model_access()) {
    if (allowed == model) return true;
    if (absl::EndsWith(allowed, "*") &&
        absl::StartsWith(model, absl::string_view(allowed).substr(0, allowed.size() - 1))) {
      return true;
    }
  }
  return false;
}

absl::Status AuthorizeModel(const common::v1::Principal& p, absl::string_view model) {
  if (!config::IsValidModelName(model)) {
    return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_VALUE",
                         "Invalid value for 'model': a model name is 1 to 256 letters, digits and "
                         "- . _ : / @, "
                         "with no empty, '.' or '..' part between slashes.")
        .Param("model");
  }
  if (!p.bootstrap_admin() && p.role() == common::v1::ROLE_VIEWER) {
    return status::Error(
        absl::StatusCode::kPermissionDenied, "PERMISSION_DENIED",
        "This API key belongs to a viewer, who can read the team but not call models.");
  }
  if (!ModelAllowed(p, model)) {
    return status::Error(absl::StatusCode::kPermissionDenied, "MODEL_NOT_ALLOWED",
                         absl::StrCat("Your team may not use the model '", model, "'."))
        .Param("model");
  }
  return absl::OkStatus();
}

}  // namespace aimarket::router
