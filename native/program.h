// SPDX-License-Identifier: Apache-2.0
// A loaded BPF program, by fd: BPF_PROG_TEST_RUN and pinning.
#pragma once
#include <napi.h>

#include "fd_holder.h"

namespace bo {

class NativeProgram : public Napi::ObjectWrap<NativeProgram>, public FdHolder {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object FromFd(Napi::Env env, int fd, const std::string& name);
  static Napi::Value OpenPinned(const Napi::CallbackInfo& info);
  // The fd of a JS NativeProgram, or a thrown error when it is not one or is closed.
  static int FdOf(Napi::Env env, Napi::Value value);

  explicit NativeProgram(const Napi::CallbackInfo& info);

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value TestRun(const Napi::CallbackInfo& info);
  void Pin(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);

  uint32_t type_ = 0, id_ = 0;
};

}  // namespace bo
