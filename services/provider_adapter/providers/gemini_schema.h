#pragma once

// Gemini's `responseSchema` and function `parameters` take an OpenAPI 3.0 subset of JSON Schema,
// not JSON Schema itself: a request that sends a client's schema unchanged is refused by Gemini
// for the first `additionalProperties`, `$ref` or `["string", "null"]` it meets. This is the one
// reducer the Gemini request builder uses for both.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace aimarket::provider {

// The largest reduced schema (bytes of JSON) sent to Gemini.
inline constexpr size_t kMaxReducedSchemaBytes = 256 << 10;

// A JSON Schema reduced to what Gemini's OpenAPI-style Schema accepts: local $refs ("#/...")
// inlined, ["T", "null"] types turned into T + nullable, const into a one-value enum, and every
// keyword outside type, format, description, nullable, enum, items, properties, required, anyOf,
// minItems, maxItems, minimum, maximum, minLength, maxLength, pattern, title, propertyOrdering
// dropped (additionalProperties, $schema, $defs, strict, default, examples, ...). Nesting deeper
// than 32 levels, and a schema that is not an object, becomes {}. Text that is not JSON is
// {"type":"object"} (the client's parser has already checked it; Gemini is never sent invalid
// JSON). A schema whose
// `$ref`s expand past kMaxReducedSchemaBytes is INVALID_ARGUMENT naming `param`.
absl::StatusOr<std::string> ReduceSchemaForGemini(
    const std::string& schema_json, absl::string_view param = "response_format.json_schema.schema");

}  // namespace aimarket::provider
