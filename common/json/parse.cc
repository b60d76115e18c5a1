#include "common/json/parse.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status/error.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"

namespace aimarket::json {
namespace {

using rapidjson::SizeType;

// What went wrong beyond RapidJSON's own syntax errors.
enum class Fault { kNone, kTooDeep, kBadString, kNulInKey };

// Passes RapidJSON's SAX events on to the document, counting depth and checking strings.
class Guard {
 public:
  Guard(rapidjson::Document& d, const ParseOptions& options) : d_(d), options_(options) {}

  bool Null() { return d_.Null(); }
  bool Bool(bool b) { return d_.Bool(b); }
  bool Int(int i) { return d_.Int(i); }
  bool Uint(unsigned u) { return d_.Uint(u); }
  bool Int64(int64_t i) { return d_.Int64(i); }
  bool Uint64(uint64_t u) { return d_.Uint64(u); }
  bool Double(double x) { return d_.Double(x); }
  bool RawNumber(const char* s, SizeType n, bool copy) { return d_.RawNumber(s, n, copy); }
  bool String(const char* s, SizeType n, bool copy) {
    if (options_.strict && !CheckString(s, n)) return false;
    return d_.String(s, n, copy);
  }
  bool Key(const char* s, SizeType n, bool copy) {
    if (options_.strict) {
      if (std::memchr(s, 0, n) != nullptr) return Fail(Fault::kNulInKey);
      if (!CheckString(s, n)) return false;
    }
    return d_.Key(s, n, copy);
  }
  bool StartObject() { return Enter() && d_.StartObject(); }
  bool EndObject(SizeType n) {
    --depth_;
    return d_.EndObject(n);
  }
  bool StartArray() { return Enter() && d_.StartArray(); }
  bool EndArray(SizeType n) {
    --depth_;
    return d_.EndArray(n);
  }

  Fault fault() const { return fault_; }

 private:
  bool Enter() {
    if (++depth_ > options_.max_depth) return Fail(Fault::kTooDeep);
    return true;
  }
  bool Fail(Fault f) {
    fault_ = f;
    return false;
  }
  // The reader validated the raw bytes; a `\u` escape can still decode to a lone surrogate
  // (U+D800..U+DFFF, encoded ED A0..BF xx), which is not UTF-8.
  bool CheckString(const char* s, SizeType n) {
    const char* end = s + n;
    for (const char* p = s;
         (p = static_cast<const char*>(std::memchr(p, '\xED', end - p))) != nullptr; ++p) {
      if (p + 1 < end && static_cast<unsigned char>(p[1]) >= 0xA0) return Fail(Fault::kBadString);
    }
    return true;
  }

