#!/usr/bin/env bash
# Baselines for the benchmarks, installed from PyPI at bench time into bench/.venv (gitignored).
# neural-tangents 0.6.x needs a JAX of its era and imports TensorFlow (jax2tf) at import time;
# these pins install together and import cleanly on Python 3.11 (checked 2026-11-23).
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -r requirements-baselines.txt
.venv/bin/pip install -q --no-deps neural-tangents==0.6.5
.venv/bin/python -c "import neural_tangents, jax; print('baselines ready: neural-tangents 0.6.5, jax', jax.__version__)" 2>/dev/null
