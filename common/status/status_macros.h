#pragma once

// Early-return helpers for absl::Status / absl::StatusOr (Abseil 20220623 has none).
//
//   AIM_RETURN_IF_ERROR(DoThing());
//   AIM_ASSIGN_OR_RETURN(Foo foo, MakeFoo());

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define AIM_STATUS_CONCAT_INNER(a, b) a##b
#define AIM_STATUS_CONCAT(a, b) AIM_STATUS_CONCAT_INNER(a, b)

#define AIM_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status aim_status_ = (expr);       \
    if (!aim_status_.ok()) return aim_status_; \
  } while (false)

#define AIM_ASSIGN_OR_RETURN(lhs, expr) \
  AIM_ASSIGN_OR_RETURN_IMPL(AIM_STATUS_CONCAT(aim_statusor_, __LINE__), lhs, expr)

#define AIM_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr)     \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)
