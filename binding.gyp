{
  "targets": [
    {
      "target_name": "bpf_overlay_native",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/fd_holder.cc",
        "native/log_capture.cc",
        "native/object.cc",
        "native/map.cc",
        "native/program.cc",
        "native/link.cc",
        "native/netns.cc"
      ],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=c++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
