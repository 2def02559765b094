#include "link.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addon.h"
#include "errors.h"
#include "netns.h"
#include "opts.h"
#include "program.h"

namespace bo {

// The installed UAPI headers (6.1) predate tcx; these are the kernel's values.
constexpr int kAttachTcxIngress = 46;
constexpr int kAttachTcxEgress = 47;
constexpr uint32_t kLinkTypeXdp = 6;
constexpr uint32_t kLinkTypeTcx = 11;

static const char* KindName(NativeLink::Kind kind) {
  switch (kind) {
    case NativeLink::Kind::Tcx: return "tcx";
    case NativeLink::Kind::ClsBpf: return "tc-cls-bpf";
    case NativeLink::Kind::Xdp: return "xdp";
    default: return "none";
  }
}

static bool ParseDirection(Napi::Env env, const Napi::CallbackInfo& info, size_t index) {
  std::string dir = StringArg(info, index, "direction");
  if (dir != "ingress" && dir != "egress")
    throw Napi::TypeError::New(env, "direction must be 'ingress' or 'egress', got '" + dir + "'");
  return dir == "ingress";
}

static std::string NetnsArg(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && info[index].IsString() ? info[index].As<Napi::String>().Utf8Value() : "";
}

static std::string Where(const std::string& ifname, const std::string& netns) {
  return "'" + ifname + "'" + (netns.empty() ? "" : " in netns " + netns);
}

Napi::Function NativeLink::Init(Napi::Env env) {
  return DefineClass(env, "NativeLink",
                     {
                         InstanceMethod<&NativeLink::Info>("info"),
                         InstanceMethod<&NativeLink::Update>("update"),
                         InstanceMethod<&NativeLink::Pin>("pin"),
                         InstanceMethod<&NativeLink::Detach>("detach"),
                         InstanceMethod<&NativeLink::Close>("close"),
                         StaticMethod<&NativeLink::AttachTcx>("attachTcx"),
                         StaticMethod<&NativeLink::AttachClsBpf>("attachClsBpf"),
                         StaticMethod<&NativeLink::AttachXdp>("attachXdp"),
                         StaticMethod<&NativeLink::OpenPinned>("openPinned"),
                         StaticMethod<&NativeLink::ProbeTcx>("probeTcx"),
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
  if (closed_ || kind_ == Kind::None || (kind_ != Kind::ClsBpf && fd_ < 0))
    throw Napi::Error::New(env, std::string(KindName(kind_)) + " link on ifindex " + std::to_string(ifindex_) +
                                    " is closed");
}

// Creates a bpf_link for prog_fd on the interface, resolved and attached inside netns, and wraps it.
Napi::Value NativeLink::CreateBpfLink(Napi::Env env, Kind kind, int prog_fd, const std::string& ifname,
                                      const std::string& netns, int attach_type, const bpf_link_create_opts& opts,
                                      const std::string& what) {
  int ifindex, fd;
  {
    NetnsScope scope(env, netns);
    ifindex = ResolveIfindex(env, ifname, netns);
    fd = bpf_link_create(prog_fd, ifindex, static_cast<enum bpf_attach_type>(attach_type), &opts);
    if (fd < 0) throw ErrnoError(env, errno, what + " on " + Where(ifname, netns));
  }
  Napi::Object out;
  NativeLink* link = Create(env, &out, kind);
  link->fd_ = fd;
  link->ifindex_ = ifindex;
  link->label_ = ifname;
  return out;
}

Napi::Value NativeLink::AttachTcx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = NativeProgram::FdOf(env, info[0]);
  std::string ifname = StringArg(info, 1, "ifname"), netns = NetnsArg(info, 2);
  bool ingress = ParseDirection(env, info, 3);
  auto opts = ZeroedOpts<bpf_link_create_opts>();
  return CreateBpfLink(env, Kind::Tcx, prog_fd, ifname, netns, ingress ? kAttachTcxIngress : kAttachTcxEgress, opts,
                       std::string("tcx attach ") + (ingress ? "ingress" : "egress"));
}

Napi::Value NativeLink::AttachClsBpf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = NativeProgram::FdOf(env, info[0]);
  std::string ifname = StringArg(info, 1, "ifname"), netns = NetnsArg(info, 2);
  bool ingress = ParseDirection(env, info, 3);
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

Napi::Value NativeLink::AttachXdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int prog_fd = NativeProgram::FdOf(env, info[0]);
  std::string ifname = StringArg(info, 1, "ifname"), netns = NetnsArg(info, 2);
  std::string mode = StringArg(info, 3, "mode");
  auto opts = ZeroedOpts<bpf_link_create_opts>();
  if (mode == "native") opts.flags = XDP_FLAGS_DRV_MODE;
  else if (mode == "generic") opts.flags = XDP_FLAGS_SKB_MODE;
  else if (mode != "auto") throw Napi::TypeError::New(env, "mode must be 'native', 'generic' or 'auto', got '" + mode + "'");
  return CreateBpfLink(env, Kind::Xdp, prog_fd, ifname, netns, BPF_XDP, opts, "xdp (" + mode + ") attach");
}

Napi::Value NativeLink::OpenPinned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = StringArg(info, 0, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) throw ErrnoError(env, errno, "open pinned link " + path);
  ExpectBpfFdKind(env, fd, "bpf-link", path);
  struct bpf_link_info li = {};
  __u32 len = sizeof(li);
  if (bpf_obj_get_info_by_fd(fd, &li, &len) != 0) {
    int err = errno;
    ::close(fd);
    throw ErrnoError(env, err, "describe pinned link " + path);
  }
  Kind kind = li.type == kLinkTypeXdp ? Kind::Xdp : li.type == kLinkTypeTcx ? Kind::Tcx : Kind::None;
  if (kind == Kind::None) {
    ::close(fd);
    throw Napi::Error::New(env, path + " is a link of type " + std::to_string(li.type) + ", not tcx or xdp");
  }
  Napi::Object out;
  NativeLink* link = Create(env, &out, kind);
  link->fd_ = fd;
  // tcx link info starts with the ifindex too, at the same offset as xdp's.
  link->ifindex_ = static_cast<int>(li.xdp.ifindex);
  link->label_ = path;
  link->pin_path_ = path;
  return out;
}

