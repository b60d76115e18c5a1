#include "services/provider_adapter/providers/image_fetch.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/config/config.h"
#include "common/status/error.h"

namespace aimarket::provider {
namespace {

absl::Status CannotFetch(const RemoteImage& image, absl::string_view why) {
  return status::Error(absl::StatusCode::kInvalidArgument, "INVALID_IMAGE_URL",
                       absl::StrCat("Invalid value for '", image.param,
                                    "': the image could not be fetched (", why, ")."))
      .Param(image.param);
}

// Fetches the images one at a time; deletes itself after calling `done`.
class ImageFetch final : public HttpCallHandler {
 public:
  ImageFetch(HttpClient& http, const config::v1::RemoteImagesConfig& config,
             std::vector<RemoteImage> images, const rpc::CallContext& ctx,
             absl::AnyInvocable<void(absl::StatusOr<std::map<std::string, DataUrl>>)> done)
      : http_(http),
        config_(config),
        images_(std::move(images)),
        cancellation_(ctx.cancellation),
        done_(std::move(done)) {}

  void Next() {
    const RemoteImage& image = images_[at_];
    if (!absl::StartsWith(absl::AsciiStrToLower(image.url), "https://"))
      return Finish(CannotFetch(image, "https only"));
    // A client's URL goes to curl as it is only if it is one: printable ASCII, no spaces or control
    // characters (which could otherwise end a request line or a header), of a sane length.
    if (image.url.size() > 8192 ||
        std::any_of(image.url.begin(), image.url.end(),
                    [](unsigned char c) { return c <= 0x20 || c >= 0x7f; })) {
      return Finish(CannotFetch(image, "not a valid URL"));
    }
    HttpCallRequest r;
    r.method = "GET";
    r.url = image.url;
    r.headers.push_back("Accept: image/*");
    r.public_https_only = true;
    r.max_body_bytes = config_.max_bytes();
    r.total_timeout = config::ToDuration(config_.timeout());
    r.connect_timeout = r.first_byte_timeout = r.idle_timeout = r.total_timeout;
    status_ = 0;
    mime_.clear();
    body_.clear();
    absl::MutexLock lock(&start_mu_);  // OnComplete may run on another thread before Start returns.
    call_ = http_.Start(std::move(r), *this);
    cancel_id_ = cancellation_->OnCancel([call = call_] { call->Cancel(); });
  }

  void OnHeaders(int status,
                 const std::vector<std::pair<std::string, std::string>>& headers) override {
    status_ = status;
    for (const auto& [k, v] : headers) {
      if (k == "content-type") mime_ = absl::AsciiStrToLower(v.substr(0, v.find(';')));
    }
  }
  void OnData(absl::string_view data) override { body_.append(data.data(), data.size()); }

  void OnComplete(const absl::Status& transport) override {
    { absl::MutexLock lock(&start_mu_); }
    cancellation_->RemoveCallback(cancel_id_);
    const RemoteImage& image = images_[at_];
    if (!transport.ok()) {
      const bool refused =
          transport.code() == absl::StatusCode::kUnavailable && body_.empty() && status_ == 0;
      return Finish(CannotFetch(
          image, refused ? "https to a public address only, no redirects; or unreachable"
                         : std::string(transport.message())));
    }
    if (status_ < 200 || status_ >= 300)
      return Finish(CannotFetch(image, absl::StrCat("HTTP ", status_)));
    if (!absl::StartsWith(mime_, "image/")) return Finish(CannotFetch(image, "not an image"));
    if (body_.empty()) return Finish(CannotFetch(image, "empty"));
    fetched_[image.url] = DataUrl{mime_, absl::Base64Escape(body_)};
    if (++at_ < images_.size()) return Next();
    Finish(std::move(fetched_));
  }

 private:
  void Finish(absl::StatusOr<std::map<std::string, DataUrl>> result) {
    auto done = std::move(done_);
    delete this;
    done(std::move(result));
  }

  HttpClient& http_;
  const config::v1::RemoteImagesConfig& config_;
  std::vector<RemoteImage> images_;
  std::shared_ptr<rpc::Cancellation> cancellation_;
  absl::AnyInvocable<void(absl::StatusOr<std::map<std::string, DataUrl>>)> done_;
  absl::Mutex start_mu_;
  std::shared_ptr<HttpCall> call_;
  int cancel_id_ = 0;
  size_t at_ = 0;
  int status_ = 0;
  std::string mime_;
  std::string body_;
  std::map<std::string, DataUrl> fetched_;
};

}  // namespace

std::vector<RemoteImage> RemoteImages(const common::v1::ChatRequest& req) {
  std::vector<RemoteImage> out;
  for (int i = 0; i < req.messages_size(); ++i) {
    const common::v1::ChatMessage& m = req.messages(i);
    for (int j = 0; j < m.parts_size(); ++j) {
      if (!m.parts(j).has_image_url()) continue;
      const std::string& url = m.parts(j).image_url().url();
      if (ParseDataUrl(url).has_value()) continue;
      out.push_back({url, absl::StrCat("messages[", i, "].content[", j, "].image_url.url")});
    }
  }
  return out;
}

void FetchImages(HttpClient& http, const config::v1::RemoteImagesConfig& config,
                 std::vector<RemoteImage> images, const rpc::CallContext& ctx,
                 absl::AnyInvocable<void(absl::StatusOr<std::map<std::string, DataUrl>>)> done) {
  if (images.empty()) {
    done(std::map<std::string, DataUrl>());
    return;
  }
  (new ImageFetch(http, config, std::move(images), ctx, std::move(done)))->Next();
}

}  // namespace aimarket::provider
