#pragma once

// Structured logs: one JSON object per line on stderr, e.g.
//   {"ts":"2026-11-28T22:40:00.123Z","level":"info","msg":"listening","service":"edge","addr":"0.0.0.0:8080"}
//
//   log::Info("request done", {{"request_id", id}, {"team", team}, {"code", "OK"}});
//
// Never log an API key, a prompt or a completion: field names that usually hold one
// ("authorization", "api_key", "key", "prompt", "messages", "content", ...) are written as
// "[redacted]" whatever their value, as a last line of defence.

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace aimarket::log {

enum class Level { kDebug, kInfo, kWarn, kError };

struct Field {
  Field(absl::string_view k, absl::string_view v) : key(k), value(v) {}
  Field(absl::string_view k, const std::string& v) : key(k), value(v) {}
  Field(absl::string_view k, const char* v) : key(k), value(v) {}
  Field(absl::string_view k, long long v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(absl::string_view k, int v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(absl::string_view k, double v) : key(k), value(std::to_string(v)), quoted(false) {}
  Field(absl::string_view k, bool v) : key(k), value(v ? "true" : "false"), quoted(false) {}
  absl::string_view key;
  std::string value;
  bool quoted = true;
};
using Fields = std::initializer_list<Field>;

// Sets the minimum level written; "debug", "info", "warn" or "error". Returns false if unknown.
bool SetLevel(absl::string_view level);
// Sets the "service" field written on every line of this process (e.g. "aimarketd").
void SetProcessName(absl::string_view name);

// Formats one line without writing it (exposed for tests).
std::string Format(Level level, absl::string_view msg, Fields fields);

void Write(Level level, absl::string_view msg, Fields fields);
// Whether a line of `level` would be written (to skip building its fields on a hot path).
bool Enabled(Level level);
inline void Debug(absl::string_view msg, Fields fields = {}) { Write(Level::kDebug, msg, fields); }
inline void Info(absl::string_view msg, Fields fields = {}) { Write(Level::kInfo, msg, fields); }
inline void Warn(absl::string_view msg, Fields fields = {}) { Write(Level::kWarn, msg, fields); }
inline void Error(absl::string_view msg, Fields fields = {}) { Write(Level::kError, msg, fields); }

}  // namespace aimarket::log
