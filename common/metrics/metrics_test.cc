#include "common/metrics/metrics.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace aimarket::metrics {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, SerializesRegisteredFamilies) {
  auto& family = prometheus::BuildCounter()
                     .Name("aimarket_test_events_total")
                     .Help("Events seen by the metrics test.")
                     .Register(Registry());
  family.Add({{"kind", "a"}}).Increment(3);
  const std::string text = Serialize();
  EXPECT_THAT(text, HasSubstr("# TYPE aimarket_test_events_total counter"));
  EXPECT_THAT(text, HasSubstr(R"(aimarket_test_events_total{kind="a"} 3)"));
  EXPECT_THAT(text, HasSubstr("aimarket_build_info"));
}

TEST(MetricsTest, ServerBindsAFreePort) {
  absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Start("127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
}

}  // namespace
}  // namespace aimarket::metrics
