// SPDX-License-Identifier: Apache-2.0
#include "object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <vector>

#include "errors.h"
#include "log_capture.h"
#include "map.h"
#include "opts.h"
#include "program.h"

namespace bo {

namespace {

struct VariableInfo {
  std::string name, section;
  uint32_t offset = 0, size = 0;
};

std::vector<VariableInfo> ListVariables(struct bpf_object* obj) {
  std::vector<VariableInfo> out;
  const struct btf* btf = bpf_object__btf(obj);
  if (btf == nullptr) return out;
  for (__u32 id = 1; id < btf__type_cnt(btf); id++) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    if (!btf_is_datasec(t)) continue;
    std::string section = btf__name_by_offset(btf, t->name_off);
    // Only datasecs that libbpf turns into maps (.rodata, .data, .bss and their named variants) can be set.
    if (bpf_object__find_map_by_name(obj, section.c_str()) == nullptr) continue;
    const struct btf_var_secinfo* vsi = btf_var_secinfos(t);
    for (__u16 i = 0; i < btf_vlen(t); i++, vsi++) {
      const struct btf_type* var = btf__type_by_id(btf, vsi->type);
      if (!btf_is_var(var)) continue;
      VariableInfo v;
      v.name = btf__name_by_offset(btf, var->name_off);
      v.section = section;
      v.offset = vsi->offset;
      v.size = vsi->size;
      out.push_back(v);
    }
  }
  return out;
}

// libbpf 1.1 names internal maps "<obj>.rodata" (the kernel's 15-byte limit) but finds them by section name too;
// the section name is what BPF C authors know them by, so that is the name we hand out.
std::string MapName(struct bpf_object* obj, struct bpf_map* map) {
  if (!bpf_map__is_internal(map)) return bpf_map__name(map);
  const struct btf* btf = bpf_object__btf(obj);
  for (__u32 id = 1; btf != nullptr && id < btf__type_cnt(btf); id++) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    if (!btf_is_datasec(t)) continue;
    const char* section = btf__name_by_offset(btf, t->name_off);
    if (bpf_object__find_map_by_name(obj, section) == map) return section;
  }
  return bpf_map__name(map);
}

int DupFd(Napi::Env env, int fd, const std::string& what) {
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (dup < 0) throw ErrnoError(env, errno, "dup fd of " + what);
  return dup;
}

}  // namespace

Napi::Function NativeObject::Init(Napi::Env env) {
  return DefineClass(env, "NativeObject",
                     {
                         InstanceMethod<&NativeObject::Spec>("spec"),
                         InstanceMethod<&NativeObject::SetVariable>("setVariable"),
                         InstanceMethod<&NativeObject::SetMapMaxEntries>("setMapMaxEntries"),
                         InstanceMethod<&NativeObject::SetProgramFlags>("setProgramFlags"),
                         InstanceMethod<&NativeObject::ReuseMap>("reuseMap"),
                         InstanceMethod<&NativeObject::Load>("load"),
                         InstanceMethod<&NativeObject::Close>("close"),
                     });
}

// new NativeObject(path, pinRoot?)
NativeObject::NativeObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeObject>(info) {
  Napi::Env env = info.Env();
  path_ = StringArg(info, 0, "path");
  std::string pin_root = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  auto opts = ZeroedOpts<bpf_object_open_opts>();
  if (!pin_root.empty()) opts.pin_root_path = pin_root.c_str();
  LogCapture capture;
  struct bpf_object* obj = bpf_object__open_file(path_.c_str(), &opts);
  if (obj == nullptr) throw ErrnoErrorWithLog(env, errno, "open BPF object " + path_, capture.text());
  obj_ = obj;
}

NativeObject::~NativeObject() {
  if (obj_ != nullptr) bpf_object__close(obj_);
}

