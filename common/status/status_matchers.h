#pragma once

// gtest matchers for absl::Status and absl::StatusOr<T>:
//   EXPECT_THAT(DoThing(), IsOk());
//   EXPECT_THAT(Lookup("x"), StatusIs(absl::StatusCode::kNotFound));
//   EXPECT_THAT(Lookup("x"), StatusIs(absl::StatusCode::kNotFound, HasSubstr("x")));

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace aimarket::status {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = ::aimarket::status::GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s.ToString();
  return s.ok();
}

MATCHER_P(StatusIs, code, "has status code " + ::absl::StatusCodeToString(code)) {
  const absl::Status& s = ::aimarket::status::GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has status code " + ::absl::StatusCodeToString(code) + " and a matching message") {
  const absl::Status& s = ::aimarket::status::GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code && ::testing::Matches(message_matcher)(std::string(s.message()));
}

}  // namespace aimarket::status
