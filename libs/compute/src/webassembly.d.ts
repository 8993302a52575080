// Node's WebAssembly global, which the project's lib setting (ES2022, no DOM) does not declare: the part we use.
declare namespace WebAssembly {
  /** Thrown by a trap of wasm code: memory access out of bounds, unreachable, an Emscripten abort. */
  class RuntimeError extends Error {}
}
