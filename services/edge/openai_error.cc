#include "services/edge/openai_error.h"

#include "absl/strings/str_cat.h"
#include "common/json/json_escape.h"

namespace aimarket::edge {

std::string OpenAiErrorJson(absl::string_view message, absl::string_view type,
                            absl::string_view param, absl::string_view code) {
  return absl::StrCat(R"({"error":{"message":)", json::Quote(message), R"(,"type":)",
                      json::Quote(type), R"(,"param":)",
                      param.empty() ? "null" : json::Quote(param), R"(,"code":)",
                      code.empty() ? "null" : json::Quote(code), "}}");
}

}  // namespace aimarket::edge
