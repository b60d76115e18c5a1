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
#include "services/router/reservation_book.h"
#include "services/router/settler.h"

namespace aimarket::router {

struct Pipeline {
  Pipeline(usage::MeteringApi& metering, provider::ProviderApi& provider,
           time::Clock& clock = time::RealClock::Get(), BatchingSettler::Options settle = {},
           ReservationBook::Options book_options = {})
      : book(metering, book_options),
        admission(metering, &book),
        settler(metering, clock, settle, &book),
        dispatcher(admission, planner, settler, provider, clock) {}

  // What this router holds at metering, re-sent to a restarted one.
  ReservationBook book;
  MeteringAdmission admission;
  PriorityPlanner planner;
  BatchingSettler settler;
  Dispatcher dispatcher;
};

}  // namespace aimarket::router
