#!/usr/bin/env bash
# One GPU, at most 8 minutes: is zsbench's CUDA path sound, and how fast is Park et al.'s
# faithful circles model on it?
#   1. the CUDA smoke tests (tests/test_precision_device.py, the tests that need a GPU);
#   2. 200 training steps of the faithful circles model of suites/park2024_circles.toml
#      (U-Net widths 64/128/256 at full resolution, batch 64, AdamW 1e-3, weight decay
#      0.01), timed after 10 warm-up steps; the faithful profile's 20,000 steps are
#      extrapolated from it (printed as such);
#   3. 2 training steps run twice from the same seed under deterministic algorithms: the
#      weights and a batch of draws must be bit-identical.
# Usage: benchmarks/gpu_check.sh   (exit 0: all passed; 1: a check failed; 2: no CUDA GPU)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}
export MPLBACKEND=Agg

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA GPU visible to torch; nothing checked" >&2
    exit 2
fi
"$PY" -c "import torch; print('device:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"

status=0
echo "== 1. CUDA smoke tests"
timeout 180 "$PY" -m pytest -p no:randomly -q -x tests/test_precision_device.py || status=1

echo "== 2./3. faithful circles model: 200 timed steps, then a 2-step bit-stability check"
timeout 270 "$PY" - <<'EOF' || status=1
import sys
import time

import numpy as np
import torch

from zsbench.registry import Registry
from zsbench.suite import load_suite
from zsbench.torch_env import deterministic_algorithms

STEPS, WARMUP, FAITHFUL_STEPS = 200, 10, 20_000
registry = Registry()
suite = load_suite("suites/park2024_circles.toml", profile="faithful", registry=registry)
spec = next(m for m in suite.models if m.label == "diffusion_flow")
dataset = registry.create("dataset", suite.dataset.plugin, suite.dataset.params)
factors, images = dataset.load(seed=0)
images = np.asarray(images, dtype=np.float32)
batch = int(spec.params.get("batch_size", 64))


def fit(n_steps: int, seed: int = 0):
    params = {**spec.params, "epochs": 1, "eval_every": 0, "progress": False,
              "device": "cuda"}
    model = registry.create("model", spec.plugin, params)
    n = n_steps * batch
    reps = -(-n // len(images))
    x, f = np.concatenate([images] * reps)[:n], np.concatenate([factors] * reps)[:n]
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    model.fit(x, seed=seed, factors=f, space=dataset.space)
    torch.cuda.synchronize()
    return model, time.perf_counter() - t0


fit(WARMUP)  # CUDA context, kernels, allocator
_, short = fit(WARMUP)
_, long = fit(WARMUP + STEPS)
per_step = (long - short) / STEPS
print(f"faithful circles step (batch {batch}): {per_step * 1e3:.1f} ms/step (measured, "
      f"{STEPS} steps); {FAITHFUL_STEPS} steps: {per_step * FAITHFUL_STEPS / 60:.1f} min "
      "per model (extrapolated, training only)")

with deterministic_algorithms():
    runs = []
    for _ in range(2):
        model, _ = fit(2, seed=0)
        state = {k: v.detach().cpu().numpy().copy()
                 for k, v in model.module_.state_dict().items()}
        draws = model.generate(factors[:16], seed=1)
        runs.append((state, draws))
same_weights = all(np.array_equal(runs[0][0][k], runs[1][0][k]) for k in runs[0][0])
same_draws = np.array_equal(runs[0][1], runs[1][1])
print(f"2 steps twice from seed 0: weights bit-identical {same_weights}, draws "
      f"bit-identical {same_draws}")
sys.exit(0 if same_weights and same_draws else 1)
EOF

[ "$status" -eq 0 ] && echo "gpu_check: passed" || echo "gpu_check: FAILED"
exit "$status"
