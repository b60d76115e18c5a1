#include "common/log/log.h"

#include <atomic>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/json/json_escape.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace aimarket::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

std::string& ProcessName() {
  static std::string* name = new std::string("aimarketd");
  return *name;
}

spdlog::logger& Logger() {
  static spdlog::logger* logger = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto* l = new spdlog::logger("aimarket", sink);
    // The message is the JSON body after "ts" and "level"; see Format().
    l->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ",%v)", spdlog::pattern_time_type::utc);
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool IsSecretKey(absl::string_view key) {
  static constexpr absl::string_view kSecret[] = {
      "authorization", "api_key", "apikey",   "key",     "token",      "secret", "password",
      "dsn",           "prompt",  "messages", "content", "completion", "body",   "input"};
  const std::string lower = absl::AsciiStrToLower(key);
  for (absl::string_view s : kSecret) {
    if (lower == s) return true;
  }
  return false;
}

}  // namespace

bool Enabled(Level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

bool SetLevel(absl::string_view level) {
  if (level == "debug")
    g_level = static_cast<int>(Level::kDebug);
  else if (level == "info" || level.empty())
    g_level = static_cast<int>(Level::kInfo);
  else if (level == "warn")
    g_level = static_cast<int>(Level::kWarn);
  else if (level == "error")
    g_level = static_cast<int>(Level::kError);
  else
    return false;
  return true;
}

void SetProcessName(absl::string_view name) { ProcessName() = std::string(name); }

std::string Format(Level level, absl::string_view msg, Fields fields) {
  std::string out = absl::StrCat(R"("level":")", LevelName(level), R"(","msg":)");
  json::AppendQuoted(out, msg);
  bool has_service = false;
  for (const Field& f : fields) {
    if (f.key == "service") has_service = true;
    out.push_back(',');
    json::AppendQuoted(out, f.key);
    out.push_back(':');
    if (IsSecretKey(f.key)) {
      out += "\"[redacted]\"";
    } else if (f.quoted) {
      json::AppendQuoted(out, f.value);
    } else {
      out += f.value;
    }
  }
  if (!has_service) {
    out += R"(,"service":)";
    json::AppendQuoted(out, ProcessName());
  }
  out.push_back('}');
  return out;
}

void Write(Level level, absl::string_view msg, Fields fields) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  const std::string line = Format(level, msg, fields);
  Logger().log(spdlog::level::info, "{}", line);
}

}  // namespace aimarket::log
