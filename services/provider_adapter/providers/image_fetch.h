#pragma once

// Remote images for providers that need the bytes (Ollama): off unless `remote_images.fetch` is
// set; then fetched by aimarket with every restriction of HttpCallRequest::public_https_only.

#include <map>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "aimarket/common/v1/chat.pb.h"
#include "aimarket/config/v1/config.pb.h"
#include "common/rpc/call_context.h"
#include "services/provider_adapter/http/http_client.h"
#include "services/provider_adapter/providers/translate_util.h"

namespace aimarket::provider {

struct RemoteImage {
  std::string url;
  std::string param;  // "messages[1].content[0].image_url.url"
};

// The request's images given by http(s) URL, in order.
std::vector<RemoteImage> RemoteImages(const common::v1::ChatRequest& req);

// Fetches `images` one after another and calls `done` once, on the client's loop thread: with
// url → (MIME type, base64) for all of them, or with a 400 naming the field of the first that could
// not be fetched (not https, a non-public address, not an image, too large, too slow, an HTTP
// error).
void FetchImages(HttpClient& http, const config::v1::RemoteImagesConfig& config,
                 std::vector<RemoteImage> images, const rpc::CallContext& ctx,
                 absl::AnyInvocable<void(absl::StatusOr<std::map<std::string, DataUrl>>)> done);

}  // namespace aimarket::provider
