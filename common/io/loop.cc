#include "common/io/loop.h"

namespace aimarket::io {
namespace {

thread_local boost::asio::io_context* current_loop = nullptr;

}  // namespace

boost::asio::io_context* CurrentLoop() { return current_loop; }

LoopThread::LoopThread(boost::asio::io_context& loop) : previous_(current_loop) {
  current_loop = &loop;
}

LoopThread::~LoopThread() { current_loop = previous_; }

}  // namespace aimarket::io
