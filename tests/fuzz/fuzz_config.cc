// The config loader: any YAML text is a config or an error naming a key, never a crash.

#include <cstddef>
#include <cstdint>

#include "common/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)aimarket::config::ParseConfig(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
