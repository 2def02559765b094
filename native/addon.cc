// SPDX-License-Identifier: Apache-2.0
// Module init: the native classes and the few free functions of bpf_overlay_native.
#include <bpf/libbpf.h>
#include <napi.h>

#include "addon.h"
#include "link.h"
#include "log_capture.h"
#include "map.h"
#include "netns.h"
#include "object.h"
#include "program.h"

namespace bo {

static Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), libbpf_num_possible_cpus());
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrinter();
  auto* data = new AddonData();
  Napi::Function object = NativeObject::Init(env);
  Napi::Function map = NativeMap::Init(env);
  Napi::Function program = NativeProgram::Init(env);
  Napi::Function link = NativeLink::Init(env);
  data->object = Napi::Persistent(object);
  data->map = Napi::Persistent(map);
  data->program = Napi::Persistent(program);
  data->link = Napi::Persistent(link);
  env.SetInstanceData<AddonData>(data);
  exports.Set("NativeObject", object);
  exports.Set("NativeMap", map);
  exports.Set("NativeProgram", program);
  exports.Set("NativeLink", link);
  exports.Set("ifindex", Napi::Function::New(env, IfindexJs, "ifindex"));
  exports.Set("possibleCpus", Napi::Function::New(env, PossibleCpus, "possibleCpus"));
  return exports;
}

}  // namespace bo

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return bo::Init(env, exports); }

NODE_API_MODULE(bpf_overlay_native, InitModule)
