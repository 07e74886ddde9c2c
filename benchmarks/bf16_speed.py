"""bf16 autocast against fp32 on the E3 body (36x36 heatmaps, batch 64, Adam): seconds per
training step of the zsbench loop, one torch thread, fp32 and bf16 steps interleaved so
both see the same machine load; each measurement is printed as it comes. On a CPU without
bfloat16 instructions (no AVX-512 BF16/AMX) autocast emulates bf16 and the "speed-up" is
below 1: measured 0.10x on a 2-core AVX2 EPYC (fp32 ~560 ms/step, bf16 ~5.5 s/step).
Usage: python benchmarks/bf16_speed.py [steps] [rounds]"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from zsbench.training import native_bf16
from zsbench_plugins.models import VAE


def seconds_per_step(precision: str, images: np.ndarray, epochs: int = 1) -> float:
    model = VAE(architecture="e3", latent_dim=3, reconstruction="bce_sum", kl_weight=1.0,
                batch_size=64, epochs=epochs, progress=False, device="cpu",
                precision=precision)
    t0 = time.perf_counter()
    model.fit(images, seed=0)
    return (time.perf_counter() - t0) / model.training_summary()["steps"]


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    torch.set_num_threads(1)
    print(f"bfloat16 instructions on this CPU: {native_bf16(torch.device('cpu'))}", flush=True)
    images = np.random.default_rng(0).random((64 * steps, 1, 36, 36)).astype(np.float32)
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for r in range(rounds):
        for precision in times:
            times[precision].append(seconds_per_step(precision, images))
            print(f"round {r + 1}/{rounds} {precision}: {times[precision][-1] * 1e3:.0f} "
                  "ms/step", flush=True)
    fp32, bf16 = min(times["fp32"]), min(times["bf16"])
    print(f"E3 body, batch 64, 1 thread: fp32 {fp32 * 1e3:.0f} ms/step, bf16 "
          f"{bf16 * 1e3:.0f} ms/step, speed-up {fp32 / bf16:.2f}x")


if __name__ == "__main__":
    main()
