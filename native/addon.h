// SPDX-License-Identifier: Apache-2.0
// Per-environment constructors, so that one native class can hand out instances of another
// (a loaded object returns maps and programs; opening a pin returns a map, program or link).
#pragma once
#include <napi.h>

namespace bo {

struct AddonData {
  Napi::FunctionReference map;
  Napi::FunctionReference program;
  Napi::FunctionReference link;
  Napi::FunctionReference object;
};

inline AddonData& Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace bo
