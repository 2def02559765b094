// SPDX-License-Identifier: Apache-2.0
// libbpf reports through one global print callback. While a LogCapture is alive on this thread, everything
// libbpf prints is collected (that is how the verifier log of a failed load reaches JS); otherwise warnings
// go to stderr as libbpf's default printer would do.
#pragma once
#include <string>

namespace bo {

void InstallLibbpfPrinter();

class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  const std::string& text() const;

 private:
  std::string* previous_;
  std::string text_;
};

}  // namespace bo