Napi::Value NativeLink::ProbeTcx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // r0 = 0; exit
  struct bpf_insn insns[2] = {};
  insns[0].code = 0xb7;
  insns[1].code = 0x95;
  int prog = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "tcx_probe", "GPL", insns, 2, nullptr);
  if (prog < 0) throw ErrnoError(env, errno, "load tcx probe program");
  // ifindex 0 exists nowhere: a tcx-aware kernel says ENODEV, an older one rejects the attach type with EINVAL.
  auto opts = ZeroedOpts<bpf_link_create_opts>();
  int fd = bpf_link_create(prog, 0, static_cast<enum bpf_attach_type>(kAttachTcxIngress), &opts);
  int err = errno;
  if (fd >= 0) ::close(fd);
  ::close(prog);
  return Napi::Boolean::New(env, fd >= 0 || err == ENODEV);
}

Napi::Value NativeLink::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", KindName(kind_));
  o.Set("ifindex", Napi::Number::New(env, ifindex_));
  o.Set("fd", Napi::Number::New(env, fd_));
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
  if (kind_ != Kind::ClsBpf) {
    if (bpf_link_update(fd_, prog_fd, nullptr) != 0)
      throw ErrnoError(env, errno, std::string("update ") + KindName(kind_) + " link on " + label_);
    return;
  }
  // The same handle and priority with BPF_TC_F_REPLACE swap the program in place.
  NetnsScope scope(env, netns_);
  auto hook = ZeroedOpts<bpf_tc_hook>();
  hook.ifindex = ifindex_;
  hook.attach_point = ingress_ ? BPF_TC_INGRESS : BPF_TC_EGRESS;
  auto opts = ZeroedOpts<bpf_tc_opts>();
  opts.prog_fd = prog_fd;
  opts.handle = handle_;
  opts.priority = priority_;
  opts.flags = BPF_TC_F_REPLACE;
  int err = bpf_tc_attach(&hook, &opts);
  if (err != 0) throw ErrnoError(env, PositiveErrno(err), "replace cls_bpf filter on " + label_);
}

void NativeLink::Pin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLive(env);
  std::string path = StringArg(info, 0, "path");
  if (kind_ == Kind::ClsBpf)
    throw Napi::Error::New(env, "a tc-cls-bpf attachment is a netlink filter, not a bpf_link: it cannot be pinned "
                                "(it stays attached until detached)");
  if (bpf_obj_pin(fd_, path.c_str()) != 0) throw ErrnoError(env, errno, "pin link on " + label_ + " at " + path);
  pin_path_ = path;
}

void NativeLink::Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireLive(env);
  if (kind_ == Kind::ClsBpf) {
    struct stat st;
    // A deleted namespace took its interfaces, and the filter, with it.
    if (netns_.empty() || stat(netns_.c_str(), &st) == 0) {
      NetnsScope scope(env, netns_);
      auto hook = ZeroedOpts<bpf_tc_hook>();
      hook.ifindex = ifindex_;
      hook.attach_point = ingress_ ? BPF_TC_INGRESS : BPF_TC_EGRESS;
      auto opts = ZeroedOpts<bpf_tc_opts>();
      opts.handle = handle_;
      opts.priority = priority_;
      int err = bpf_tc_detach(&hook, &opts);
      if (err != 0 && err != -ENOENT && err != -ENODEV && err != -EINVAL)
        throw ErrnoError(env, PositiveErrno(err), "remove cls_bpf filter on " + label_);
    }
    closed_ = true;
    return;
  }
  // ENOLINK: the interface is gone and the link already defunct.
  if (bpf_link_detach(fd_) != 0 && errno != ENOLINK && errno != ENODEV)
    throw ErrnoError(env, errno, std::string("detach ") + KindName(kind_) + " link on " + label_);
  if (!pin_path_.empty() && unlink(pin_path_.c_str()) != 0 && errno != ENOENT)
    throw ErrnoError(env, errno, "remove link pin " + pin_path_);
  pin_path_.clear();
  CloseFd();
  closed_ = true;
}

void NativeLink::Close(const Napi::CallbackInfo&) {
  CloseFd();
  closed_ = true;
}

}  // namespace bo
