// SPDX-License-Identifier: Apache-2.0
// libbpf option structs must be fully zeroed (padding included) with sz set; LIBBPF_OPTS relies on C-only syntax.
#pragma once
#include <string.h>

namespace bo {

template <class T>
T ZeroedOpts() {
  T opts;
  memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
  return opts;
}

}  // namespace bo
