#include "services/edge/route_table.h"

#include "absl/strings/match.h"

namespace aimarket::edge {

const Route* RouteTable::Find(absl::string_view path) const {
  for (const Route& r : routes_) {
    if (!absl::StartsWith(path, r.path)) continue;
    if (path.size() == r.path.size()) return &r;
    if (r.match == Route::Match::kSubtree && path[r.path.size()] == '/') return &r;
  }
  return nullptr;
}

bool RouteTable::Allows(const Route& route, absl::string_view method) {
  if (route.method.empty() || method == route.method) return true;
  return route.method == "GET" && method == "HEAD";
}

}  // namespace aimarket::edge
