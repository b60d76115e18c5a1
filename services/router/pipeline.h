#pragma once

// The router's pipeline with its default seams, owned together: admission by usage-metering, the
// config's priority order, settlements in batches. aimarketd and the tests build one.
//
//   router::Pipeline pipeline(metering, provider);
//   router::Router router(config, team, pipeline.dispatcher);
//   ...
//   pipeline.settler.Drain(absl::Now() + absl::Seconds(10));  // at shutdown

#include "common/time/clock.h"
#include "services/router/dispatch.h"
#include "services/router/settler.h"

namespace aimarket::router {

struct Pipeline {
  Pipeline(usage::MeteringApi& metering, provider::ProviderApi& provider,
           time::Clock& clock = time::RealClock::Get(), BatchingSettler::Options settle = {})
      : admission(metering),
        settler(metering, clock, settle),
        dispatcher(admission, planner, settler, provider, clock) {}

  MeteringAdmission admission;
  PriorityPlanner planner;
  BatchingSettler settler;
  Dispatcher dispatcher;
};

}  // namespace aimarket::router
