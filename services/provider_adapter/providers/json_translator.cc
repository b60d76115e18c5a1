#include "services/provider_adapter/providers/json_translator.h"

#include <utility>

#include "absl/time/clock.h"
#include "common/json/stack_document.h"
#include "common/status/status_macros.h"
#include "services/provider_adapter/providers/translate_util.h"

namespace aimarket::provider {

JsonTranslator::JsonTranslator(absl::string_view provider, std::string id, std::string model,
                               Options options)
    : Translator(std::string(provider)),
      out_(std::move(id), std::move(model), absl::ToUnixSeconds(absl::Now())),
      options_(options) {}

absl::Status JsonTranslator::OnEvent(absl::string_view name, absl::string_view data,
                                     EventSink& sink) {
  json::StackDocument doc;
  AIM_RETURN_IF_ERROR(ParseObject(provider(), data, options_.unit, *doc));
  return OnJson(name, *doc, sink);
}

absl::Status JsonTranslator::OnEnd(absl::string_view, EventSink&) {
  if (ended_) return absl::OkStatus();
  return StreamCutShort(provider(), options_.cut_short);
}

absl::Status JsonTranslator::OnBody(std::string body, EventSink& sink) {
  json::StackDocument doc;
  AIM_RETURN_IF_ERROR(ParseObject(provider(), body, "an answer", *doc));
  Completion c;
  c.id = out_.id();
  c.model = out_.model();
  c.created = absl::ToUnixSeconds(absl::Now());
  AIM_RETURN_IF_ERROR(ReadAnswer(*doc, c));
  sink.Emit(RenderCompletion(c));
  return absl::OkStatus();
}

}  // namespace aimarket::provider
