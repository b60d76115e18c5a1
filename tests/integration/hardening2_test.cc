// Hardening, round two: the gateway tried again as a hostile client and a hostile upstream would,
// through the real edge of aimarketd --services=all. Each test is one of the second probe's
// findings (docs/security.md) and fails without its fix.

#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/util/gateway.h"
#include "tests/util/pg_test_util.h"
#include "tests/util/process.h"

namespace aimarket {
namespace {

using testing::Bearer;
using testing::Gateway;
using ::testing::HasSubstr;
using testing::kAdminKey;
using testing::kHi;
using ::testing::Not;
using testing::RawExchange;

int CountOf(absl::string_view haystack, absl::string_view needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != absl::string_view::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// Finding 2: a Transfer-Encoding whose last coding was not chunked was read as "no body", and the
// body's bytes were served as the next request on the connection (request smuggling). Refused with
// 400 (501 for a coding before chunked) and the connection closed, unread; HTTP/1.0 may not carry
// a Transfer-Encoding at all. What held before (CL beside TE, differing CLs) still holds.
TEST(Hardening2Test, ATransferEncodingNotEndingInChunkedIsRefusedAndTheConnectionClosed) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  const int port = gw->http_port();
  // The smuggled request: answered only if the body were taken for the next request.
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  auto request = [&](absl::string_view version, absl::string_view framing) {
    return absl::StrCat("POST /v1/chat/completions ", version, "\r\nHost: x\r\n", Bearer(kAdminKey),
                        "\r\nContent-Type: application/json\r\n", framing, "\r\n", smuggled);
  };
  struct Case {
    std::string framing;
    int status;
  };
  const std::vector<Case> cases = {
      {"Transfer-Encoding: xchunked\r\n", 400},
      {"Transfer-Encoding: gzip\r\n", 400},
      {"Transfer-Encoding: identity\r\n", 400},
      {"Transfer-Encoding: chunked, identity\r\n", 400},
      {"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", 400},
      {"Transfer-Encoding: chunked, chunked\r\n", 400},
      {"Transfer-Encoding: gzip, chunked\r\n", 501},
      {"Transfer-Encoding: chunked\r\nContent-Length: 36\r\n", 400},
      {"Content-Length: 36\r\nContent-Length: 35\r\n", 400},
  };
  for (const Case& c : cases) {
    const std::string got = RawExchange(port, request("HTTP/1.1", c.framing));
    EXPECT_TRUE(absl::StartsWith(got, absl::StrCat("HTTP/1.1 ", c.status))) << c.framing << got;
    EXPECT_EQ(CountOf(got, "HTTP/1.1 "), 1) << c.framing << got;
    EXPECT_THAT(got, Not(HasSubstr(R"({"status":"ok"})"))) << c.framing;
    EXPECT_THAT(got, HasSubstr("Connection: close")) << c.framing;
  }
  const std::string old = RawExchange(port, request("HTTP/1.0", "Transfer-Encoding: chunked\r\n"));
  EXPECT_TRUE(absl::StartsWith(old, "HTTP/1.1 400")) << old;
  EXPECT_THAT(old, HasSubstr("invalid_transfer_encoding"));
  EXPECT_THAT(old, Not(HasSubstr(R"({"status":"ok"})")));

  // A chunked body (any case of the coding's name) is read as before.
  const std::string body = absl::StrCat(R"({"model":"demo",)", kHi, "}");
  const std::string chunked = RawExchange(
      port, absl::StrCat("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n", Bearer(kAdminKey),
                         "\r\nContent-Type: application/json\r\nTransfer-Encoding: Chunked\r\n"
                         "Connection: close\r\n\r\n",
                         absl::Hex(body.size()), "\r\n", body, "\r\n0\r\n\r\n"));
  EXPECT_TRUE(absl::StartsWith(chunked, "HTTP/1.1 200")) << chunked;
  EXPECT_THAT(chunked, HasSubstr("chat.completion"));
}

// Finding 7: with two Authorization headers the first won, where a front proxy may check the
// last. Ambiguous credentials are refused, even when both are good.
// Finding 8: a 60 KB request path came back whole in the 404's message.
TEST(Hardening2Test, TwoCredentialsAreRefusedAndEchoedInputIsCut) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  const std::string body = absl::StrCat(R"({"model":"demo",)", kHi, "}");
  const testing::HttpResult two =
      testing::HttpRequest("POST", gw->Url("/v1/chat/completions"),
                           {Bearer(kAdminKey), Bearer(kAdminKey), testing::kJson}, body);
  EXPECT_EQ(two.status, 400) << two.body;
  EXPECT_THAT(two.body, HasSubstr("ambiguous_credentials"));
  const testing::HttpResult other = testing::HttpRequest(
      "POST", gw->Url("/v1/chat/completions"),
      {"Authorization: Bearer sk-am-nothing", Bearer(kAdminKey), testing::kJson}, body);
  EXPECT_EQ(other.status, 400) << other.body;
  EXPECT_EQ(gw->Chat(body).status, 200);

