// SPDX-License-Identifier: Apache-2.0
#include "map.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <unistd.h>

#include <vector>

#include "addon.h"
#include "errors.h"
#include "opts.h"

namespace bo {

static bool IsPerCpuType(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_ARRAY ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

static uint64_t ElemFlags(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && info[index].IsNumber() ? info[index].As<Napi::Number>().Int64Value() : 0;
}

Napi::Function NativeMap::Init(Napi::Env env) {
  return DefineClass(env, "NativeMap",
                     {
                         InstanceMethod<&NativeMap::Info>("info"),
                         InstanceMethod<&NativeMap::Lookup>("lookup"),
                         InstanceMethod<&NativeMap::Update>("update"),
                         InstanceMethod<&NativeMap::Delete>("delete"),
                         InstanceMethod<&NativeMap::NextKey>("nextKey"),
                         InstanceMethod<&NativeMap::Keys>("keys"),
                         InstanceMethod<&NativeMap::LookupBatch>("lookupBatch"),
                         InstanceMethod<&NativeMap::UpdateBatch>("updateBatch"),
                         InstanceMethod<&NativeMap::DeleteBatch>("deleteBatch"),
                         InstanceMethod<&NativeMap::Pin>("pin"),
                         InstanceMethod<&NativeMap::Close>("close"),
                         StaticMethod<&NativeMap::OpenPinned>("openPinned"),
                     });
}

Napi::Object NativeMap::FromFd(Napi::Env env, int fd, const std::string& name) {
  return Data(env).map.New({Napi::Number::New(env, fd), Napi::String::New(env, name)});
}

NativeMap::NativeMap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeMap>(info) {
  int fd = static_cast<int>(U32Arg(info, 0, "fd"));
  struct bpf_map_info mi = {};
  __u32 len = sizeof(mi);
  if (bpf_obj_get_info_by_fd(fd, &mi, &len) != 0) {
    int err = errno;
    ::close(fd);
    throw ErrnoError(info.Env(), err, "describe map fd");
  }
  fd_ = fd;
  // The kernel truncates names to 15 bytes; the caller usually knows the full one.
  label_ = info.Length() > 1 && info[1].IsString() && !info[1].As<Napi::String>().Utf8Value().empty()
               ? info[1].As<Napi::String>().Utf8Value()
               : std::string(mi.name);
  type_ = mi.type;
  key_size_ = mi.key_size;
  value_size_ = mi.value_size;
  max_entries_ = mi.max_entries;
  flags_ = mi.map_flags;
  id_ = mi.id;
  per_cpu_ = IsPerCpuType(type_);
  if (per_cpu_) {
    possible_cpus_ = libbpf_num_possible_cpus();
    if (possible_cpus_ <= 0) {
      CloseFd();
      throw ErrnoError(info.Env(), PositiveErrno(possible_cpus_), "libbpf_num_possible_cpus");
    }
  } else {
    possible_cpus_ = libbpf_num_possible_cpus() > 0 ? libbpf_num_possible_cpus() : 1;
  }
}

size_t NativeMap::ValueBufSize() const {
  return per_cpu_ ? ((static_cast<size_t>(value_size_) + 7) & ~size_t(7)) * possible_cpus_ : value_size_;
}

void NativeMap::CheckKey(Napi::Env env, const Napi::Buffer<uint8_t>& key) const {
  if (key.Length() != key_size_)
    throw Napi::RangeError::New(env, "key of map '" + label_ + "' must be " + std::to_string(key_size_) +
                                         " bytes, got " + std::to_string(key.Length()));
}

Napi::Value NativeMap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("fd", Napi::Number::New(env, fd_));
  o.Set("name", Napi::String::New(env, label_));
  o.Set("type", Napi::Number::New(env, type_));
  const char* tn = libbpf_bpf_map_type_str(static_cast<enum bpf_map_type>(type_));
  o.Set("typeName", Napi::String::New(env, tn ? tn : "unknown"));
  o.Set("keySize", Napi::Number::New(env, key_size_));
  o.Set("valueSize", Napi::Number::New(env, value_size_));
  o.Set("maxEntries", Napi::Number::New(env, max_entries_));
  o.Set("flags", Napi::Number::New(env, flags_));
  o.Set("id", Napi::Number::New(env, id_));
  o.Set("isPerCpu", Napi::Boolean::New(env, per_cpu_));
  o.Set("possibleCpus", Napi::Number::New(env, possible_cpus_));
  o.Set("valueBufSize", Napi::Number::New(env, static_cast<double>(ValueBufSize())));
  return o;
}

Napi::Value NativeMap::Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map");
  auto key = BufferArg(info, 0, "key");
  CheckKey(env, key);
  auto value = Napi::Buffer<uint8_t>::New(env, ValueBufSize());
  if (bpf_map_lookup_elem(fd, key.Data(), value.Data()) != 0) {
    if (errno == ENOENT) return env.Undefined();
    throw ErrnoError(env, errno, "lookup in map '" + label_ + "'");
  }
  return value;
}

