// SPDX-License-Identifier: Apache-2.0
// JS errors carrying errno: every native failure surfaces as an Error whose message names the operation and
// its object, with a positive `errno` (and, for loads, the raw `log` libbpf printed). Naming the errno, wording
// it and classifying it (verifier rejection, "not supported") is the TS layer's job (src/control/kernel/errors.ts).
#pragma once
#include <napi.h>

#include <string>

namespace bo {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& what);
// The same, with what libbpf printed during the failed call.
Napi::Error ErrnoErrorWithLog(Napi::Env env, int err, const std::string& what, const std::string& log);

// libbpf returns -errno (and sets errno); accept either sign.
inline int PositiveErrno(int ret) { return ret < 0 ? -ret : ret; }

Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t index, const char* field);
std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* field);
uint32_t U32Arg(const Napi::CallbackInfo& info, size_t index, const char* field);

}  // namespace bo
