#pragma once

// POST /v1/embeddings: the request parsed and validated into EmbedRequest (errors name the field
// in `param`), and the router's answer written in OpenAI's shape, as float lists or as base64
// (little-endian float32, what the OpenAI SDKs ask for by default).

#include <string>

#include "absl/status/statusor.h"
#include "aimarket/common/v1/embedding.pb.h"

namespace aimarket::edge {

// `input` may be a string, an array of strings, or (for OpenAI-format upstreams, through the
// original body) an array of token ids or of such arrays; `encoding_format` float or base64;
// `dimensions` a positive integer.
absl::StatusOr<common::v1::EmbedRequest> ParseEmbedRequest(std::string body);

// {"object":"list","data":[{"object":"embedding","index","embedding"}],"model","usage"}.
std::string RenderEmbeddings(const common::v1::EmbedResponse& resp, const std::string& model,
                             bool base64);

}  // namespace aimarket::edge
