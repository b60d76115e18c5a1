#pragma once

// Which event loop the calling thread runs, so that work started on that thread can stay on it.
//
// A component that drives its own I/O on Asio (the edge's HTTP server, the provider-adapter's
// libcurl client) marks each of its loop threads with a LoopThread for the thread's lifetime.
// Another component called on such a thread may then put its sockets on the same loop instead of
// handing the work to a thread of its own: in the all-in-one process an inference request then
// runs from the client's socket to the upstream's and back on one thread, without a cross-thread
// wake-up (see docs/benchmarks.md).
//
// Only an io_context that exactly one thread runs may be marked, so that whatever the loop's
// users keep per loop needs no lock.

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace aimarket::io {

// The io_context the calling thread runs alone, or null.
boost::asio::io_context* CurrentLoop();

// Marks the calling thread as the only runner of `loop` while alive.
class LoopThread {
 public:
  explicit LoopThread(boost::asio::io_context& loop);
  ~LoopThread();
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

 private:
  boost::asio::io_context* previous_;
};

}  // namespace aimarket::io
