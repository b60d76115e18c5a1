#pragma once

// Process set-up shared by aimarketd and the tools: shutdown signals and descriptor limits.

namespace aimarket::process {

// Blocks SIGTERM and SIGINT in the calling thread (call it before any thread starts, so that every
// thread inherits the mask and only WaitForShutdownSignal() receives them), ignores SIGPIPE, and
// raises the open-file limit to its hard limit (a gateway holds two sockets per open stream).
void Prepare();

// Blocks until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForShutdownSignal();

}  // namespace aimarket::process
