#include "services/edge/error_body.h"

#include <cmath>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/json/json_escape.h"
#include "common/log/log.h"
#include "common/status/error.h"
#include "services/edge/openai_error.h"
#include "services/edge/rest.h"

namespace aimarket::edge {

absl::string_view OpenAiErrorType(int http_status) {
  switch (http_status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 429:
      return "rate_limit_error";
    default:
      return http_status >= 500 ? "server_error" : "invalid_request_error";
  }
}

namespace {

// The client's words for a failure that came without any meant for a client.
absl::string_view FixedMessage(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable:
      return "The service is temporarily unavailable; retry shortly.";
    case absl::StatusCode::kDeadlineExceeded:
      return "The request timed out inside the gateway; retry it.";
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      return "The server had an error while processing your request.";
    default:
      return {};
  }
}

}  // namespace

HttpResponse ErrorResponse(const absl::Status& s, absl::string_view request_id) {
  HttpResponse r;
  r.status = HttpStatusFor(s);
  const auto info = status::GetErrorInfo(s);
  absl::string_view message = s.message();
  if (!info) {
    if (const absl::string_view fixed = FixedMessage(s.code()); !fixed.empty()) {
      log::Warn("server error answered with a fixed message",
                {{"request_id", request_id},
                 {"code", absl::StatusCodeToString(s.code())},
                 {"cause", s.message()}});
      message = fixed;
    }
  }
  const std::string type =
      info && !info->type().empty() ? info->type() : std::string(OpenAiErrorType(r.status));
  r.body = OpenAiErrorJson(message, type, info ? info->param() : "",
                           info ? absl::AsciiStrToLower(info->reason()) : "");
  if (info && info->has_rate_limits()) rest::AddRateLimitHeaders(info->rate_limits(), r.headers);
  if (info && info->has_retry_after()) {
    const double seconds = info->retry_after().seconds() + info->retry_after().nanos() / 1e9;
    r.headers.emplace_back("retry-after", absl::StrCat(static_cast<int64_t>(std::ceil(seconds))));
  }
  return r;
}

std::string DrainDeadlineEvent() {
  const HttpResponse r = ErrorResponse(status::Error(
      absl::StatusCode::kUnavailable, "SERVER_SHUTTING_DOWN",
      "The server is shutting down: the stream was cut at the drain deadline. Retry the request."));
  return absl::StrCat("data: ", r.body, "\n\n");
}

HttpResponse MethodNotAllowed(const HttpRequest& req, absl::string_view allow) {
  HttpResponse r = ErrorResponse(
      status::Error(absl::StatusCode::kInvalidArgument, "METHOD_NOT_ALLOWED",
                    absl::StrCat("Method ", rest::Echo(req.method), " is not allowed on ",
                                 rest::Echo(req.Path()), "; use ", allow, "."))
          .HttpStatus(405));
  r.headers.emplace_back("allow", std::string(allow));
  return r;
}

}  // namespace aimarket::edge
