// Attachments of programs to interfaces: tcx and XDP bpf_links (kernel objects, pinnable, atomically
// updatable) and the legacy clsact/cls_bpf filter used where tcx is missing. Every attach resolves the
// interface, and attaches, inside the interface's network namespace.
#pragma once
#include <napi.h>

#include "fd_holder.h"

struct bpf_link_create_opts;

namespace bo {

class NativeLink : public Napi::ObjectWrap<NativeLink>, public FdHolder {
 public:
  enum class Kind { None, Tcx, ClsBpf, Xdp };

  static Napi::Function Init(Napi::Env env);
  explicit NativeLink(const Napi::CallbackInfo& info);

  // attachTcx(program, ifname, netns|null, 'ingress'|'egress')
  static Napi::Value AttachTcx(const Napi::CallbackInfo& info);
  // attachClsBpf(program, ifname, netns|null, 'ingress'|'egress')
  static Napi::Value AttachClsBpf(const Napi::CallbackInfo& info);
  // attachXdp(program, ifname, netns|null, 'native'|'generic'|'auto')
  static Napi::Value AttachXdp(const Napi::CallbackInfo& info);
  static Napi::Value OpenPinned(const Napi::CallbackInfo& info);
  // True when the kernel knows tcx links (probed without attaching anything).
  static Napi::Value ProbeTcx(const Napi::CallbackInfo& info);

 private:
  static NativeLink* Create(Napi::Env env, Napi::Object* out, Kind kind);
  static Napi::Value CreateBpfLink(Napi::Env env, Kind kind, int prog_fd, const std::string& ifname,
                                   const std::string& netns, int attach_type, const struct bpf_link_create_opts& opts,
                                   const std::string& what);
  Napi::Value Info(const Napi::CallbackInfo& info);
  void Update(const Napi::CallbackInfo& info);
  void Pin(const Napi::CallbackInfo& info);
  void Detach(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);
  void RequireLive(Napi::Env env) const;

  Kind kind_ = Kind::None;
  int ifindex_ = 0;
  bool closed_ = false;
  std::string netns_;   // cls_bpf: filters are reached through netlink inside this namespace
  bool ingress_ = true; // cls_bpf
  uint32_t handle_ = 0, priority_ = 0;  // cls_bpf
  std::string pin_path_;
};

}  // namespace bo
