{
  "targets": [
    {
      "target_name": "specimen_yara",
      "sources": [
        "native/addon.cc",
        "native/compile.cc",
        "native/rules.cc",
        "native/errors.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lyara"]
    }
  ]
}
