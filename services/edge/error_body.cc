#include "services/edge/error_body.h"

#include <cmath>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status/grpc_status.h"

namespace aimarket::edge {

int HttpStatusFor(const absl::Status& s) {
  if (auto info = status::GetErrorInfo(s); info && info->http_status() != 0) return info->http_status();
  switch (s.code()) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kCancelled: return 499;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kUnimplemented: return 501;
    default: return 500;
  }
}

absl::string_view OpenAiErrorType(int http_status) {
  switch (http_status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    default: return http_status >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

HttpResponse ErrorResponse(const absl::Status& s) {
  HttpResponse r;
  r.status = HttpStatusFor(s);
  const auto info = status::GetErrorInfo(s);
  const std::string type = info && !info->type().empty() ? info->type() : std::string(OpenAiErrorType(r.status));
  const std::string param = info && !info->param().empty() ? JsonQuote(info->param()) : "null";
  const std::string code =
      info && !info->reason().empty() ? JsonQuote(absl::AsciiStrToLower(info->reason())) : "null";
  r.body = absl::StrCat(R"({"error":{"message":)", JsonQuote(s.message()), R"(,"type":)", JsonQuote(type),
                        R"(,"param":)", param, R"(,"code":)", code, "}}");
  if (info && info->has_retry_after()) {
    const double seconds = info->retry_after().seconds() + info->retry_after().nanos() / 1e9;
    r.headers.emplace_back("retry-after", absl::StrCat(static_cast<int64_t>(std::ceil(seconds))));
  }
  return r;
}

}  // namespace aimarket::edge
