// The wasm backend's BatchMatMul runs a slow generic loop whenever transposeA/transposeB is set, and
// every matmul gradient sets one; and its fast path is single-threaded SIMD (~29 GFLOP/s here). Where
// the linalg addon loads, float32 products go to OpenBLAS's multithreaded sgemm instead, reading and
// writing the tensors in place in the wasm heap (transposes are sgemm flags). Otherwise transposed
// operands are transposed first (a cheap copy) so the fast XNNPACK path runs.
import * as tf from '@tensorflow/tfjs-core';
import { broadcast_util, util } from '@tensorflow/tfjs-core';
import type { BatchMatMulAttrs, BatchMatMulInputs, KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { nativeSgemm, type Sgemm } from '@ntk/linalg';
import type { WasmBackend } from './wasm_slice.ts';

const WASM = 'wasm';

/** The BatchMatMul kernel the wasm backend shipped with, kept for comparisons and benchmarks. */
let shippedBatchMatMul: KernelConfig | undefined;

export function shippedWasmBatchMatMul(): KernelConfig | undefined {
  return shippedBatchMatMul;
}

let matmulOnOpenblas = false;

/** Whether the wasm backend's float32 products run on OpenBLAS's sgemm (else XNNPACK in wasm). */
export function wasmMatmulOnOpenblas(): boolean {
  return matmulOnOpenblas;
}

/** Re-registers the wasm BatchMatMul with transpose-first operands. Safe to call more than once. */
export function patchWasmBatchMatMul(): void {
  if (shippedBatchMatMul) return;
  const shipped = tf.getKernel(tf.BatchMatMul, WASM);
  const transposeKernel = tf.getKernel(tf.Transpose, WASM);
  if (!shipped || !transposeKernel) throw new Error('wasm backend kernels are not registered');
  const shippedFunc = shipped.kernelFunc;
  const transposeFunc = transposeKernel.kernelFunc;

  const sgemm = process.env.NTK_WASM_MATMUL === 'xnnpack' ? undefined : nativeSgemm();
  matmulOnOpenblas = sgemm !== undefined;
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as unknown as BatchMatMulInputs;
    const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
    if (sgemm && a?.dtype === 'float32' && b?.dtype === 'float32') {
      return sgemmBatchMatMul(sgemm, a as TensorInfo, b as TensorInfo, transposeA, transposeB, backend as unknown as WasmBackend);
    }
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

/** a·b over broadcast batch dimensions with OpenBLAS sgemm, on views of the wasm heap (no copies). */
function sgemmBatchMatMul(sgemm: Sgemm, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean, backend: WasmBackend): TensorInfo {
  const rankA = a.shape.length;
  const rankB = b.shape.length;
  const [m, k] = transposeA ? [a.shape[rankA - 1]!, a.shape[rankA - 2]!] : [a.shape[rankA - 2]!, a.shape[rankA - 1]!];
  const [kB, n] = transposeB ? [b.shape[rankB - 1]!, b.shape[rankB - 2]!] : [b.shape[rankB - 2]!, b.shape[rankB - 1]!];
  if (k !== kB) throw new Error(`BatchMatMul: inner dimensions ${k} and ${kB} of shapes [${a.shape}] and [${b.shape}] differ`);
  const outer = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batchA = util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = util.sizeFromShape(b.shape.slice(0, -2));
  const batch = util.sizeFromShape(outer);
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) {
    throw new Error(`BatchMatMul: batch dimensions of [${a.shape}] and [${b.shape}] broadcast only when equal or 1`);
  }
  // Allocate first: growing the heap detaches earlier views of it.
  const out = backend.makeOutput([...outer, m, n], 'float32');
  const [av, bv, cv] = [a, b, out].map((t) => backend.typedArrayFromHeap(t) as Float32Array) as [Float32Array, Float32Array, Float32Array];
  for (let i = 0; i < batch; i++) {
    const ai = (batchA === 1 ? 0 : i) * m * k;
    const bi = (batchB === 1 ? 0 : i) * k * n;
    sgemm(av.subarray(ai, ai + m * k), transposeA, bv.subarray(bi, bi + k * n), transposeB, m, n, k, cv.subarray(i * m * n, (i + 1) * m * n));
  }
  return out;
}
