// SPDX-License-Identifier: Apache-2.0
#include "link.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <unistd.h>

#include "addon.h"
#include "errors.h"
#include "netns.h"
#include "opts.h"
#include "program.h"

namespace bo {

static std::string NetnsArg(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && info[index].IsString() ? info[index].As<Napi::String>().Utf8Value() : "";
}

static std::string Where(const std::string& ifname, const std::string& netns) {
  return "'" + ifname + "'" + (netns.empty() ? "" : " in netns " + netns);
}

// The link type and ifindex the kernel reports for a bpf_link fd (tcx link info starts with the ifindex too, at
// the same offset as xdp's; the installed 6.1 UAPI headers predate tcx).
static bool DescribeLink(int fd, uint32_t* type, int* ifindex) {
  struct bpf_link_info li = {};
  __u32 len = sizeof(li);
  if (bpf_obj_get_info_by_fd(fd, &li, &len) != 0) return false;
  *type = li.type;
  *ifindex = static_cast<int>(li.xdp.ifindex);
  return true;
}

Napi::Function NativeLink::Init(Napi::Env env) {
  return DefineClass(env, "NativeLink",
                     {
                         InstanceMethod<&NativeLink::Info>("info"),
                         InstanceMethod<&NativeLink::Update>("update"),
                         InstanceMethod<&NativeLink::Pin>("pin"),
                         InstanceMethod<&NativeLink::Detach>("detach"),
                         InstanceMethod<&NativeLink::Close>("close"),
                         StaticMethod<&NativeLink::AttachBpfLink>("attachBpfLink"),
                         StaticMethod<&NativeLink::AttachClsBpf>("attachClsBpf"),
                         StaticMethod<&NativeLink::OpenPinned>("openPinned"),
                         StaticMethod<&NativeLink::TryLinkCreate>("tryLinkCreate"),
                     });
}

NativeLink::NativeLink(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeLink>(info) {}

NativeLink* NativeLink::Create(Napi::Env env, Napi::Object* out, Kind kind) {
  *out = Data(env).link.New({});
  NativeLink* link = Unwrap(*out);
  link->kind_ = kind;
  return link;
}

void NativeLink::RequireLive(Napi::Env env) const {
  if (closed_ || kind_ == Kind::None || (kind_ == Kind::BpfLink && fd_ < 0))
    throw Napi::Error::New(env, "link on ifindex " + std::to_string(ifindex_) + " is closed");
}

Napi::Value NativeLink::AttachBpfLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = NativeProgram::FdOf(env, info[0]);
  std::string ifname = StringArg(info, 1, "ifname"), netns = NetnsArg(info, 2);
  uint32_t attach_type = U32Arg(info, 3, "attachType");
  auto opts = ZeroedOpts<bpf_link_create_opts>();
  opts.flags = U32Arg(info, 4, "flags");
  int ifindex, fd;
  {
    NetnsScope scope(env, netns);
    ifindex = ResolveIfindex(env, ifname, netns);
    fd = bpf_link_create(prog_fd, ifindex, static_cast<enum bpf_attach_type>(attach_type), &opts);
    if (fd < 0)
      throw ErrnoError(env, errno, "attach (link create, attach type " + std::to_string(attach_type) + ") on " +
                                       Where(ifname, netns));
  }
  Napi::Object out;
  NativeLink* link = Create(env, &out, Kind::BpfLink);
  link->fd_ = fd;
  link->ifindex_ = ifindex;
  link->label_ = ifname;
  int described_ifindex;
  if (!DescribeLink(fd, &link->link_type_, &described_ifindex)) throw ErrnoError(env, errno, "describe link on " + ifname);
  return out;
}

Napi::Value NativeLink::AttachClsBpf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = NativeProgram::FdOf(env, info[0]);
  std::string ifname = StringArg(info, 1, "ifname"), netns = NetnsArg(info, 2);
  bool ingress = info.Length() > 3 && info[3].ToBoolean().Value();
  NetnsScope scope(env, netns);
  int ifindex = ResolveIfindex(env, ifname, netns);
  auto hook = ZeroedOpts<bpf_tc_hook>();
  hook.ifindex = ifindex;
  hook.attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
  int err = bpf_tc_hook_create(&hook);
  // Another user's clsact qdisc is fine to share: filters are what we own.
  if (err != 0 && err != -EEXIST) throw ErrnoError(env, PositiveErrno(err), "create clsact qdisc on " + Where(ifname, netns));
  auto opts = ZeroedOpts<bpf_tc_opts>();
  opts.prog_fd = prog_fd;
  err = bpf_tc_attach(&hook, &opts);
  if (err != 0) throw ErrnoError(env, PositiveErrno(err), "cls_bpf attach on " + Where(ifname, netns));
  Napi::Object out;
  NativeLink* link = Create(env, &out, Kind::ClsBpf);
  link->ifindex_ = ifindex;
  link->netns_ = netns;
  link->ingress_ = ingress;
  link->handle_ = opts.handle;
  link->priority_ = opts.priority;
  link->label_ = ifname;
  return out;
}

