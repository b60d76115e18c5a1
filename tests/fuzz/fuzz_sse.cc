// The SSE parser, fed the input in pieces cut anywhere: every event's data is what the stream
// said, nothing is lost or invented when the same bytes arrive whole or byte by byte.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "services/provider_adapter/http/sse_parser.h"

namespace {

std::vector<std::string> Parse(absl::string_view input, size_t step, std::string* rest) {
  std::vector<std::string> events;
  aimarket::provider::SseParser p([&](absl::string_view event, absl::string_view data) {
    events.push_back(std::string(event) + "\x01" + std::string(data));
  });
  for (size_t at = 0; at < input.size(); at += step) p.Feed(input.substr(at, step));
  *rest = p.Finish();
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::string rest_whole, rest_bytes;
  const std::vector<std::string> whole = Parse(input, input.size() + 1, &rest_whole);
  const std::vector<std::string> bytes = Parse(input, 1, &rest_bytes);
  if (whole != bytes || rest_whole != rest_bytes) __builtin_trap();
  return 0;
}
