"""PyTorch baseline for bench/attacks.bench.ts: input gradients and PGD on the same MLP, float32, CPU.

Usage: .venv/bin/python torch_attacks.py DIR --threads T [options]
  ->  one JSON line {torch, threads, evaluations_per_s, ..., pgd: [{epsilon, seconds, ...}]}; writes DIR/torch_gradient.npy

DIR holds what the bench wrote with ntk-lab's encodeNpy: x.npy (n x 784), adjoint.npy (n x 10), labels.npy (n),
and w0.npy, b0.npy, w1.npy, ... the network's parameters in ntk-lab's layout (a dense weight is [fan_in, units]).
The network is torch_training.py's NTK parameterization: h = (W_std/sqrt(fan_in))*F.linear(h, w) + b_std*b, ReLU
between layers. One gradient evaluation is d/dx of sum_k adjoint[i, k]*f_k(x_i) for one point, by autograd on
x.requires_grad_(). PGD is a line-by-line port of @ntk/attacks' pgd (L-inf, no random start, clipped into
[0, 1]; margin max_{j!=y} f_j - f_y, its adjoint +1/-1; a point keeps its first misclassified iterate and takes
no more steps), so both sides compute the same gradients on the same active points.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

W_STD, B_STD = math.sqrt(2.0), 0.1


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--calls", type=int, default=5, help="gradient calls per timed window")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--pgd-steps", type=int, default=20)
    p.add_argument("--epsilons", default="0.1", help="comma-separated; one PGD run per radius, step 2.5*epsilon/steps; empty: none")
    return p.parse_args()


def load_params(directory):
    params = []
    while os.path.exists(os.path.join(directory, f"w{len(params)}.npy")):
        i = len(params)
        w = torch.from_numpy(np.load(os.path.join(directory, f"w{i}.npy")).astype(np.float32))
        b = torch.from_numpy(np.load(os.path.join(directory, f"b{i}.npy")).astype(np.float32))
        params.append((w.t().contiguous(), b, w.shape[0]))  # F.linear's [units, fan_in]
    return params


def forward(params, x):
    h = x
    for i, (w, b, fan_in) in enumerate(params):
        h = F.linear(h, w) * (W_STD / math.sqrt(fan_in)) + b * B_STD
        if i < len(params) - 1:
            h = torch.relu(h)
    return h


def input_gradient(params, x, adjoint):
    x = x.detach().requires_grad_()
    (out,) = torch.autograd.grad((forward(params, x) * adjoint).sum(), x)
    return out


def margins_and_adjoint(outputs, labels):
    """@ntk/attacks' attackMargins: runner-up minus label; the adjoint is +1 at the runner-up, -1 at the label."""
    masked = outputs.clone()
    masked.scatter_(1, labels[:, None], -math.inf)
    runner_up = masked.argmax(dim=1)
    rows = torch.arange(len(labels))
    margins = outputs[rows, runner_up] - outputs[rows, labels]
    adjoint = torch.zeros_like(outputs)
    adjoint[rows, runner_up] = 1.0
    adjoint[rows, labels] = -1.0
    return margins, adjoint


def pgd(params, x, labels, epsilon, step_size, steps):
    current = x.clone()
    success = torch.zeros(len(labels), dtype=torch.bool)
    active = torch.arange(len(labels))
    evaluations = 0
    for step in range(steps + 1):
        with torch.no_grad():
            outputs = forward(params, current[active])
        margins, adjoint = margins_and_adjoint(outputs, labels[active])
        done = (margins > 0) | (step == steps)
        success[active[done]] = margins[done] > 0
        going = ~done
        if not going.any():
            break
        active = active[going]
        gradient = input_gradient(params, current[active], adjoint[going])
        evaluations += len(active)
        with torch.no_grad():
            moved = current[active] + step_size * torch.sign(gradient)
            origin = x[active]
            moved = torch.minimum(torch.maximum(moved, origin - epsilon), origin + epsilon).clamp_(0.0, 1.0)
            current[active] = moved
    return success, evaluations


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    params = load_params(args.dir)
    x = torch.from_numpy(np.load(os.path.join(args.dir, "x.npy")).astype(np.float32))
    adjoint = torch.from_numpy(np.load(os.path.join(args.dir, "adjoint.npy")).astype(np.float32))
    labels = torch.from_numpy(np.load(os.path.join(args.dir, "labels.npy")).astype(np.int64))
    n = x.shape[0]

    gradient = None
    for _ in range(args.warmup):
        gradient = input_gradient(params, x, adjoint)
    np.save(os.path.join(args.dir, "torch_gradient.npy"), gradient.numpy().astype(np.float64))
    windows = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.calls):
            input_gradient(params, x, adjoint)
        windows.append(args.calls * n / (time.perf_counter() - start))

    attacks = []
    for epsilon in [float(e) for e in args.epsilons.split(",") if e]:
        step_size = 2.5 * epsilon / args.pgd_steps
        pgd(params, x, labels, epsilon, step_size, args.pgd_steps)  # warm
        runs = []
        for _ in range(2):
            start = time.perf_counter()
            success, evaluations = pgd(params, x, labels, epsilon, step_size, args.pgd_steps)
            runs.append(time.perf_counter() - start)
        attacks.append({
            "epsilon": epsilon,
            "seconds": min(runs),
            "runs_seconds": runs,
            "gradient_evaluations": evaluations,
            "successes": int(success.sum()),
        })
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "evaluations_per_s": max(windows),
        "windows_evaluations_per_s": windows,
        "pgd": attacks,
    }))


if __name__ == "__main__":
    main()
