# The OpenBLAS addon. Built at install time by the package.json "install" script (native/install.mjs:
# node-gyp rebuild, never failing the install), again with `npm rebuild @ntk/linalg` or
# `node libs/linalg/native/install.mjs`. node-gyp wants binding.gyp in the directory it builds, so it
# sits here and the output lands in libs/linalg/build/Release/ntk_linalg.node, where src/backend.ts
# looks for it; the sources live in native/.
{
  "targets": [
    {
      "target_name": "ntk_linalg",
      "sources": ["native/linalg.cc"],
      # node-addon-api's header-only target, C++ exceptions off.
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
      "defines": ["NAPI_VERSION=8"],
      # The exact gram kernel must round every product and sum separately, as JavaScript does:
      # never contract a*b + c into an FMA (the AVX-512 variant could otherwise).
      "cflags_cc": ["-ffp-contract=off"],
      # Debian/Ubuntu put cblas.h in the multiarch include dir, which gcc searches by default;
      # libopenblas.so carries LAPACK as well as BLAS.
      "libraries": ["-lopenblas"]
    }
  ]
}
