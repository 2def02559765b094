// SPDX-License-Identifier: Apache-2.0
// The one rule for fd-holding native objects: close() is explicit and idempotent, the finalizer closes what is
// left, and any use after close throws an error naming the object.
#pragma once
#include <napi.h>
#include <unistd.h>

#include <string>

namespace bo {

class FdHolder {
 public:
  ~FdHolder() { CloseFd(); }

 protected:
  int RequireFd(Napi::Env env, const char* what) const {
    if (fd_ < 0) throw Napi::Error::New(env, std::string(what) + " '" + label_ + "' is closed");
    return fd_;
  }
  void CloseFd() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
  std::string label_;
};

}  // namespace bo

namespace bo {

// What kind of BPF object an fd refers to ("bpf-map", "bpf-prog", "bpf-link"), from its anon inode name:
// bpf_obj_get hands back any pinned object, and reading it with the wrong info struct would give garbage.
std::string BpfFdKind(int fd);

// Closes fd and throws when it is not of the expected kind.
void ExpectBpfFdKind(Napi::Env env, int fd, const char* kind, const std::string& path);

}  // namespace bo
