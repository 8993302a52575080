"""neural-tangents baseline for bench/attacks.bench.ts: input gradients of a kernel predictor, float64, JAX CPU.

Usage: .venv/bin/python nt_attacks.py DIR CASE   (CASE: fcn-d2 or cnn-gap-d2)
  ->  one JSON line {case, seconds, compile_seconds, ...}; writes DIR/nt_gradient.npy

DIR holds what the bench wrote with ntk-lab's encodeNpy: x.npy (m test points), x_train.npy (n), alpha.npy
(n x classes) and adjoint.npy (m x classes), float64. The predictor is f(x) = kernel_fn(x, X_train, 'ntk') @ alpha,
the same function as ntk-lab's kernelPredictor(arch, X_train, alpha, 'ntk'); the gradient is JAX autodiff
(jax.grad, i.e. one VJP) of x -> sum(adjoint * f(x)), jitted with every array an argument (none baked into the
compiled function). Times the warm call, best of two (compile time apart): the most favourable number for it.
"""
import json
import os
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from neural_tangents import stax  # noqa: E402

W_STD, B_STD = 2**0.5, 0.1


def kernel_function(case):
    if case == "fcn-d2":
        layers = [stax.Dense(512, W_STD, B_STD), stax.Relu()] * 2
        return stax.serial(*layers, stax.Dense(1, W_STD, B_STD))[2]
    if case == "cnn-gap-d2":
        conv = [stax.Conv(1, (3, 3), padding="SAME", W_std=W_STD, b_std=B_STD), stax.Relu()] * 2
        return stax.serial(*conv, stax.GlobalAvgPool(), stax.Dense(1, W_STD, B_STD))[2]
    raise SystemExit(f"unknown case {case}: give fcn-d2 or cnn-gap-d2")


def main():
    directory, case = sys.argv[1], sys.argv[2]
    kernel_fn = kernel_function(case)
    load = lambda name: jnp.asarray(np.load(os.path.join(directory, f"{name}.npy")))  # noqa: E731
    x, x_train, alpha, adjoint = load("x"), load("x_train"), load("alpha"), load("adjoint")

    def objective(x, x_train, alpha, adjoint):
        return jnp.sum(adjoint * (kernel_fn(x, x_train, "ntk") @ alpha))

    gradient_fn = jax.jit(jax.grad(objective))
    start = time.perf_counter()
    gradient = gradient_fn(x, x_train, alpha, adjoint).block_until_ready()
    first = time.perf_counter() - start
    runs = []
    for _ in range(2):
        start = time.perf_counter()
        gradient_fn(x, x_train, alpha, adjoint).block_until_ready()
        runs.append(time.perf_counter() - start)
    np.save(os.path.join(directory, "nt_gradient.npy"), np.asarray(gradient, dtype=np.float64).reshape(x.shape[0], -1))
    print(json.dumps({
        "case": case,
        "jax": jax.__version__,
        "seconds": min(runs),
        "runs_seconds": runs,
        "compile_seconds": first - min(runs),
    }))


if __name__ == "__main__":
    main()