void NativeMap::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map");
  auto key = BufferArg(info, 0, "key");
  auto value = BufferArg(info, 1, "value");
  CheckKey(env, key);
  if (value.Length() != ValueBufSize())
    throw Napi::RangeError::New(env, "value of map '" + label_ + "' must be " + std::to_string(ValueBufSize()) +
                                         " bytes, got " + std::to_string(value.Length()));
  if (bpf_map_update_elem(fd, key.Data(), value.Data(), ElemFlags(info, 2)) != 0)
    throw ErrnoError(env, errno, "update in map '" + label_ + "'");
}

Napi::Value NativeMap::Delete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map");
  auto key = BufferArg(info, 0, "key");
  CheckKey(env, key);
  if (bpf_map_delete_elem(fd, key.Data()) != 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    throw ErrnoError(env, errno, "delete in map '" + label_ + "'");
  }
  return Napi::Boolean::New(env, true);
}

Napi::Value NativeMap::NextKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map");
  const void* prev = nullptr;
  if (info.Length() > 0 && info[0].IsBuffer()) {
    auto key = info[0].As<Napi::Buffer<uint8_t>>();
    CheckKey(env, key);
    prev = key.Data();
  }
  auto next = Napi::Buffer<uint8_t>::New(env, key_size_);
  if (bpf_map_get_next_key(fd, prev, next.Data()) != 0) {
    if (errno == ENOENT) return env.Undefined();
    throw ErrnoError(env, errno, "iterate map '" + label_ + "'");
  }
  return next;
}

Napi::Value NativeMap::Keys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map");
  std::vector<uint8_t> prev(key_size_), next(key_size_);
  Napi::Array out = Napi::Array::New(env);
  bool first = true;
  // Bounded by max_entries (+1 for hash maps whose keys move under concurrent updates): never loops forever.
  for (uint64_t i = 0; i <= static_cast<uint64_t>(max_entries_); i++) {
    if (bpf_map_get_next_key(fd, first ? nullptr : prev.data(), next.data()) != 0) {
      if (errno == ENOENT) break;
      throw ErrnoError(env, errno, "iterate map '" + label_ + "'");
    }
    first = false;
    out.Set(out.Length(), Napi::Buffer<uint8_t>::Copy(env, next.data(), next.size()));
    prev.swap(next);
  }
  return out;
}

