#pragma once

// Maps a YAML document onto a protobuf message by field name, using the message's descriptor.
// Keys are the proto field names (snake_case). Errors name the key by its full path and line:
//   "edge.listne (line 3): unknown key; expected one of: listen, io_threads, ..."
//   "providers[0].type (line 7): invalid value "opneai"; expected one of: openai, anthropic, ..."
//
// Supported: nested messages, repeated fields, map<string, scalar>, every scalar type, enums (by
// their name without the type prefix, lower case, '-' for '_'), and google.protobuf.Duration
// written as "250ms", "5s", "2m", "1h".

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace google::protobuf {
class Message;
}

namespace aimarket::config {

// Clears nothing: fields absent from the YAML keep their value. Returns INVALID_ARGUMENT naming
// the key on an unknown key, a wrong type, or malformed YAML.
absl::Status MergeYamlIntoProto(absl::string_view yaml, google::protobuf::Message& message);

}  // namespace aimarket::config
