#pragma once

// A RapidJSON document whose values live in a buffer on the caller's stack until they outgrow it.
// A plain rapidjson::Document allocates a 64 KiB chunk from the heap on its first value; on the
// request path (a request parsed, rewritten and its answer read: several documents a request)
// that is a large allocation and release each time.
//
//   json::StackDocument doc;
//   AIM_RETURN_IF_ERROR(json::Parse(*doc, text));  // common/json/parse.h

#include <cstddef>

#include "rapidjson/document.h"

namespace aimarket::json {

class StackDocument {
 public:
  static constexpr size_t kBytes = 8192;

  StackDocument() : allocator_(buffer_, sizeof(buffer_)), doc_(&allocator_) {}
  StackDocument(const StackDocument&) = delete;
  StackDocument& operator=(const StackDocument&) = delete;

  rapidjson::Document& operator*() { return doc_; }
  rapidjson::Document* operator->() { return &doc_; }

 private:
  alignas(alignof(std::max_align_t)) char buffer_[kBytes];
  rapidjson::MemoryPoolAllocator<> allocator_;
  rapidjson::Document doc_;
};

}  // namespace aimarket::json
