#pragma once

// An incremental parser of text/event-stream bodies, fed with whatever pieces the network gives.
// It copes with "data:" with or without the space, LF, CRLF or CR line ends, comments and
// keep-alives (":..." lines), several data lines per event, and events (or multi-byte UTF-8
// characters) split anywhere across reads: nothing is emitted before its line is complete.
//
//   SseParser p([&](absl::string_view event, absl::string_view data) { ... });
//   p.Feed(piece1); p.Feed(piece2); p.Finish();

#include <functional>
#include <string>

#include "absl/strings/string_view.h"

namespace aimarket::provider {

class SseParser {
 public:
  // Called once per event with its `event:` name (empty if none) and its data lines joined by "\n".
  using Callback = std::function<void(absl::string_view event, absl::string_view data)>;
  explicit SseParser(Callback cb) : cb_(std::move(cb)) {}

  void Feed(absl::string_view bytes);
  // The body ended: dispatches an event that lacked its final blank line. Returns the bytes of an
  // unterminated last line that was not a complete field (e.g. a bare JSON error object that some
  // providers append without "data:"), or "".
  std::string Finish();

  // Bytes held for an event not complete yet (a stream that never ends its line or event grows it).
  size_t pending() const { return buf_.size() + data_.size() + unframed_.size(); }

 private:
  void Line(absl::string_view line);
  void Dispatch();

  Callback cb_;
  std::string buf_;    // Bytes of an incomplete line.
  std::string event_;  // Current event name.
  std::string data_;   // Current data, lines joined by "\n".
  bool has_data_ = false;
  bool last_was_cr_ = false;
  std::string unframed_;  // Lines that are not SSE fields (kept for Finish()).
};

}  // namespace aimarket::provider
