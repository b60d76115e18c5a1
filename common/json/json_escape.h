#pragma once

// JSON string escaping for the places that write small JSON by hand (log lines, error bodies).

#include <string>

#include "absl/strings/string_view.h"

namespace aimarket::json {

// Appends `s` to `out` as a JSON string literal, quotes included. Well-formed UTF-8 is copied as
// it is; a byte that is not part of a well-formed sequence becomes U+FFFD, so the result is always
// valid JSON in UTF-8 whatever `s` holds (a client's path, an upstream's error text). Control
// characters are escaped.
void AppendQuoted(std::string& out, absl::string_view s);

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool IsValidUtf8(absl::string_view s);

// `s` as a JSON string literal, quotes included.
inline std::string Quote(absl::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  AppendQuoted(out, s);
  return out;
}

}  // namespace aimarket::json
