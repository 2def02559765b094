// SPDX-License-Identifier: Apache-2.0
#include "fd_holder.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>

namespace bo {

std::string BpfFdKind(int fd) {
  char link[64], target[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof(target) - 1);
  if (n <= 0) return "";
  std::string t(target, static_cast<size_t>(n));
  const std::string prefix = "anon_inode:";
  return t.rfind(prefix, 0) == 0 ? t.substr(prefix.size()) : t;
}

void ExpectBpfFdKind(Napi::Env env, int fd, const char* kind, const std::string& path) {
  std::string actual = BpfFdKind(fd);
  // Kernels before 6.x name link inodes "bpf_link", later ones "bpf-link".
  if (actual == "bpf_link") actual = "bpf-link";
  if (actual != kind) {
    ::close(fd);
    Napi::Error e = Napi::Error::New(env, path + " is not a pinned " + kind + " (it is " +
                                              (actual.empty() ? "unknown" : actual) + ")");
    e.Set("errno", Napi::Number::New(env, EINVAL));
    throw e;
  }
}

}  // namespace bo
