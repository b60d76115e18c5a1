#pragma once

// JSON string escaping for the places that write small JSON by hand (log lines, error bodies).

#include <string>

#include "absl/strings/string_view.h"

namespace aimarket::json {

// Appends `s` to `out` as a JSON string literal, quotes included. Bytes >= 0x80 are copied as they
// are (the input is expected to be UTF-8); control characters are escaped.
void AppendQuoted(std::string& out, absl::string_view s);

// `s` as a JSON string literal, quotes included.
inline std::string Quote(absl::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  AppendQuoted(out, s);
  return out;
}

}  // namespace aimarket::json
