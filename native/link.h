// SPDX-License-Identifier: Apache-2.0
// Attachments of programs to interfaces: bpf_links (tcx, XDP: kernel objects, pinnable, atomically updatable)
// and the legacy clsact/cls_bpf filter used where tcx is missing. Every attach resolves the interface, and
// attaches, inside the interface's network namespace. Attach types, flags and link types are the caller's
// (src/control/kernel/uapi.ts): this layer passes them to the kernel and reports raw results.
#pragma once
#include <napi.h>

#include <bpf/libbpf.h>

#include "fd_holder.h"

namespace bo {

class NativeLink : public Napi::ObjectWrap<NativeLink>, public FdHolder {
 public:
  enum class Kind { None, BpfLink, ClsBpf };

  static Napi::Function Init(Napi::Env env);
  explicit NativeLink(const Napi::CallbackInfo& info);

  // attachBpfLink(program, ifname, netns|null, attachType, flags)
  static Napi::Value AttachBpfLink(const Napi::CallbackInfo& info);
  // attachClsBpf(program, ifname, netns|null, ingress)
  static Napi::Value AttachClsBpf(const Napi::CallbackInfo& info);
  static Napi::Value OpenPinned(const Napi::CallbackInfo& info);
  // tryLinkCreate(program, ifindex, attachType, flags) -> 0 or the errno of BPF_LINK_CREATE; a created link is
  // closed at once. Feature probes ask the kernel this way without attaching anything that lasts.
  static Napi::Value TryLinkCreate(const Napi::CallbackInfo& info);

 private:
  static NativeLink* Create(Napi::Env env, Napi::Object* out, Kind kind);
  Napi::Value Info(const Napi::CallbackInfo& info);
  void Update(const Napi::CallbackInfo& info);
  void Pin(const Napi::CallbackInfo& info);
  void Detach(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);
  void RequireLive(Napi::Env env) const;
  // cls_bpf: the clsact hook and the filter (handle, priority) this link is.
  struct bpf_tc_hook TcHook() const;
  struct bpf_tc_opts TcFilter() const;

  Kind kind_ = Kind::None;
  uint32_t link_type_ = 0;  // bpf_link: the kernel's enum bpf_link_type
  int ifindex_ = 0;
  bool closed_ = false;
  std::string netns_;   // cls_bpf: filters are reached through netlink inside this namespace
  bool ingress_ = true; // cls_bpf
  uint32_t handle_ = 0, priority_ = 0;  // cls_bpf
};

}  // namespace bo
