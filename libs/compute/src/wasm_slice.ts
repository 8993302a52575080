// The wasm backend's Slice reads its input with readSync, which copies the WHOLE tensor out of the wasm
// heap on every call: taking a 128-row batch out of a 60,000 × 784 dataset cost ~100 ms. This kernel
// copies only the slice, reading both tensors through views of the heap.
import * as tf from '@tensorflow/tfjs-core';
import { slice_util, util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, SliceAttrs, SliceInputs, TensorInfo } from '@tensorflow/tfjs-core';

const WASM = 'wasm';

/** The parts of the wasm backend our kernels use (tfjs exports no type for it). */
export interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): tf.TypedArray;
}

let shippedSlice: KernelConfig | undefined;

/** Re-registers the wasm Slice with a copy of just the sliced range. Safe to call more than once. */
export function patchWasmSlice(): void {
  if (shippedSlice) return;
  const shipped = tf.getKernel(tf.Slice, WASM);
  if (!shipped) throw new Error('wasm backend kernels are not registered');

  const kernelFunc: KernelFunc = (args) => {
    const { x } = args.inputs as unknown as SliceInputs;
    const input = x as TensorInfo;
    if (input.dtype === 'string') return shipped.kernelFunc(args);
    const { begin, size } = args.attrs as unknown as SliceAttrs;
    const [start, extent] = slice_util.parseSliceParams(input, begin, size);
    const backend = args.backend as unknown as WasmBackend;
    // Allocate first: growing the heap detaches earlier views of it.
    const out = backend.makeOutput(extent, input.dtype);
    copySlice(backend.typedArrayFromHeap(input), input.shape, start, extent, backend.typedArrayFromHeap(out));
    return out;
  };

  tf.unregisterKernel(tf.Slice, WASM);
  tf.registerKernel({ ...shipped, kernelFunc });
  shippedSlice = shipped;
}

/** Copies x[start : start + extent] (row-major) into out, one run along the last axis at a time. */
function copySlice(x: tf.TypedArray, shape: number[], start: number[], extent: number[], out: tf.TypedArray): void {
  const total = util.sizeFromShape(extent);
  if (total === 0) return;
  const strides = util.computeStrides(shape);
  if (slice_util.isSliceContinous(shape, start, extent)) {
    const from = slice_util.computeFlatOffset(start, strides);
    out.set(x.subarray(from, from + total));
    return;
  }
  const rank = shape.length;
  const run = extent[rank - 1]!;
  const index = new Array<number>(rank - 1).fill(0); // position among the leading axes of the slice
  for (let written = 0; written < total; written += run) {
    let from = start[rank - 1]!;
    for (let axis = 0; axis < rank - 1; axis++) from += (start[axis]! + index[axis]!) * strides[axis]!;
    out.set(x.subarray(from, from + run), written);
    for (let axis = rank - 2; axis >= 0 && ++index[axis]! === extent[axis]; axis--) index[axis] = 0;
  }
}