  const std::string path = absl::StrCat("/v1/", std::string(60 * 1024, 'a'));
  const testing::HttpResult lost = testing::HttpRequest("GET", gw->Url(path), {Bearer(kAdminKey)});
  EXPECT_EQ(lost.status, 404);
  EXPECT_LT(lost.body.size(), 1024u) << lost.body.size();
  EXPECT_THAT(lost.body, HasSubstr("Invalid URL (GET /v1/aaa"));
  const testing::HttpResult wrong = testing::HttpRequest(
      "DELETE", gw->Url(absl::StrCat("/v1/chat/completions")), {Bearer(kAdminKey)});
  EXPECT_EQ(wrong.status, 405) << wrong.body;
}

// Finding 6: n = 2^32 + 1 was narrowed to 32 bits and reached the upstream as 1, top_logprobs =
// 2^31 was accepted. Out of range is a 400 naming the parameter, and nothing reaches the upstream.
TEST(Hardening2Test, IntegersOutOfRangeAreRefusedNamingTheParameter) {
  AIM_PG_TEST_DATABASE(db);
  auto gw = Gateway::Start(db);
  gw->ClearMock();
  for (const std::string& field :
       {std::string(R"("n":4294967297)"), std::string(R"("top_logprobs":2147483648)"),
        std::string(R"("max_tokens":4294967297)"), std::string(R"("n":129)")}) {
    const testing::HttpResult r =
        gw->Chat(absl::StrCat(R"({"model":"demo",)", kHi, ",", field, "}"));
    EXPECT_EQ(r.status, 400) << field << ": " << r.body;
    const std::string param = field.substr(1, field.find('"', 1) - 1);
    EXPECT_THAT(r.body, HasSubstr(absl::StrCat(R"("param":")", param, R"(")"))) << field;
  }
  const testing::HttpResult dims =
      testing::HttpRequest("POST", gw->Url("/v1/embeddings"), {Bearer(kAdminKey), testing::kJson},
                           R"({"model":"demo","input":"x","dimensions":4294967297})");
  EXPECT_EQ(dims.status, 400) << dims.body;
  EXPECT_THAT(dims.body, HasSubstr(R"("param":"dimensions")"));
  EXPECT_EQ(gw->MockRequests(), "[]");
}

// Finding 5: an upstream's status went to the client as it was: 999 as HTTP 999, a 307 without
// Location, and a 401 (the operator's provider key is wrong) as the client's own 401
// invalid_api_key, with the provider's text, which may quote the operator's key. Statuses are
// mapped, never relayed; credentials refused upstream are the gateway's 502; the operator's key
// never reaches a client.
TEST(Hardening2Test, UpstreamStatusesAreMappedAndTheOperatorsKeyNeverReachesAClient) {
  AIM_PG_TEST_DATABASE(db);
  constexpr char kSecret[] = "sk-operator-secret-0123456789";
  Gateway::Options options;
  options.providers =
      "  - {name: keyed, type: openai, base_url: \"http://127.0.0.1:@MOCK_PORT@/v1\", "
      "api_key_env: AIMARKET_TEST_OPERATOR_KEY}\n";
  for (int status : {401, 403, 999, 307, 301, 418, 400, 422, 429, 503, 529}) {
    absl::StrAppend(&options.models, "  - {name: s", status,
                    ", deployments: [{provider: keyed, model: \"synthetic?status=", status,
                    "&quote_key=1\"}]}\n");
  }
  options.env["AIMARKET_TEST_OPERATOR_KEY"] = kSecret;
  auto gw = Gateway::Start(db, options);
  struct Case {
    int upstream;
    int client;
    std::string code;
  };
  const std::vector<Case> cases = {
      {401, 502, "upstream_auth_failed"},
      {403, 502, "upstream_auth_failed"},
      {999, 502, "upstream_bad_status"},
      {307, 502, "upstream_bad_status"},
      {301, 502, "upstream_bad_status"},
      {418, 502, "upstream_bad_status"},
      {400, 400, ""},
      {422, 400, ""},
      {429, 429, ""},
      {503, 503, ""},
      {529, 503, ""},
  };
  for (const Case& c : cases) {
    for (const bool stream : {false, true}) {
      const std::string what = absl::StrCat(c.upstream, stream ? " streamed" : "");
      const testing::HttpResult r = gw->Chat(absl::StrCat(
          R"({"model":"s)", c.upstream, R"(",)", stream ? R"("stream":true,)" : "", kHi, "}"));
      EXPECT_EQ(r.status, c.client) << what << ": " << r.body;
      EXPECT_THAT(r.body, Not(HasSubstr(kSecret))) << what;
      EXPECT_EQ(r.headers.count("location"), 0u) << what;
      if (!c.code.empty()) {
        EXPECT_THAT(r.body, HasSubstr(absl::StrCat(R"("code":")", c.code, R"(")"))) << what;
        // The gateway's own words, not the provider's.
        EXPECT_THAT(r.body, Not(HasSubstr("mock-provider"))) << what;
        EXPECT_THAT(r.body, Not(HasSubstr("invalid_api_key"))) << what;
      } else {
        // The provider's words, with the operator's key taken out.
        EXPECT_THAT(r.body, HasSubstr("mock-provider: status")) << what;
        EXPECT_THAT(r.body, HasSubstr("[redacted]")) << what;
      }
    }
  }
  // The operator learns which provider refused its key.
  EXPECT_THAT(gw->process().output(), HasSubstr("refused the gateway's credentials"));
  EXPECT_THAT(gw->process().output(), HasSubstr(R"("provider":"keyed")"));
  EXPECT_THAT(gw->process().output(), Not(HasSubstr(kSecret)));
}

}  // namespace
}  // namespace aimarket
