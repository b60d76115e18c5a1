#pragma once

// The translator of an upstream that answers in its own JSON (every format but OpenAI's, which is
// passed through): each stream event and the whole body parsed once, bounded and in valid UTF-8,
// into a document on the stack; the call's ChunkWriter; the whole answer started with the call's
// id, model and time and rendered once read; and the check that a stream reached its end.
//
//   class MyTranslator final : public JsonTranslator {
//    public:
//     explicit MyTranslator(std::string model)
//         : JsonTranslator("my-provider", NewCompletionId(), std::move(model),
//                          {.cut_short = "ended before its done event"}) {}
//     absl::Status OnJson(absl::string_view name, const rapidjson::Value& d,
//                         EventSink& sink) override;  // End() on the last event
//     absl::Status ReadAnswer(const rapidjson::Value& d, Completion& c) override;
//   };

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"
#include "services/provider_adapter/providers/openai_output.h"
#include "services/provider_adapter/providers/upstream_call.h"

namespace aimarket::provider {

class JsonTranslator : public Translator {
 public:
  struct Options {
    // What one streamed piece is called in errors ("a line" for NDJSON).
    absl::string_view unit = "a stream event";
    // The default OnEnd's error for a stream that ended before End() ("ended before
    // message-end"); a translator that overrides OnEnd leaves it empty.
    absl::string_view cut_short = {};
  };

  // Parses `data` and hands it to OnJson.
  absl::Status OnEvent(absl::string_view name, absl::string_view data, EventSink& sink) override;
  // OK once End() was called; otherwise StreamCutShort with Options::cut_short.
  absl::Status OnEnd(absl::string_view unframed, EventSink& sink) override;
  // Parses `body`, reads it with ReadAnswer and emits it.
  absl::Status OnBody(std::string body, EventSink& sink) final;

 protected:
  // `id` "" when the upstream's own comes later (set it on out()).
  JsonTranslator(absl::string_view provider, std::string id, std::string model, Options options);

  // One streamed event or line, a JSON object.
  virtual absl::Status OnJson(absl::string_view name, const rapidjson::Value& d,
                              EventSink& sink) = 0;
  // The whole answer `d` (a JSON object) into `c`, which starts with this call's id, model and
  // the time now.
  virtual absl::Status ReadAnswer(const rapidjson::Value& d, Completion& c) = 0;

  ChunkWriter& out() { return out_; }
  // The stream reached its end (its last event).
  void End() { ended_ = true; }
  bool ended() const { return ended_; }

 private:
  ChunkWriter out_;
  const Options options_;
  bool ended_ = false;
};

}  // namespace aimarket::provider