struct bpf_object* NativeObject::RequireOpen(Napi::Env env, const char* action) const {
  if (obj_ == nullptr)
    throw Napi::Error::New(env, std::string("cannot ") + action + ": BPF object " + path_ +
                                    (loaded_ ? " is already loaded" : " is closed"));
  return obj_;
}

struct bpf_map* NativeObject::RequireMap(Napi::Env env, const std::string& name) const {
  struct bpf_map* map = bpf_object__find_map_by_name(obj_, name.c_str());
  if (map == nullptr) throw Napi::Error::New(env, "BPF object " + path_ + " has no map named '" + name + "'");
  return map;
}

Napi::Value NativeObject::Spec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_object* obj = RequireOpen(env, "describe");
  Napi::Object spec = Napi::Object::New(env);

  Napi::Array maps = Napi::Array::New(env);
  struct bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("name", MapName(obj, map));
    m.Set("type", Napi::Number::New(env, bpf_map__type(map)));
    const char* tn = libbpf_bpf_map_type_str(bpf_map__type(map));
    m.Set("typeName", tn ? tn : "unknown");
    m.Set("keySize", Napi::Number::New(env, bpf_map__key_size(map)));
    m.Set("valueSize", Napi::Number::New(env, bpf_map__value_size(map)));
    m.Set("maxEntries", Napi::Number::New(env, bpf_map__max_entries(map)));
    m.Set("flags", Napi::Number::New(env, bpf_map__map_flags(map)));
    m.Set("pinning", bpf_map__pin_path(map) ? "by_name" : "none");
    if (bpf_map__pin_path(map)) m.Set("pinPath", bpf_map__pin_path(map));
    m.Set("internal", Napi::Boolean::New(env, bpf_map__is_internal(map)));
    maps.Set(maps.Length(), m);
  }
  spec.Set("maps", maps);

  Napi::Array programs = Napi::Array::New(env);
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    Napi::Object p = Napi::Object::New(env);
    p.Set("name", bpf_program__name(prog));
    p.Set("section", bpf_program__section_name(prog));
    p.Set("type", Napi::Number::New(env, bpf_program__type(prog)));
    const char* tn = libbpf_bpf_prog_type_str(bpf_program__type(prog));
    p.Set("typeName", tn ? tn : "unknown");
    programs.Set(programs.Length(), p);
  }
  spec.Set("programs", programs);

  Napi::Array variables = Napi::Array::New(env);
  for (const VariableInfo& v : ListVariables(obj)) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", v.name);
    o.Set("section", v.section);
    o.Set("offset", Napi::Number::New(env, v.offset));
    o.Set("size", Napi::Number::New(env, v.size));
    variables.Set(variables.Length(), o);
  }
  spec.Set("variables", variables);
  return spec;
}

void NativeObject::SetVariable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_object* obj = RequireOpen(env, "set a variable");
  std::string name = StringArg(info, 0, "name");
  auto value = BufferArg(info, 1, "value");
  for (const VariableInfo& v : ListVariables(obj)) {
    if (v.name != name) continue;
    if (value.Length() != v.size)
      throw Napi::RangeError::New(env, "variable '" + name + "' is " + std::to_string(v.size) + " bytes, got " +
                                           std::to_string(value.Length()));
    struct bpf_map* map = RequireMap(env, v.section);
    size_t size = 0;
    void* data = const_cast<void*>(bpf_map__initial_value(map, &size));
    if (data == nullptr || static_cast<size_t>(v.offset) + v.size > size)
      throw Napi::Error::New(env, "variable '" + name + "' lies outside the initial value of " + v.section);
    memcpy(static_cast<uint8_t*>(data) + v.offset, value.Data(), v.size);
    if (v.section.rfind(".bss", 0) == 0) dirty_bss_.insert(v.section);
    return;
  }
  throw Napi::Error::New(env, "BPF object " + path_ + " has no global variable named '" + name + "'");
}

