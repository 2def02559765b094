// SPDX-License-Identifier: Apache-2.0
#include "program.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <unistd.h>

#include <vector>

#include "addon.h"
#include "errors.h"
#include "opts.h"

namespace bo {

Napi::Function NativeProgram::Init(Napi::Env env) {
  return DefineClass(env, "NativeProgram",
                     {
                         InstanceMethod<&NativeProgram::Info>("info"),
                         InstanceMethod<&NativeProgram::TestRun>("testRun"),
                         InstanceMethod<&NativeProgram::Pin>("pin"),
                         InstanceMethod<&NativeProgram::Close>("close"),
                         StaticMethod<&NativeProgram::OpenPinned>("openPinned"),
                     });
}

Napi::Object NativeProgram::FromFd(Napi::Env env, int fd, const std::string& name) {
  return Data(env).program.New({Napi::Number::New(env, fd), Napi::String::New(env, name)});
}

int NativeProgram::FdOf(Napi::Env env, Napi::Value value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Data(env).program.Value()))
    throw Napi::TypeError::New(env, "program must be a loaded BPF program");
  return Unwrap(value.As<Napi::Object>())->RequireFd(env, "program");
}

NativeProgram::NativeProgram(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeProgram>(info) {
  int fd = static_cast<int>(U32Arg(info, 0, "fd"));
  struct bpf_prog_info pi = {};
  __u32 len = sizeof(pi);
  if (bpf_obj_get_info_by_fd(fd, &pi, &len) != 0) {
    int err = errno;
    ::close(fd);
    throw ErrnoError(info.Env(), err, "describe program fd");
  }
  fd_ = fd;
  label_ = info.Length() > 1 && info[1].IsString() && !info[1].As<Napi::String>().Utf8Value().empty()
               ? info[1].As<Napi::String>().Utf8Value()
               : std::string(pi.name);
  type_ = pi.type;
  id_ = pi.id;
}

Napi::Value NativeProgram::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("fd", Napi::Number::New(env, fd_));
  o.Set("name", Napi::String::New(env, label_));
  o.Set("type", Napi::Number::New(env, type_));
  const char* tn = libbpf_bpf_prog_type_str(static_cast<enum bpf_prog_type>(type_));
  o.Set("typeName", Napi::String::New(env, tn ? tn : "unknown"));
  o.Set("id", Napi::Number::New(env, id_));
  return o;
}

// testRun(data, dataSizeOut, ctx|null, ctxSizeOut, repeat, flags) -> { retval, data, ctx?, durationNs }
Napi::Value NativeProgram::TestRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "program");
  auto data = BufferArg(info, 0, "data");
  uint32_t data_size_out = U32Arg(info, 1, "dataSizeOut");
  bool has_ctx = info.Length() > 2 && info[2].IsBuffer();
  uint32_t ctx_size_out = U32Arg(info, 3, "ctxSizeOut");
  uint32_t repeat = U32Arg(info, 4, "repeat");
  uint32_t flags = U32Arg(info, 5, "flags");

  std::vector<uint8_t> data_out(data_size_out), ctx_out(has_ctx ? ctx_size_out : 0);
  auto opts = ZeroedOpts<bpf_test_run_opts>();
  opts.data_in = data.Data();
  opts.data_size_in = static_cast<__u32>(data.Length());
  opts.data_out = data_out.empty() ? nullptr : data_out.data();
  opts.data_size_out = data_size_out;
  if (has_ctx) {
    auto ctx = info[2].As<Napi::Buffer<uint8_t>>();
    opts.ctx_in = ctx.Data();
    opts.ctx_size_in = static_cast<__u32>(ctx.Length());
    opts.ctx_out = ctx_out.empty() ? nullptr : ctx_out.data();
    opts.ctx_size_out = ctx_size_out;
  }
  opts.repeat = static_cast<int>(repeat);
  opts.flags = flags;
  if (bpf_prog_test_run_opts(fd, &opts) != 0) throw ErrnoError(env, errno, "test run of program '" + label_ + "'");

  Napi::Object o = Napi::Object::New(env);
  o.Set("retval", Napi::Number::New(env, opts.retval));
  o.Set("durationNs", Napi::Number::New(env, opts.duration));
  size_t out_len = opts.data_size_out < data_out.size() ? opts.data_size_out : data_out.size();
  o.Set("data", Napi::Buffer<uint8_t>::Copy(env, data_out.data(), out_len));
  o.Set("dataSizeOut", Napi::Number::New(env, opts.data_size_out));
  if (has_ctx) {
    size_t ctx_len = opts.ctx_size_out < ctx_out.size() ? opts.ctx_size_out : ctx_out.size();
    o.Set("ctx", Napi::Buffer<uint8_t>::Copy(env, ctx_out.data(), ctx_len));
  }
  return o;
}

void NativeProgram::Pin(const Napi::CallbackInfo& info) {
  int fd = RequireFd(info.Env(), "program");
  std::string path = StringArg(info, 0, "path");
  if (bpf_obj_pin(fd, path.c_str()) != 0)
    throw ErrnoError(info.Env(), errno, "pin program '" + label_ + "' at " + path);
}

void NativeProgram::Close(const Napi::CallbackInfo&) { CloseFd(); }

Napi::Value NativeProgram::OpenPinned(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) throw ErrnoError(info.Env(), errno, "open pinned program " + path);
  ExpectBpfFdKind(info.Env(), fd, "bpf-prog", path);
  return FromFd(info.Env(), fd, "");
}

}  // namespace bo
