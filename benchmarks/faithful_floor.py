"""The least wall time that the faithful E3 / E4 training can take on this machine.

Counts the floating-point operations of one training step of the E3 body (batch 64, 36x36,
forward and backward, with torch's ``FlopCounterMode``), measures the machine's best
single-thread float32 matrix multiply (2048x2048, best of 5), and divides: the faithful
profiles train 4470 VAE steps and 3725 AE steps, so even if every step ran at the matrix
multiply's peak and the two jobs shared the cores perfectly, training alone would take
``steps * flops / (peak * cores)``. On the 2-core AVX2 EPYC used here: 22.4 GFLOP a step,
71 GFLOP/s a core, at least 21.5 min for two cores (the faithful runs took 31 to 51 min,
depending on the day). It also times the real step (one thread, median of ``rounds``) to
show how far from that peak the convolutions run (with freed memory kept for reuse, as
zsbench's processes do).

Usage: python benchmarks/faithful_floor.py [rounds]
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from zsbench.executors import keep_freed_memory
from zsbench_plugins.models.nets import e3_body

VAE_STEPS = 30 * 149  # 30 epochs of 9500 training images at batch 64
AE_STEPS = 25 * 149
BATCH, SIZE, LATENT = 64, 36, 3


def make_step() -> tuple[nn.Module, torch.Tensor, torch.optim.Optimizer]:
    """The E3 body with a latent head, a fixed random batch ``[64, 1, 36, 36]`` and Adam."""
    torch.manual_seed(0)
    body = e3_body((1, SIZE, SIZE), LATENT)
    net = nn.Sequential(body.encoder, nn.Linear(body.features, LATENT), body.decoder)
    x = torch.rand(BATCH, 1, SIZE, SIZE)
    return net, x, torch.optim.Adam(net.parameters(), 1e-3)


def step(net: nn.Module, x: torch.Tensor, opt: torch.optim.Optimizer) -> None:
    """One training step: BCE on logits, summed, backward, Adam."""
    loss = nn.functional.binary_cross_entropy_with_logits(net(x), x, reduction="sum")
    opt.zero_grad()
    loss.backward()
    opt.step()


def sgemm_peak(n: int = 2048, rounds: int = 5,
               clock: Callable[[], float] = time.perf_counter) -> float:
    """Best float32 matrix-multiply rate of this thread, FLOP/s, timed by ``clock``
    (wall time by default; ``time.process_time`` for CPU time on a shared machine)."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(rounds):
        t0 = clock()
        a @ b
        best = min(best, clock() - t0)
    return 2.0 * n ** 3 / best


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.set_num_threads(1)
    keep_freed_memory()  # as in zsbench's own processes
    net, x, opt = make_step()
    with FlopCounterMode(display=False) as counter:
        step(net, x, opt)
    flops = counter.get_total_flops()
    peak = sgemm_peak()
    cores = os.cpu_count() or 1
    for _ in range(2):
        step(net, x, opt)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        step(net, x, opt)
        times.append(time.perf_counter() - t0)
    real = sorted(times)[len(times) // 2]
    steps = VAE_STEPS + AE_STEPS
    print(f"E3 step: {flops / 1e9:.1f} GFLOP; one-thread sgemm peak {peak / 1e9:.0f} GFLOP/s; "
          f"real step {real * 1e3:.0f} ms ({flops / real / 1e9:.0f} GFLOP/s)")
    print(f"faithful training ({VAE_STEPS} + {AE_STEPS} steps) on {cores} core(s): at least "
          f"{steps * flops / peak / cores / 60:.1f} min at the sgemm peak, "
          f"{steps * real / cores / 60:.1f} min at the real step")


if __name__ == "__main__":
    main()
