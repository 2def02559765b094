// SPDX-License-Identifier: Apache-2.0
// A loaded BPF map, by fd: element operations, iteration, batch operations, pinning.
// Values are raw bytes; per-CPU maps use the kernel layout (one 8-byte-rounded slot per possible CPU).
#pragma once
#include <napi.h>

#include "fd_holder.h"

namespace bo {

class NativeMap : public Napi::ObjectWrap<NativeMap>, public FdHolder {
 public:
  static Napi::Function Init(Napi::Env env);
  // Takes ownership of fd (closes it if the map cannot be described).
  static Napi::Object FromFd(Napi::Env env, int fd, const std::string& name);
  static Napi::Value OpenPinned(const Napi::CallbackInfo& info);

  explicit NativeMap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Lookup(const Napi::CallbackInfo& info);
  void Update(const Napi::CallbackInfo& info);
  Napi::Value Delete(const Napi::CallbackInfo& info);
  Napi::Value NextKey(const Napi::CallbackInfo& info);
  Napi::Value Keys(const Napi::CallbackInfo& info);
  Napi::Value LookupBatch(const Napi::CallbackInfo& info);
  void UpdateBatch(const Napi::CallbackInfo& info);
  Napi::Value DeleteBatch(const Napi::CallbackInfo& info);
  void Pin(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);

  void CheckKey(Napi::Env env, const Napi::Buffer<uint8_t>& key) const;
  size_t ValueBufSize() const;

  uint32_t type_ = 0, key_size_ = 0, value_size_ = 0, max_entries_ = 0, flags_ = 0, id_ = 0;
  bool per_cpu_ = false;
  int possible_cpus_ = 1;
};

}  // namespace bo