  rapidjson::Document& d_;
  const ParseOptions& options_;
  int depth_ = 0;
  Fault fault_ = Fault::kNone;
};

bool SameKey(const rapidjson::Value& a, const rapidjson::Value& b) {
  return a.GetStringLength() == b.GetStringLength() &&
         std::memcmp(a.GetString(), b.GetString(), a.GetStringLength()) == 0;
}

// The first key that appears twice in some object of `v`, or null. Recursion is bounded by the
// depth limit the parse enforced.
const rapidjson::Value* DuplicateKey(const rapidjson::Value& v) {
  if (v.IsArray()) {
    for (const rapidjson::Value& e : v.GetArray()) {
      if (e.IsObject() || e.IsArray()) {
        if (const rapidjson::Value* dup = DuplicateKey(e)) return dup;
      }
    }
    return nullptr;
  }
  if (!v.IsObject()) return nullptr;
  const SizeType n = v.MemberCount();
  const auto m = v.MemberBegin();
  if (n <= 16) {
    for (SizeType i = 1; i < n; ++i) {
      for (SizeType j = 0; j < i; ++j) {
        if (SameKey(m[i].name, m[j].name)) return &m[i].name;
      }
    }
  } else {
    std::vector<absl::string_view> keys;
    keys.reserve(n);
    for (SizeType i = 0; i < n; ++i) keys.push_back(View(m[i].name));
    std::sort(keys.begin(), keys.end());
    for (SizeType i = 1; i < n; ++i) {
      if (keys[i] == keys[i - 1]) {
        for (SizeType j = 0; j < n; ++j) {
          if (View(m[j].name) == keys[i]) return &m[j].name;
        }
      }
    }
  }
  for (SizeType i = 0; i < n; ++i) {
    if (m[i].value.IsObject() || m[i].value.IsArray()) {
      if (const rapidjson::Value* dup = DuplicateKey(m[i].value)) return dup;
    }
  }
  return nullptr;
}

absl::Status Invalid(absl::string_view what) {
  return status::Error(
      absl::StatusCode::kInvalidArgument, "INVALID_JSON",
      absl::StrCat("We could not parse the JSON body of your request: ", what, "."));
}

// A key for an error message: short, printable ASCII only (the rest is elided).
std::string Printable(absl::string_view key) {
  std::string out;
  for (char c : key.substr(0, 64))
    out.push_back(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? c : '?');
  if (key.size() > 64) out += "...";
  return out;
}

}  // namespace

absl::Status Parse(rapidjson::Document& d, absl::string_view text, const ParseOptions& options) {
  Guard guard(d, options);
  rapidjson::MemoryStream ms(text.data(), text.size());
  rapidjson::ParseResult result;
  size_t consumed = 0;
  auto generate = [&](rapidjson::Document& handler) {
    (void)handler;  // The guard forwards to `d`, which is `handler`.
    rapidjson::Reader reader;
    result = options.strict || options.validate_utf8
                 ? reader.Parse<rapidjson::kParseValidateEncodingFlag>(ms, guard)
                 : reader.Parse<rapidjson::kParseDefaultFlags>(ms, guard);
    consumed = ms.Tell();
    return !result.IsError();
  };
  d.SetNull();
  d.Populate(generate);
  if (result.IsError()) {
    d.SetNull();
    switch (guard.fault()) {
      case Fault::kTooDeep:
        return Invalid(absl::StrCat("it nests arrays and objects deeper than ", options.max_depth,
                                    " levels (at byte ", result.Offset(), ")"));
      case Fault::kBadString:
        return Invalid(
            absl::StrCat("a string is not valid UTF-8 (a lone surrogate escape, before byte ",
                         result.Offset(), ")"));
      case Fault::kNulInKey:
        return Invalid(absl::StrCat("an object key contains a NUL character (before byte ",
                                    result.Offset(), ")"));
      case Fault::kNone:
        break;
    }
    if (result.Code() == rapidjson::kParseErrorStringInvalidEncoding) {
      return Invalid(absl::StrCat("the text is not valid UTF-8 (at byte ", result.Offset(), ")"));
    }
    return Invalid(absl::StrCat(rapidjson::GetParseError_En(result.Code()), " (at byte ",
                                result.Offset(), ")"));
  }
  if (!options.strict) return absl::OkStatus();
  // RapidJSON's memory stream reads a NUL byte as the end of the text.
  if (consumed != text.size()) {
    d.SetNull();
    return Invalid(absl::StrCat("unexpected data after the JSON value (at byte ", consumed, ")"));
  }
  if (const rapidjson::Value* dup = DuplicateKey(d)) {
    const std::string key = Printable(View(*dup));
    d.SetNull();
    return status::Error(
        absl::StatusCode::kInvalidArgument, "INVALID_JSON",
        absl::StrCat("We could not parse the JSON body of your request: the key \"", key,
                     "\" appears twice in one object."));
  }
  return absl::OkStatus();
}

bool ParseBounded(rapidjson::Document& d, absl::string_view text, bool validate_utf8) {
  static const ParseOptions kLenient{
      .max_depth = kMaxDepth, .strict = false, .validate_utf8 = false};
  static const ParseOptions kUtf8{.max_depth = kMaxDepth, .strict = false, .validate_utf8 = true};
  return Parse(d, text, validate_utf8 ? kUtf8 : kLenient).ok();
}

}  // namespace aimarket::json
