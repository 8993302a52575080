// The wasm backend's BatchMatMul runs a slow generic loop whenever transposeA/transposeB is set,
// and every matmul gradient sets one. Transposing first (a cheap copy) and multiplying untransposed
// operands takes the fast XNNPACK path instead.
import * as tf from '@tensorflow/tfjs-core';
import type { BatchMatMulAttrs, BatchMatMulInputs, KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';

const WASM = 'wasm';

/** The BatchMatMul kernel the wasm backend shipped with, kept for comparisons and benchmarks. */
let shippedBatchMatMul: KernelConfig | undefined;

export function shippedWasmBatchMatMul(): KernelConfig | undefined {
  return shippedBatchMatMul;
}

/** Re-registers the wasm BatchMatMul with transpose-first operands. Safe to call more than once. */
export function patchWasmBatchMatMul(): void {
  if (shippedBatchMatMul) return;
  const shipped = tf.getKernel(tf.BatchMatMul, WASM);
  const transposeKernel = tf.getKernel(tf.Transpose, WASM);
  if (!shipped || !transposeKernel) throw new Error('wasm backend kernels are not registered');
  const shippedFunc = shipped.kernelFunc;
  const transposeFunc = transposeKernel.kernelFunc;

  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as unknown as BatchMatMulInputs;
    const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
    if (!transposeA && !transposeB) return shippedFunc({ inputs, backend, attrs });

    const transposeLastTwo = (x: TensorInfo): TensorInfo => {
      const rank = x.shape.length;
      const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
      return transposeFunc({ inputs: { x }, backend, attrs: { perm } }) as TensorInfo;
    };
    const temporaries: TensorInfo[] = [];
    const operand = (x: TensorInfo, transpose: boolean): TensorInfo => {
      if (!transpose) return x;
      const transposed = transposeLastTwo(x);
      temporaries.push(transposed);
      return transposed;
    };
    try {
      return shippedFunc({
        inputs: { a: operand(a as TensorInfo, transposeA), b: operand(b as TensorInfo, transposeB) },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      for (const t of temporaries) (backend as KernelBackend).disposeData(t.dataId);
    }
  };

  tf.unregisterKernel(tf.BatchMatMul, WASM);
  // Keep setupFunc: it binds the wasm function the shipped kernelFunc calls.
  tf.registerKernel({ ...shipped, kernelFunc });
  shippedBatchMatMul = shipped;
}
