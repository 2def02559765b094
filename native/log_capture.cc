// SPDX-License-Identifier: Apache-2.0
#include "log_capture.h"

#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>

namespace bo {

static thread_local std::string* active_capture = nullptr;

static int Print(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (active_capture == nullptr) {
    if (level == LIBBPF_WARN) return vfprintf(stderr, fmt, args);
    return 0;
  }
  va_list copy;
  va_copy(copy, args);
  int len = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (len <= 0) return len;
  size_t old = active_capture->size();
  active_capture->resize(old + static_cast<size_t>(len) + 1);
  vsnprintf(&(*active_capture)[old], static_cast<size_t>(len) + 1, fmt, args);
  active_capture->resize(old + static_cast<size_t>(len));
  return len;
}

void InstallLibbpfPrinter() { libbpf_set_print(Print); }

LogCapture::LogCapture() : previous_(active_capture) { active_capture = &text_; }
LogCapture::~LogCapture() { active_capture = previous_; }
const std::string& LogCapture::text() const { return text_; }

}  // namespace bo
