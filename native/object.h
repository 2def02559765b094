// SPDX-License-Identifier: Apache-2.0
// An opened BPF object file (bpf_object): its spec (maps, programs, global variables from BTF datasecs),
// adjustments before load (variables, map sizes, map reuse) and the load itself, which hands out
// independent NativeMap/NativeProgram objects and releases the bpf_object.
#pragma once
#include <napi.h>

#include <set>
#include <string>

struct bpf_object;
struct bpf_map;

namespace bo {

class NativeObject : public Napi::ObjectWrap<NativeObject> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NativeObject(const Napi::CallbackInfo& info);
  ~NativeObject() override;

 private:
  Napi::Value Spec(const Napi::CallbackInfo& info);
  void SetVariable(const Napi::CallbackInfo& info);
  void SetProgramFlags(const Napi::CallbackInfo& info);
  void SetMapMaxEntries(const Napi::CallbackInfo& info);
  void ReuseMap(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);

  struct bpf_object* RequireOpen(Napi::Env env, const char* action) const;
  struct bpf_map* RequireMap(Napi::Env env, const std::string& name) const;

  struct bpf_object* obj_ = nullptr;
  std::string path_;
  bool loaded_ = false;
  // .bss maps whose variables were set: libbpf leaves .bss to the kernel's zero fill, so they are written after load.
  std::set<std::string> dirty_bss_;
};

}  // namespace bo
