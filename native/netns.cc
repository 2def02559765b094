// SPDX-License-Identifier: Apache-2.0
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "errors.h"

namespace bo {

NetnsScope::NetnsScope(Napi::Env env, const std::string& path) {
  if (path.empty()) return;
  // thread-self, not self: setns switches only this thread, and the main thread is not necessarily the leader.
  original_fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original_fd_ < 0) throw ErrnoError(env, errno, "open /proc/thread-self/ns/net");
  int target = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(original_fd_);
    throw ErrnoError(env, err, "netns '" + path + "'");
  }
  int rc = setns(target, CLONE_NEWNET);
  int err = errno;
  close(target);
  if (rc != 0) {
    close(original_fd_);
    throw ErrnoError(env, err, "setns into netns '" + path + "'");
  }
}

NetnsScope::~NetnsScope() {
  if (original_fd_ < 0) return;
  if (setns(original_fd_, CLONE_NEWNET) != 0) {
    // Carrying on in the wrong namespace would send later operations to the wrong interfaces.
    perror("bpf-overlay: cannot return to the original network namespace");
    abort();
  }
  close(original_fd_);
}

int ResolveIfindex(Napi::Env env, const std::string& ifname, const std::string& netns) {
  unsigned idx = if_nametoindex(ifname.c_str());
  if (idx == 0)
    throw ErrnoError(env, errno, "interface '" + ifname + "'" + (netns.empty() ? "" : " in netns '" + netns + "'"));
  return static_cast<int>(idx);
}

Napi::Value IfindexJs(const Napi::CallbackInfo& info) {
  std::string ifname = StringArg(info, 0, "ifname");
  std::string netns = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  NetnsScope scope(info.Env(), netns);
  return Napi::Number::New(info.Env(), ResolveIfindex(info.Env(), ifname, netns));
}

}  // namespace bo
