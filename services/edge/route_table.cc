#include "services/edge/route_table.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "services/edge/error_body.h"
#include "services/edge/rest.h"

namespace aimarket::edge {
namespace {

// A route table is written in code: a malformed row is a programming error, found at start.
void Require(bool ok, const std::string& pattern, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "route %s: %s\n", pattern.c_str(), what);
  std::abort();
}

}  // namespace

const std::string& PathParams::operator[](absl::string_view name) const {
  static const std::string* const kNone = new std::string();
  for (const auto& [k, v] : values_) {
    if (k == name) return v;
  }
  return *kNone;
}

void RouteTable::Add(Route route) {
  Require(absl::StartsWith(route.pattern, "/"), route.pattern, "must start with /");
  Require(!route.method.empty(), route.pattern, "needs a method");
  Require(static_cast<bool>(route.respond) != static_cast<bool>(route.take), route.pattern,
          "needs exactly one of respond and take");
  Entry e;
  for (absl::string_view s : absl::StrSplit(absl::string_view(route.pattern).substr(1), '/')) {
    Segment seg;
    if (absl::ConsumePrefix(&s, "{") && absl::ConsumeSuffix(&s, "}")) {
      seg.capture = true;
      seg.rest = absl::ConsumeSuffix(&s, "...");
    }
    Require(!s.empty(), route.pattern, "has an empty segment");
    Require(e.segments.empty() || !e.segments.back().rest, route.pattern,
            "has a segment after {name...}");
    seg.text = std::string(s);
    e.segments.push_back(std::move(seg));
  }
  e.literal = std::none_of(e.segments.begin(), e.segments.end(),
                           [](const Segment& seg) { return seg.capture; });
  e.route = std::move(route);
  routes_.push_back(std::move(e));
}

bool RouteTable::Matches(const Entry& e, const std::vector<absl::string_view>& parts,
                         PathParams* params) {
  const bool rest = !e.segments.empty() && e.segments.back().rest;
  if (rest ? parts.size() < e.segments.size() : parts.size() != e.segments.size()) return false;
  for (size_t i = 0; i < e.segments.size(); ++i) {
    const Segment& seg = e.segments[i];
    if (!seg.capture) {
      if (parts[i] != seg.text) return false;
      continue;
    }
    std::string value;
    if (seg.rest) {
      std::vector<absl::string_view> tail(parts.begin() + i, parts.end());
      for (absl::string_view p : tail) {
        if (p.empty()) return false;
      }
      value = PercentDecode(absl::StrJoin(tail, "/"));
    } else {
      value = PercentDecode(parts[i]);
      if (absl::StrContains(value, '/')) return false;
    }
    if (!rest::IsCleanParam(value)) return false;
    if (params != nullptr) params->Add(seg.text, std::move(value));
  }
  return true;
}

RouteTable::Found RouteTable::Find(absl::string_view method, absl::string_view path) const {
  Found found;
  if (!absl::StartsWith(path, "/")) return found;
  // A literal route compares the whole path; the path is split (once) only when a template is
  // tried, so the data plane's routes, literal and first, cost no allocation.
  std::optional<std::vector<absl::string_view>> parts;
  auto matches = [&](const Entry& e, PathParams* params) {
    if (e.literal) return path == e.route.pattern;
    if (!parts) parts.emplace(absl::StrSplit(path.substr(1), '/'));
    return Matches(e, *parts, params);
  };
  std::vector<absl::string_view> allowed;
  for (const Entry& e : routes_) {
    const Route& r = e.route;
    const bool takes = method == r.method || (method == "HEAD" && r.method == "GET");
    if (!takes) {
      if (std::find(allowed.begin(), allowed.end(), r.method) == allowed.end() &&
          matches(e, nullptr)) {
        allowed.push_back(r.method);
      }
      continue;
    }
    PathParams params;
    if (matches(e, &params)) {
      found.route = &r;
      found.params = std::move(params);
      return found;
    }
  }
  found.allow = absl::StrJoin(allowed, ", ");
  return found;
}

HttpResponse RouteTable::Refusal(const Found& found, const HttpRequest& request) {
  if (found.allow.empty()) return ErrorResponse(rest::NotFoundPath(request));
  return MethodNotAllowed(request, found.allow);
}

HttpResponse RouteTable::RespondNow(const HttpRequest& request, const rpc::CallContext& ctx) const {
  const Found found = Find(request.method, request.Path());
  if (found.route == nullptr) return Refusal(found, request);
  Require(static_cast<bool>(found.route->respond), found.route->pattern, "has no respond");
  return found.route->respond(Call{request, found.params, ctx});
}

}  // namespace aimarket::edge
