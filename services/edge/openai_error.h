#pragma once

// The one writer of OpenAI's error body, {"error":{"message","type","param","code"}} with all four
// keys always (an empty param or code is null). error_body.h maps a status onto it; the HTTP
// server uses it directly for what it refuses before any handler runs.

#include <string>

#include "absl/strings/string_view.h"

namespace aimarket::edge {

std::string OpenAiErrorJson(absl::string_view message, absl::string_view type,
                            absl::string_view param = "", absl::string_view code = "");

}  // namespace aimarket::edge
