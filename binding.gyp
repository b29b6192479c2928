# Second build of the addon with node-gyp (CPU backend only). The sources come from
# native/sources.json, the same list CMakeLists.txt reads. `npm install` does not run this
# file by itself: package.json has an explicit install script (scripts/build-native.mjs).
{
  "targets": [
    {
      "target_name": "autoscale",
      "sources": [
        "<!@(node -p \"const s=require('./native/sources.json'); [...s.core, ...s.no_cuda, ...s.addon].join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fno-trapping-math", "-fopenmp", "-fexceptions", "-frtti"],
      "conditions": [
        ["'<!(node -p \"process.env.AUTOSCALE_NATIVE_ARCH || 'ON'\")'=='ON'", {"cflags_cc": ["-march=native"]}]
      ],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldl"]
    }
  ]
}
