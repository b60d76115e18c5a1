#include "services/provider_adapter/http/sse_parser.h"

#include "absl/strings/match.h"

namespace aimarket::provider {

void SseParser::Feed(absl::string_view bytes) {
  size_t start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (c != '\n' && c != '\r') {
      last_was_cr_ = false;
      continue;
    }
    if (c == '\n' && last_was_cr_ && i == start) {
      // The LF of a CRLF whose CR ended the previous piece or line.
      last_was_cr_ = false;
      start = i + 1;
      continue;
    }
    last_was_cr_ = c == '\r';
    if (buf_.empty()) {
      Line(bytes.substr(start, i - start));
    } else {
      buf_.append(bytes.data() + start, i - start);
      Line(buf_);
      buf_.clear();
    }
    start = i + 1;
  }
  buf_.append(bytes.data() + start, bytes.size() - start);
}

void SseParser::Line(absl::string_view line) {
  if (line.empty()) return Dispatch();
  if (line.front() == ':') return;  // Comment or keep-alive.
  absl::string_view field = line;
  absl::string_view value;
  const size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value.data(), value.size());
    has_data_ = true;
  } else if (field == "event") {
    event_ = std::string(value);
  } else if (field == "id" || field == "retry") {
    // Not used by any provider we speak.
  } else {
    if (!unframed_.empty()) unframed_.push_back('\n');
    unframed_.append(line.data(), line.size());
  }
}

void SseParser::Dispatch() {
  if (has_data_ || !event_.empty()) cb_(event_, data_);
  event_.clear();
  data_.clear();
  has_data_ = false;
}

std::string SseParser::Finish() {
  if (!buf_.empty()) {
    std::string last;
    last.swap(buf_);
    const absl::string_view view = last;
    if (absl::StartsWith(view, "data") || absl::StartsWith(view, "event")) {
      Line(last);
    } else {
      if (!unframed_.empty()) unframed_.push_back('\n');
      unframed_ += last;
    }
  }
  Dispatch();
  return std::move(unframed_);
}

}  // namespace aimarket::provider