// Returns { keys: Buffer, values: Buffer, count } with keys and values concatenated.
Napi::Value NativeMap::LookupBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map");
  const size_t vsize = ValueBufSize();
  const uint32_t chunk = max_entries_ > 0 ? max_entries_ : 1;
  std::vector<uint8_t> keys(static_cast<size_t>(chunk) * key_size_), values(static_cast<size_t>(chunk) * vsize);
  std::vector<uint8_t> all_keys, all_values;
  // Hash maps use a 4-byte bucket cursor, array-like maps a key-sized one.
  std::vector<uint8_t> in_batch(key_size_ > 8 ? key_size_ : 8), out_batch(in_batch.size());
  bool first = true;
  auto opts = ZeroedOpts<bpf_map_batch_opts>();
  for (;;) {
    __u32 count = chunk;
    int rc = bpf_map_lookup_batch(fd, first ? nullptr : in_batch.data(), out_batch.data(), keys.data(),
                                  values.data(), &count, &opts);
    int err = rc != 0 ? errno : 0;
    if (rc != 0 && err != ENOENT) throw ErrnoError(env, err, "batch lookup in map '" + label_ + "'");
    all_keys.insert(all_keys.end(), keys.begin(), keys.begin() + static_cast<size_t>(count) * key_size_);
    all_values.insert(all_values.end(), values.begin(), values.begin() + static_cast<size_t>(count) * vsize);
    if (err == ENOENT || count == 0) break;
    in_batch.swap(out_batch);
    first = false;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("keys", Napi::Buffer<uint8_t>::Copy(env, all_keys.data(), all_keys.size()));
  o.Set("values", Napi::Buffer<uint8_t>::Copy(env, all_values.data(), all_values.size()));
  o.Set("count", Napi::Number::New(env, static_cast<double>(all_keys.size() / (key_size_ ? key_size_ : 1))));
  return o;
}

void NativeMap::UpdateBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map");
  auto keys = BufferArg(info, 0, "keys");
  auto values = BufferArg(info, 1, "values");
  uint32_t count = U32Arg(info, 2, "count");
  if (keys.Length() != static_cast<size_t>(count) * key_size_ || values.Length() != count * ValueBufSize())
    throw Napi::RangeError::New(env, "batch update of map '" + label_ + "': keys/values do not match count");
  if (count == 0) return;
  auto opts = ZeroedOpts<bpf_map_batch_opts>();
  opts.elem_flags = ElemFlags(info, 3);
  __u32 n = count;
  if (bpf_map_update_batch(fd, keys.Data(), values.Data(), &n, &opts) != 0)
    throw ErrnoError(env, errno, "batch update of map '" + label_ + "' (" + std::to_string(n) + " of " +
                                     std::to_string(count) + " done)");
}

// deleteBatch(keys, count) -> { deleted, errno }: one BPF_MAP_DELETE_BATCH; the kernel stops at the first key it
// cannot delete (errno ENOENT for an absent one), `deleted` keys before it are gone.
Napi::Value NativeMap::DeleteBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = RequireFd(env, "map");
  auto keys = BufferArg(info, 0, "keys");
  uint32_t count = U32Arg(info, 1, "count");
  if (keys.Length() != static_cast<size_t>(count) * key_size_)
    throw Napi::RangeError::New(env, "batch delete of map '" + label_ + "': keys do not match count");
  auto opts = ZeroedOpts<bpf_map_batch_opts>();
  __u32 n = count;
  int err = bpf_map_delete_batch(fd, keys.Data(), &n, &opts) != 0 ? errno : 0;
  Napi::Object o = Napi::Object::New(env);
  o.Set("deleted", Napi::Number::New(env, n));
  o.Set("errno", Napi::Number::New(env, err));
  return o;
}

void NativeMap::Pin(const Napi::CallbackInfo& info) {
  int fd = RequireFd(info.Env(), "map");
  std::string path = StringArg(info, 0, "path");
  if (bpf_obj_pin(fd, path.c_str()) != 0) throw ErrnoError(info.Env(), errno, "pin map '" + label_ + "' at " + path);
}

void NativeMap::Close(const Napi::CallbackInfo&) { CloseFd(); }

Napi::Value NativeMap::OpenPinned(const Napi::CallbackInfo& info) {
  std::string path = StringArg(info, 0, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) throw ErrnoError(info.Env(), errno, "open pinned map " + path);
  ExpectBpfFdKind(info.Env(), fd, "bpf-map", path);
  return FromFd(info.Env(), fd, "");
}

}  // namespace bo
