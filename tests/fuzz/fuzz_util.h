#pragma once

// What the fuzz targets share: the provider configurations they drive (every wire format), and
// the translation tests' fake upstream, which hands a target the adapter's request and lets it
// answer with fuzzed bytes.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "aimarket/common/v1/chat.pb.h"
#include "aimarket/config/v1/config.pb.h"
#include "common/rpc/call_context.h"
#include "services/provider_adapter/providers/translation_test_util.h"

namespace aimarket::fuzz {

// The fake upstream and the event collector are the translation tests' own.
using provider::testing::Collector;
using provider::testing::FakeHttp;

// Every wire format (Hugging Face in its three APIs), by name: "openai", "anthropic", ...
struct NamedConfig {
  const char* name;
  config::v1::ProviderConfig config;
};
const std::vector<NamedConfig>& ProviderConfigs();

}  // namespace aimarket::fuzz
