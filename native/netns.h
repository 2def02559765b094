// SPDX-License-Identifier: Apache-2.0
// Runs a piece of code inside another network namespace (given as a path such as /run/netns/NAME) on the
// calling thread, and always switches back, also when the code throws.
#pragma once
#include <napi.h>

#include <string>

namespace bo {

class NetnsScope {
 public:
  // An empty path means "stay in the current namespace".
  NetnsScope(Napi::Env env, const std::string& path);
  ~NetnsScope();
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

 private:
  int original_fd_ = -1;
};

// if_nametoindex in the current namespace, with an error naming the interface.
int ResolveIfindex(Napi::Env env, const std::string& ifname, const std::string& netns);

// JS: ifindex(ifname, netns?) -> number
Napi::Value IfindexJs(const Napi::CallbackInfo& info);

}  // namespace bo
