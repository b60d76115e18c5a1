#include "services/edge/embeddings.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/json/json_escape.h"
#include "common/json/parse.h"
#include "common/status/error.h"
#include "rapidjson/document.h"
#include "services/edge/rest.h"

namespace aimarket::edge {
namespace {

using rapidjson::Value;

constexpr int kMaxInputs = 2048;
constexpr int64_t kMaxDimensions = 65536;

using rest::InvalidValue;
using rest::Missing;

bool IsTokenArray(const Value& v) {
  if (!v.IsArray() || v.Empty()) return false;
  for (const Value& t : v.GetArray()) {
    if (!t.IsInt64() || t.GetInt64() < 0) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<common::v1::EmbedRequest> ParseEmbedRequest(std::string body) {
  rapidjson::Document d;
  if (absl::Status s = json::Parse(d, body); !s.ok()) return s;
  if (!d.IsObject()) {
    return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_JSON",
                         "The request body must be a JSON object.");
  }
  common::v1::EmbedRequest req;
  auto model = d.FindMember("model");
  if (model == d.MemberEnd() || model->value.IsNull()) return Missing("model");
  if (!model->value.IsString() || model->value.GetStringLength() == 0)
    return InvalidValue("model", "expected a model name");
  req.set_model(std::string(json::View(model->value)));

  auto input = d.FindMember("input");
  if (input == d.MemberEnd() || input->value.IsNull()) return Missing("input");
  const Value& in = input->value;
  if (in.IsString()) {
    if (in.GetStringLength() == 0) return InvalidValue("input", "it must not be empty");
    req.add_input(std::string(json::View(in)));
  } else if (in.IsArray()) {
    if (in.Empty()) return InvalidValue("input", "it must not be empty");
    if (in.Size() > kMaxInputs)
      return InvalidValue("input", absl::StrCat("at most ", kMaxInputs, " inputs per request"));
    if (in[0].IsString()) {
      int i = 0;
      for (const Value& s : in.GetArray()) {
        const std::string p = absl::StrCat("input[", i++, "]");
        if (!s.IsString()) return InvalidValue(p, "expected a string like the other inputs");
        if (s.GetStringLength() == 0) return InvalidValue(p, "it must not be empty");
        req.add_input(std::string(json::View(s)));
      }
    } else if (IsTokenArray(in) ||
               std::all_of(in.Begin(), in.End(), [](const Value& v) { return IsTokenArray(v); })) {
      // Token ids: passed to OpenAI-format upstreams through the original body; others refuse them.
    } else {
      return InvalidValue("input", "expected a string, an array of strings, or token ids");
    }
  } else {
    return InvalidValue("input", "expected a string, an array of strings, or token ids");
  }

  if (auto f = d.FindMember("encoding_format"); f != d.MemberEnd() && !f->value.IsNull()) {
    const std::string format = f->value.IsString() ? std::string(json::View(f->value)) : "";
    if (format != "float" && format != "base64")
      return InvalidValue("encoding_format", "expected float or base64");
    req.set_encoding_format(format);
  }
  if (auto dim = d.FindMember("dimensions"); dim != d.MemberEnd() && !dim->value.IsNull()) {
    if (!dim->value.IsInt64() || dim->value.GetInt64() < 1 ||
        dim->value.GetInt64() > kMaxDimensions) {
      return InvalidValue("dimensions",
                          absl::StrCat("expected an integer from 1 to ", kMaxDimensions));
    }
    req.set_dimensions(static_cast<int32_t>(dim->value.GetInt64()));
  }
  if (auto user = d.FindMember("user"); user != d.MemberEnd() && !user->value.IsNull()) {
    if (!user->value.IsString()) return InvalidValue("user", "expected a string");
    req.set_user(std::string(json::View(user->value)));
  }
  req.set_original_json(std::move(body));
  return req;
}

std::string RenderEmbeddings(const common::v1::EmbedResponse& resp, const std::string& model,
                             bool base64) {
  std::string out = R"({"object":"list","data":[)";
  char num[32];
  std::string bytes;
  for (int i = 0; i < resp.data_size(); ++i) {
    const common::v1::Embedding& e = resp.data(i);
    absl::StrAppend(&out, i == 0 ? "" : ",", R"({"object":"embedding","index":)", e.index(),
                    R"(,"embedding":)");
    if (base64) {
      bytes.resize(static_cast<size_t>(e.values_size()) * 4);
      for (int j = 0; j < e.values_size(); ++j) {
        const float f = e.values(j);
        std::memcpy(bytes.data() + static_cast<size_t>(j) * 4, &f, 4);  // Little-endian float32.
      }
      absl::StrAppend(&out, "\"", absl::Base64Escape(bytes), "\"}");
      continue;
    }
    out.push_back('[');
    for (int j = 0; j < e.values_size(); ++j) {
      if (j > 0) out.push_back(',');
      // The shortest text that reads back as the same float.
      auto [end, ec] = std::to_chars(num, num + sizeof(num), e.values(j));
      out.append(num, ec == std::errc() ? end - num : 0);
    }
    out += "]}";
  }
  const int64_t tokens = resp.usage().prompt_tokens();
  absl::StrAppend(&out, R"(],"model":)", json::Quote(resp.model().empty() ? model : resp.model()),
                  R"(,"usage":{"prompt_tokens":)", tokens, R"(,"total_tokens":)",
                  resp.usage().total_tokens() > 0 ? resp.usage().total_tokens() : tokens, "}}");
  return out;
}

}  // namespace aimarket::edge
