// The one table from a status to an OpenAI error response (error_body.h): HTTP status, `type`,
// `param`, `code`, the fixed messages for server-side failures, Retry-After, and the 405 shape.

#include "services/edge/error_body.h"

#include <rapidjson/document.h>

#include <map>
#include <string>

#include "absl/time/time.h"
#include "common/status/error.h"
#include "gtest/gtest.h"
#include "services/edge/rest.h"

namespace aimarket::edge {
namespace {

using status::Error;

struct Body {
  std::string message, type, param, code;
  bool param_null = false, code_null = false;
};

// The error object of `r`, checking that it has exactly the four keys.
Body Parse(const HttpResponse& r) {
  rapidjson::Document d;
  d.Parse(r.body.data(), r.body.size());
  Body b;
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("error") || !d["error"].IsObject()) {
    ADD_FAILURE() << "not an OpenAI error: " << r.body;
    return b;
  }
  const rapidjson::Value& e = d["error"];
  EXPECT_EQ(e.MemberCount(), 4u) << r.body;
  auto str = [&](const char* k, std::string& out, bool* null) {
    if (!e.HasMember(k)) {
      ADD_FAILURE() << "no " << k << " in " << r.body;
    } else if (e[k].IsString()) {
      out = e[k].GetString();
    } else if (null != nullptr && e[k].IsNull()) {
      *null = true;
    } else {
      ADD_FAILURE() << k << " has the wrong type in " << r.body;
    }
  };
  str("message", b.message, nullptr);
  str("type", b.type, nullptr);
  str("param", b.param, &b.param_null);
  str("code", b.code, &b.code_null);
  return b;
}

std::string HeaderOf(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

TEST(ErrorBodyTest, HttpStatusFollowsTheCode) {
  struct Case {
    absl::StatusCode code;
    int http;
  };
  const Case kCases[] = {
      {absl::StatusCode::kOk, 200},
      {absl::StatusCode::kInvalidArgument, 400},
      {absl::StatusCode::kFailedPrecondition, 400},
      {absl::StatusCode::kOutOfRange, 400},
      {absl::StatusCode::kUnauthenticated, 401},
      {absl::StatusCode::kPermissionDenied, 403},
      {absl::StatusCode::kNotFound, 404},
      {absl::StatusCode::kAlreadyExists, 409},
      {absl::StatusCode::kAborted, 409},
      {absl::StatusCode::kResourceExhausted, 429},
      {absl::StatusCode::kCancelled, 499},
      {absl::StatusCode::kUnimplemented, 501},
      {absl::StatusCode::kUnavailable, 503},
      {absl::StatusCode::kDeadlineExceeded, 504},
      {absl::StatusCode::kInternal, 500},
      {absl::StatusCode::kUnknown, 500},
      {absl::StatusCode::kDataLoss, 500},
  };
  for (const Case& c : kCases) {
    EXPECT_EQ(HttpStatusFor(absl::Status(c.code, "x")), c.http) << absl::StatusCodeToString(c.code);
  }
}

TEST(ErrorBodyTest, AnErrorInfoOverridesStatusAndType) {
  const absl::Status s =
      Error(absl::StatusCode::kInvalidArgument, "BUDGET_EXCEEDED", "Over budget.")
          .HttpStatus(429)
          .Type("insufficient_quota");
  EXPECT_EQ(HttpStatusFor(s), 429);
  const HttpResponse r = ErrorResponse(s);
  EXPECT_EQ(r.status, 429);
  const Body b = Parse(r);
  EXPECT_EQ(b.type, "insufficient_quota");
  EXPECT_EQ(b.code, "budget_exceeded");
  EXPECT_EQ(b.message, "Over budget.");
}

TEST(ErrorBodyTest, TypeFollowsTheHttpStatus) {
  EXPECT_EQ(OpenAiErrorType(400), "invalid_request_error");
  EXPECT_EQ(OpenAiErrorType(404), "invalid_request_error");
  EXPECT_EQ(OpenAiErrorType(401), "authentication_error");
  EXPECT_EQ(OpenAiErrorType(403), "permission_error");
  EXPECT_EQ(OpenAiErrorType(429), "rate_limit_error");
  EXPECT_EQ(OpenAiErrorType(500), "server_error");
  EXPECT_EQ(OpenAiErrorType(503), "server_error");
}

TEST(ErrorBodyTest, ClientErrorsKeepTheirWordsParamAndLowerCaseCode) {
  const HttpResponse r = ErrorResponse(
      Error(absl::StatusCode::kInvalidArgument, "INVALID_VALUE", "Invalid value for 'n'.")
          .Param("n"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "application/json");
  const Body b = Parse(r);
  EXPECT_EQ(b.message, "Invalid value for 'n'.");
  EXPECT_EQ(b.type, "invalid_request_error");
  EXPECT_EQ(b.param, "n");
  EXPECT_EQ(b.code, "invalid_value");
}

TEST(ErrorBodyTest, AStatusWithoutErrorInfoHasNullParamAndCode) {
  const Body b = Parse(ErrorResponse(absl::NotFoundError("The model 'x' does not exist.")));
  EXPECT_EQ(b.message, "The model 'x' does not exist.");
  EXPECT_TRUE(b.param_null);
  EXPECT_TRUE(b.code_null);
}

TEST(ErrorBodyTest, ServerFailuresWithoutErrorInfoAnswerAFixedMessage) {
  // A library's or a peer's own words (hosts, ports, SQL) never reach the client.
  const std::string secret = "connection to 10.0.0.7:5432 failed: SELECT * FROM api_keys";
  for (absl::StatusCode code :
       {absl::StatusCode::kInternal, absl::StatusCode::kUnknown, absl::StatusCode::kDataLoss,
        absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded}) {
    const HttpResponse r = ErrorResponse(absl::Status(code, secret), "req_1");
    EXPECT_EQ(r.body.find("10.0.0.7"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("SELECT"), std::string::npos) << r.body;
    const Body b = Parse(r);
    EXPECT_FALSE(b.message.empty());
    EXPECT_EQ(b.type, "server_error");
  }
  EXPECT_EQ(Parse(ErrorResponse(absl::UnavailableError(secret))).message,
            "The service is temporarily unavailable; retry shortly.");
  EXPECT_EQ(Parse(ErrorResponse(absl::DeadlineExceededError(secret))).message,
            "The request timed out inside the gateway; retry it.");
  EXPECT_EQ(Parse(ErrorResponse(absl::InternalError(secret))).message,
            "The server had an error while processing your request.");
  // With an ErrorInfo the words were written for the client and are kept.
  EXPECT_EQ(Parse(ErrorResponse(Error(absl::StatusCode::kUnavailable, "PROVIDER_UNAVAILABLE",
                                      "Every provider for 'm' failed.")))
                .message,
            "Every provider for 'm' failed.");
}

TEST(ErrorBodyTest, RetryAfterIsWholeSecondsRoundedUp) {
  auto retry_after = [](absl::Duration d) {
    return HeaderOf(
        ErrorResponse(Error(absl::StatusCode::kResourceExhausted, "RATE_LIMITED", "Slow down.")
                          .RetryAfter(d)),
        "retry-after");
  };
  EXPECT_EQ(retry_after(absl::Seconds(3)), "3");
  EXPECT_EQ(retry_after(absl::Milliseconds(2100)), "3");
  EXPECT_EQ(retry_after(absl::Milliseconds(1)), "1");
  EXPECT_EQ(HeaderOf(ErrorResponse(absl::ResourceExhaustedError("x")), "retry-after"), "");
}

TEST(ErrorBodyTest, ARefusalCarriesTheRateLimitHeadersAsOpenAiWritesThem) {
  common::v1::RateLimitStatus limits;
  limits.set_limit_requests(60);
  limits.set_remaining_requests(0);
  limits.mutable_reset_requests()->set_seconds(59);
  limits.mutable_reset_requests()->set_nanos(500'000'000);
  limits.set_limit_tokens(150000);
  limits.set_remaining_tokens(149000);
  limits.mutable_reset_tokens()->set_seconds(360);
  const HttpResponse r = ErrorResponse(
      status::Error(absl::StatusCode::kResourceExhausted, "RATE_LIMIT_EXCEEDED", "slow down")
          .RetryAfter(absl::Milliseconds(59'500))
          .RateLimits(limits));
  std::map<std::string, std::string> h(r.headers.begin(), r.headers.end());
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(h["x-ratelimit-limit-requests"], "60");
  EXPECT_EQ(h["x-ratelimit-remaining-requests"], "0");
  EXPECT_EQ(h["x-ratelimit-reset-requests"], "59.5s");
  EXPECT_EQ(h["x-ratelimit-limit-tokens"], "150000");
  EXPECT_EQ(h["x-ratelimit-remaining-tokens"], "149000");
  EXPECT_EQ(h["x-ratelimit-reset-tokens"], "6m0s");
  EXPECT_EQ(h["retry-after"], "60");
  // Durations as OpenAI's headers write them.
  EXPECT_EQ(rest::ResetText(absl::Milliseconds(20)), "20ms");
  EXPECT_EQ(rest::ResetText(absl::Seconds(1)), "1s");
  EXPECT_EQ(rest::ResetText(absl::Hours(2) + absl::Seconds(3)), "2h0m3s");
  EXPECT_EQ(rest::ResetText(absl::ZeroDuration()), "0ms");
}

TEST(ErrorBodyTest, MethodNotAllowedNamesTheMethodsItTakes) {
  HttpRequest req;
  req.method = "PUT";
  req.target = "/v1/models?x=1";
  const HttpResponse r = MethodNotAllowed(req, "GET, POST");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(HeaderOf(r, "allow"), "GET, POST");
  const Body b = Parse(r);
  EXPECT_EQ(b.code, "method_not_allowed");
  EXPECT_EQ(b.message, "Method PUT is not allowed on /v1/models; use GET, POST.");
}

TEST(ErrorBodyTest, TheDrainDeadlineEventIsAnSseErrorEvent) {
  const std::string e = DrainDeadlineEvent();
  ASSERT_EQ(e.rfind("data: {\"error\":", 0), 0u) << e;
  EXPECT_EQ(e.substr(e.size() - 2), "\n\n");
  HttpResponse body;
  body.body = e.substr(6, e.size() - 8);
  EXPECT_EQ(Parse(body).code, "server_shutting_down");
}

}  // namespace
}  // namespace aimarket::edge