Napi::Value NativeLink::OpenPinned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) throw ErrnoError(env, errno, "open pinned link " + path);
  ExpectBpfFdKind(env, fd, "bpf-link", path);
  uint32_t type;
  int ifindex;
  if (!DescribeLink(fd, &type, &ifindex)) {
    int err = errno;
    ::close(fd);
    throw ErrnoError(env, err, "describe pinned link " + path);
  }
  Napi::Object out;
  NativeLink* link = Create(env, &out, Kind::BpfLink);
  link->fd_ = fd;
  link->link_type_ = type;
  link->ifindex_ = ifindex;
  link->label_ = path;
  return out;
}

Napi::Value NativeLink::TryLinkCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = NativeProgram::FdOf(env, info[0]);
  uint32_t ifindex = U32Arg(info, 1, "ifindex");
  uint32_t attach_type = U32Arg(info, 2, "attachType");
  auto opts = ZeroedOpts<bpf_link_create_opts>();
  opts.flags = U32Arg(info, 3, "flags");
  int fd = bpf_link_create(prog_fd, static_cast<int>(ifindex), static_cast<enum bpf_attach_type>(attach_type), &opts);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) ::close(fd);
  return Napi::Number::New(env, err);
}

Napi::Value NativeLink::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", kind_ == Kind::ClsBpf ? "cls_bpf" : "bpf_link");
  o.Set("ifindex", Napi::Number::New(env, ifindex_));
  o.Set("fd", Napi::Number::New(env, fd_));
  if (kind_ == Kind::BpfLink) o.Set("linkType", Napi::Number::New(env, link_type_));
  if (kind_ == Kind::ClsBpf) {
    o.Set("handle", Napi::Number::New(env, handle_));
    o.Set("priority", Napi::Number::New(env, priority_));
  }
  return o;
}

void NativeLink::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLive(env);
  int prog_fd = NativeProgram::FdOf(env, info[0]);
  if (kind_ == Kind::BpfLink) {
    if (bpf_link_update(fd_, prog_fd, nullptr) != 0) throw ErrnoError(env, errno, "update link on " + label_);
    return;
  }
  // The same handle and priority with BPF_TC_F_REPLACE swap the program in place.
  NetnsScope scope(env, netns_);
  auto hook = TcHook();
  auto opts = TcFilter();
  opts.prog_fd = prog_fd;
  opts.flags = BPF_TC_F_REPLACE;
  int err = bpf_tc_attach(&hook, &opts);
  if (err != 0) throw ErrnoError(env, PositiveErrno(err), "replace cls_bpf filter on " + label_);
}

bpf_tc_hook NativeLink::TcHook() const {
  auto hook = ZeroedOpts<bpf_tc_hook>();
  hook.ifindex = ifindex_;
  hook.attach_point = ingress_ ? BPF_TC_INGRESS : BPF_TC_EGRESS;
  return hook;
}

bpf_tc_opts NativeLink::TcFilter() const {
  auto opts = ZeroedOpts<bpf_tc_opts>();
  opts.handle = handle_;
  opts.priority = priority_;
  return opts;
}

void NativeLink::Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLive(env);
  std::string path = StringArg(info, 0, "path");
  if (kind_ != Kind::BpfLink) throw ErrnoError(env, EINVAL, "pin link on " + label_ + ": it has no fd");
  if (bpf_obj_pin(fd_, path.c_str()) != 0) throw ErrnoError(env, errno, "pin link on " + label_ + " at " + path);
}

// Detaches only: a pin of the link, if any, is a separate file the caller removes (or keeps).
void NativeLink::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLive(env);
  if (kind_ == Kind::ClsBpf) {
    NetnsScope scope(env, netns_);
    auto hook = TcHook();
    auto opts = TcFilter();
    int err = bpf_tc_detach(&hook, &opts);
    if (err != 0) throw ErrnoError(env, PositiveErrno(err), "remove cls_bpf filter on " + label_);
    closed_ = true;
    return;
  }
  if (bpf_link_detach(fd_) != 0) throw ErrnoError(env, errno, "detach link on " + label_);
  CloseFd();
  closed_ = true;
}

void NativeLink::Close(const Napi::CallbackInfo&) {
  CloseFd();
  closed_ = true;
}

}  // namespace bo
