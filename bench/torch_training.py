"""PyTorch baseline for bench/training.bench.ts: the same network, loss, optimizer and batch, float32.

Usage: .venv/bin/python torch_training.py --case fcn|cnn-gap --device cpu|cuda [options]
  ->  one JSON line {case, device, threads, parameterization, ..., examples_per_s, windows_examples_per_s}

The network is ntk-lab's (libs/nets/src/layers.ts): `depth` hidden dense (fcn) or 3x3 SAME conv (cnn-gap,
then a global average pool) layers with ReLU, and a dense readout. In NTK parameterization (the default,
what ntk-lab trains) parameters are N(0, 1) and a layer computes (W_std/sqrt(fan_in))*x@w + b_std*b; in
standard parameterization (nn.Linear/nn.Conv2d) it is x@W + b. The FLOPs are the same up to one
elementwise scale per layer. Loss 0.5*mean((f - y)^2) over the batch and outputs, plain SGD (no momentum,
no weight decay), batches drawn from a fixed random permutation of the training rows, which stay on the
device as ntk-lab's do. Timed: `--repeats` windows of `--steps` steps after `--warmup` steps; each window
ends with a device synchronization (and its last loss is read). examples/s is the best window's.
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn.functional as F

W_STD, B_STD = math.sqrt(2.0), 0.1


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--case", choices=["fcn", "cnn-gap"], default="fcn")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--parameterization", choices=["ntk", "standard"], default="ntk")
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--n", type=int, default=60000, help="training rows")
    p.add_argument("--lr", type=float, default=None, help="default 0.5 in NTK parameterization, 0.5/width in standard")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--steps", type=int, default=50, help="steps per timed window")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls/convolutions on CUDA (off: full float32 as ntk-lab)")
    return p.parse_args()


def input_shape(case):
    return (784,) if case == "fcn" else (3, 32, 32)  # NCHW: PyTorch's native conv layout


def init_params(args, generator):
    """[(weight, bias, fan_in)] per layer; NTK: N(0, 1); standard: N(0, W_std^2/fan_in), N(0, b_std^2)."""
    ntk = args.parameterization == "ntk"
    shapes = []
    if args.case == "fcn":
        fan = 784
        for _ in range(args.depth):
            shapes.append(((args.width, fan), fan))
            fan = args.width
        shapes.append(((10, fan), fan))
    else:
        channels = 3
        for _ in range(args.depth):
            shapes.append(((args.width, channels, 3, 3), channels * 9))
            channels = args.width
        shapes.append(((10, channels), channels))
    params = []
    for shape, fan_in in shapes:
        w = torch.randn(shape, generator=generator) * (1.0 if ntk else W_STD / math.sqrt(fan_in))
        b = torch.randn(shape[0], generator=generator) * (1.0 if ntk else B_STD)
        params.append((w.to(args.device).requires_grad_(), b.to(args.device).requires_grad_(), fan_in))
    return params


def forward(args, params, x):
    ntk = args.parameterization == "ntk"
    h = x
    for i, (w, b, fan_in) in enumerate(params):
        last = i == len(params) - 1
        conv = args.case == "cnn-gap" and not last
        if args.case == "cnn-gap" and last:
            h = h.mean(dim=(2, 3))  # global average pool
        if ntk:
            # ntk-lab's affine(): the scales are applied in the forward pass.
            linear = F.conv2d(h, w, padding=1) if conv else F.linear(h, w)
            h = linear * (W_STD / math.sqrt(fan_in)) + (b.view(-1, 1, 1) if conv else b) * B_STD
        else:
            h = F.conv2d(h, w, b, padding=1) if conv else F.linear(h, w, b)
        if not last:
            h = torch.relu(h)
    return h


def main():
    args = parse_args()
    if args.lr is None:
        args.lr = 0.5 if args.parameterization == "ntk" else 0.5 / args.width
    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = True
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((args.n, *input_shape(args.case)), generator=generator).to(args.device)
    labels = torch.randint(0, 10, (args.n,), generator=generator)
    y = (F.one_hot(labels, 10).float() - 0.1).to(args.device)  # one-hot, centered
    params = init_params(args, generator)
    tensors = [t for w, b, _ in params for t in (w, b)]
    per_epoch = args.n // args.batch
    order = torch.randperm(args.n, generator=generator).to(args.device)

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    step = 0

    def train(steps):
        nonlocal order, step
        loss = None
        for _ in range(steps):
            if step % per_epoch == 0 and step > 0:
                order = torch.randperm(args.n, generator=generator).to(args.device)
            rows = order[(step % per_epoch) * args.batch:(step % per_epoch + 1) * args.batch]
            out = forward(args, params, x[rows])
            loss = 0.5 * F.mse_loss(out, y[rows])  # 0.5 * mean over batch and outputs, as ntk-lab's mseLoss
            grads = torch.autograd.grad(loss, tensors)
            with torch.no_grad():
                for t, g in zip(tensors, grads):
                    t.sub_(g, alpha=args.lr)  # plain SGD, in place (what torch.optim.SGD does)
            step += 1
        return loss

    train(args.warmup)
    sync()
    windows = []
    last_loss = None
    for _ in range(args.repeats):
        start = time.perf_counter()
        loss = train(args.steps)
        last_loss = loss.item()  # also a synchronization
        sync()
        windows.append(args.steps * args.batch / (time.perf_counter() - start))
    if not math.isfinite(last_loss):
        raise SystemExit(f"training diverged (loss {last_loss}); lower --lr")
    print(json.dumps({
        "case": args.case,
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device == "cuda" else None,
        "threads": torch.get_num_threads(),
        "parameterization": args.parameterization,
        "width": args.width,
        "depth": args.depth,
        "batch": args.batch,
        "n": args.n,
        "lr": args.lr,
        "warmup": args.warmup,
        "steps": args.steps,
        "repeats": args.repeats,
        "tf32": args.tf32 if args.device == "cuda" else None,
        "torch": torch.__version__,
        "last_loss": last_loss,
        "examples_per_s": max(windows),
        "windows_examples_per_s": windows,
    }))


if __name__ == "__main__":
    main()
