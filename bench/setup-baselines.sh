#!/usr/bin/env bash
# Baselines for the benchmarks, installed from PyPI at bench time into bench/.venv (gitignored).
# neural-tangents 0.6.x needs a JAX of its era and imports TensorFlow (jax2tf) at import time;
# these pins install together and import cleanly on Python 3.11 (checked 2026-11-23).
#
# PyTorch (training.bench.ts): PyPI carries only CUDA builds of torch for Linux x86_64 (the CPU-only
# wheels live on PyTorch's own index, which is not reachable here), and those do not import without the
# CUDA libraries: libtorch_cuda.so links against cuBLAS, cuDNN, NCCL and the rest, which come as the
# nvidia-*-cu12 wheels. So the whole set is installed, and runs on CPU-only machines as well: about 4.1 GB
# downloaded and 7 GB on disk (torch 1.8 GB, nvidia-* 4.3 GB, triton 0.6 GB), 110 s here (2026-11-24).
# torch 2.10.0 is the newest on PyPI built on CUDA 12.8; 2.11 and later need CUDA 13 (an NVIDIA driver
# ≥ 580), so 2.10 also serves the PyTorch-on-CUDA baseline on older drivers. It installs beside the
# pins above without changing them (numpy 1.26.4 included).
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -r requirements-baselines.txt
.venv/bin/pip install -q --no-deps neural-tangents==0.6.5
.venv/bin/python -c "import neural_tangents, jax; print('baselines ready: neural-tangents 0.6.5, jax', jax.__version__)" 2>/dev/null
.venv/bin/python -c "import torch; print('baselines ready: torch', torch.__version__, '(CUDA available)' if torch.cuda.is_available() else '(CPU)')"
