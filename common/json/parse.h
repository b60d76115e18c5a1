#pragma once

// The one way aimarket parses JSON text with RapidJSON: depth-bounded everywhere, and strict for
// what clients send. RapidJSON's own Parse() recurses once per nesting level (a body of 100,000 `[`
// overflows the stack), treats a NUL byte as the end of the text (`{...}\0garbage` passes), keeps
// duplicate keys (one key authorized, its twin forwarded), and turns a lone `\udc00` into bytes
// that are not UTF-8. This parser refuses all of that before anything reads the document.
//
//   json::StackDocument doc;
//   AIM_RETURN_IF_ERROR(json::Parse(*doc, body));           // client bodies: strict
//   if (!json::ParseBounded(*doc, upstream_body)) ...       // upstream bodies: bounded depth only

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace aimarket::json {

// Deepest nesting of arrays and objects accepted in any JSON text (docs/security.md).
inline constexpr int kMaxDepth = 64;

struct ParseOptions {
  int max_depth = kMaxDepth;
  // Duplicate keys in any object, invalid UTF-8 (lone surrogates included), NUL in keys and
  // anything but whitespace after the value are errors. Off: only depth and syntax are checked.
  bool strict = true;
  // Invalid UTF-8 is an error (always so when strict).
  bool validate_utf8 = true;
};

// Parses `text` into `d` (whose allocator is kept). On error `d` is null and the status is
// INVALID_ARGUMENT with reason INVALID_JSON and a message that says what is wrong and at which byte
// (never echoing the text itself).
absl::Status Parse(rapidjson::Document& d, absl::string_view text,
                   const ParseOptions& options = {});

// For what upstreams send and what was validated before: depth-bounded, lenient otherwise (and
// UTF-8 checked if asked). False on any error; `d` is then null.
bool ParseBounded(rapidjson::Document& d, absl::string_view text, bool validate_utf8 = false);

// A string value as a view of all its bytes (GetString() alone stops at an embedded NUL).
inline absl::string_view View(const rapidjson::Value& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}

}  // namespace aimarket::json
