// JS errors carrying errno: every native failure surfaces as an Error with `errno` (positive) and `code`
// (e.g. "ENOENT"), which the TS layer turns into BpfError / VerifierError.
#pragma once
#include <napi.h>

#include <string>

namespace bo {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& what);

// libbpf returns -errno (and sets errno); accept either sign.
inline int PositiveErrno(int ret) { return ret < 0 ? -ret : ret; }

Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t index, const char* field);
std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* field);
uint32_t U32Arg(const Napi::CallbackInfo& info, size_t index, const char* field);

}  // namespace bo
