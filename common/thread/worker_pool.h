#pragma once

// A fixed set of threads for work that blocks (a database query, a call that waits for an
// upstream), so that no I/O thread and no gRPC callback thread ever waits. Run() queues; the
// destructor finishes what is queued and joins. Thread-safe.
//
//   WorkerPool pool(8);
//   pool.Run([&] { auto team = store.GetTeam(id); ... });

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace aimarket::thread {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Run(absl::AnyInvocable<void()> fn);

 private:
  void Work();

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace aimarket::thread
