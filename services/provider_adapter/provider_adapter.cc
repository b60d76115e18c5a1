#include "services/provider_adapter/provider_adapter.h"

#include "absl/strings/str_cat.h"

namespace aimarket::provider {
namespace {

absl::Status NotBuiltYet(absl::string_view rpc) {
  return absl::UnimplementedError(absl::StrCat("ProviderService.", rpc, " is not implemented yet"));
}

}  // namespace

ProviderAdapter::ProviderAdapter(const config::v1::Config& config) : config_(config) {}

void ProviderAdapter::Generate(rpc::CallContext, const v1::GenerateRequest&,
                               rpc::StreamObserver<common::v1::ChatEvent>& observer) {
  observer.OnComplete(NotBuiltYet("Generate"));
}

absl::StatusOr<common::v1::EmbedResponse> ProviderAdapter::Embed(const rpc::CallContext&, const v1::EmbedRequest&) {
  return NotBuiltYet("Embed");
}

absl::StatusOr<v1::CheckHealthResponse> ProviderAdapter::CheckHealth(const rpc::CallContext&,
                                                                     const v1::CheckHealthRequest&) {
  (void)config_;
  return NotBuiltYet("CheckHealth");
}

}  // namespace aimarket::provider
