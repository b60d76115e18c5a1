#pragma once

// Loading and validating aimarketd's configuration (aimarket.config.v1.Config).
//
//   absl::StatusOr<config::v1::Config> cfg = config::LoadConfigFile("aimarket.yaml");
//
// Every error names the key at fault, with its line when it comes from the file. A bad config is
// fatal: aimarketd exits non-zero before serving anything.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "aimarket/config/v1/config.pb.h"

namespace aimarket::config {

// Parses YAML text, fills in defaults and validates. INVALID_ARGUMENT names the bad key.
absl::StatusOr<v1::Config> ParseConfig(absl::string_view yaml);

// Reads the file, then ParseConfig. NOT_FOUND if the file cannot be read.
absl::StatusOr<v1::Config> LoadConfigFile(const std::string& path);

// Fills every unset field that has a default (documented in docs/configuration.md).
void ApplyDefaults(v1::Config& config);

// Checks cross-field rules: unique provider and model names, deployments naming known providers,
// well-formed addresses and URLs. INVALID_ARGUMENT naming the key.
absl::Status Validate(const v1::Config& config);

// The value of the environment variable `var`, which the config key `key` names.
// FAILED_PRECONDITION naming both when it is unset or empty (secrets fail fast).
absl::StatusOr<std::string> RequireEnv(absl::string_view var, absl::string_view key);

// What a public model name may be (what clients send as `model`, what the catalog lists): 1 to 256
// characters of letters, digits and - . _ : / @, with no empty, "." or ".." part between slashes.
// Such a name can go into a log, a header or (escaped) a URL path without shaping it.
inline constexpr size_t kMaxModelNameBytes = 256;
bool IsValidModelName(absl::string_view name);

// google.protobuf.Duration -> absl::Duration.
absl::Duration ToDuration(const google::protobuf::Duration& d);

}  // namespace aimarket::config
