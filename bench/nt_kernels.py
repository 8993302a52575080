"""neural-tangents baseline for bench/kernels.bench.ts: same architectures and shapes, float64, JAX CPU.

Usage: .venv/bin/python nt_kernels.py CASE N   ->   one JSON line {case, n, seconds, compile_seconds}
Times the warm (already compiled) call, best of two: the most favourable number for the baseline.
"""
import json
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from neural_tangents import stax  # noqa: E402

W_STD, B_STD = 2**0.5, 0.1


def architecture(case):
    if case == "fcn-d3":
        layers = [stax.Dense(512, W_STD, B_STD), stax.Relu()] * 3
        return stax.serial(*layers, stax.Dense(1, W_STD, B_STD)), (784,)
    conv = [stax.Conv(1, (3, 3), padding="SAME", W_std=W_STD, b_std=B_STD), stax.Relu()] * 5
    readout = stax.Flatten() if case == "cnn-vec-d5" else stax.GlobalAvgPool()
    return stax.serial(*conv, readout, stax.Dense(1, W_STD, B_STD)), (32, 32, 3)


def main():
    case, n = sys.argv[1], int(sys.argv[2])
    (_, _, kernel_fn), shape = architecture(case)
    kernel_fn = jax.jit(kernel_fn, static_argnames="get")
    x = jax.random.normal(jax.random.PRNGKey(0), (n, *shape), dtype=jnp.float64)
    start = time.perf_counter()
    kernel_fn(x, None, ("nngp", "ntk")).ntk.block_until_ready()
    compile_seconds = time.perf_counter() - start
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        kernel_fn(x, None, ("nngp", "ntk")).ntk.block_until_ready()
        best = min(best, time.perf_counter() - start)
    print(json.dumps({"case": case, "n": n, "seconds": best, "compile_seconds": compile_seconds - best}))


if __name__ == "__main__":
    main()