void NativeObject::SetMapMaxEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "resize a map");
  std::string name = StringArg(info, 0, "name");
  uint32_t max_entries = U32Arg(info, 1, "maxEntries");
  if (max_entries == 0) throw Napi::RangeError::New(env, "maxEntries of map '" + name + "' must be > 0");
  int err = bpf_map__set_max_entries(RequireMap(env, name), max_entries);
  if (err != 0) throw ErrnoError(env, PositiveErrno(err), "set max_entries of map '" + name + "'");
}

// setProgramFlags(name, flags): bpf_program__set_flags, the BPF_PROG_LOAD flags (libbpf may add more at load).
void NativeObject::SetProgramFlags(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_object* obj = RequireOpen(env, "set program flags");
  std::string name = StringArg(info, 0, "name");
  uint32_t flags = U32Arg(info, 1, "flags");
  struct bpf_program* prog = bpf_object__find_program_by_name(obj, name.c_str());
  if (prog == nullptr) throw Napi::Error::New(env, "BPF object " + path_ + " has no program named '" + name + "'");
  int err = bpf_program__set_flags(prog, flags);
  if (err != 0) throw ErrnoError(env, PositiveErrno(err), "set flags of program '" + name + "'");
}

// reuseMap(name, fd): libbpf dups the fd, so the caller keeps ownership of its map.
void NativeObject::ReuseMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireOpen(env, "reuse a map");
  std::string name = StringArg(info, 0, "name");
  uint32_t fd = U32Arg(info, 1, "fd");
  int err = bpf_map__reuse_fd(RequireMap(env, name), static_cast<int>(fd));
  if (err != 0) throw ErrnoError(env, PositiveErrno(err), "reuse map '" + name + "'");
}

// load() -> { maps: [[name, NativeMap]...], programs: [[name, NativeProgram]...] }, then frees the bpf_object:
// the returned objects own duplicated fds and outlive it.
Napi::Value NativeObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct bpf_object* obj = RequireOpen(env, "load");
  int err;
  std::string captured;
  {
    LogCapture capture;
    err = bpf_object__load(obj);
    captured = capture.text();
  }
  if (err != 0) {
    // libbpf refuses a second load of the same object, so a failed object is spent.
    bpf_object__close(obj_);
    obj_ = nullptr;
    throw ErrnoErrorWithLog(env, PositiveErrno(err), "load " + path_, captured);
  }
  loaded_ = true;

  Napi::Object result = Napi::Object::New(env);
  try {
    int zero = 0;
    for (const std::string& section : dirty_bss_) {
      struct bpf_map* map = RequireMap(env, section);
      size_t size = 0;
      const void* data = bpf_map__initial_value(map, &size);
      if (data && bpf_map_update_elem(bpf_map__fd(map), &zero, data, 0) != 0)
        throw ErrnoError(env, errno, "write variables of " + section);
    }
    Napi::Array maps = Napi::Array::New(env);
    struct bpf_map* map;
    bpf_object__for_each_map(map, obj) {
      if (bpf_map__fd(map) < 0) continue;
      std::string name = MapName(obj, map);
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, name);
      pair.Set(1u, NativeMap::FromFd(env, DupFd(env, bpf_map__fd(map), "map " + name), name));
      maps.Set(maps.Length(), pair);
    }
    Napi::Array programs = Napi::Array::New(env);
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, obj) {
      if (bpf_program__fd(prog) < 0) continue;
      std::string name = bpf_program__name(prog);
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, name);
      pair.Set(1u, NativeProgram::FromFd(env, DupFd(env, bpf_program__fd(prog), "program " + name), name));
      programs.Set(programs.Length(), pair);
    }
    result.Set("maps", maps);
    result.Set("programs", programs);
  } catch (...) {
    bpf_object__close(obj_);
    obj_ = nullptr;
    throw;
  }
  bpf_object__close(obj_);
  obj_ = nullptr;
  return result;
}

void NativeObject::Close(const Napi::CallbackInfo&) {
  if (obj_ != nullptr) bpf_object__close(obj_);
  obj_ = nullptr;
}

}  // namespace bo
