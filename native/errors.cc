// SPDX-License-Identifier: Apache-2.0
#include "errors.h"

namespace bo {

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& what) {
  Napi::Error e = Napi::Error::New(env, what);
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

Napi::Error ErrnoErrorWithLog(Napi::Env env, int err, const std::string& what, const std::string& log) {
  Napi::Error e = ErrnoError(env, err, what);
  e.Set("log", Napi::String::New(env, log));
  return e;
}

Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t index, const char* field) {
  if (info.Length() <= index || !info[index].IsBuffer())
    throw Napi::TypeError::New(info.Env(), std::string(field) + " must be a Buffer");
  return info[index].As<Napi::Buffer<uint8_t>>();
}

std::string StringArg(const Napi::CallbackInfo& info, size_t index, const char* field) {
  if (info.Length() <= index || !info[index].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(field) + " must be a string");
  return info[index].As<Napi::String>().Utf8Value();
}

uint32_t U32Arg(const Napi::CallbackInfo& info, size_t index, const char* field) {
  if (info.Length() <= index || !info[index].IsNumber())
    throw Napi::TypeError::New(info.Env(), std::string(field) + " must be a number");
  double v = info[index].As<Napi::Number>().DoubleValue();
  if (v < 0 || v > 4294967295.0 || v != static_cast<double>(static_cast<uint32_t>(v)))
    throw Napi::RangeError::New(info.Env(), std::string(field) + " must be an integer in 0..2^32-1");
  return static_cast<uint32_t>(v);
}

}  // namespace bo
