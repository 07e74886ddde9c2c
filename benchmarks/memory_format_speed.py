"""Channels-last against the default (contiguous) memory format: seconds per training step
of a bare PyTorch loop (Adam, BCE on logits, one torch thread) on the E3 body (36x36, batch
64) and the default body at the E1 size (64x64, batch 8). Both layouts step in turns so they
see the same machine load. Measured on a 2-core AVX2 EPYC: E3 563 -> 483 ms/step (-14 %;
-16 % in another run), polar 12.1 -> 10.9 ms/step (-10 %; -4 % in another run). zsbench
trains contiguous (the layout changes the last bits of every score).
Usage: python benchmarks/memory_format_speed.py [rounds]"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from zsbench_plugins.models.nets import default_body, e3_body

CASES = {"e3 (36x36, batch 64)": (e3_body, 36, 64, 10),
         "polar (64x64, batch 8)": (default_body, 64, 8, 200)}


def make_step(body: Callable, size: int, batch: int, channels_last: bool) -> Callable[[], None]:
    """One Adam step of encoder -> 3-d head -> decoder on a fixed random batch."""
    torch.manual_seed(0)
    b = body((1, size, size), 3)
    head = nn.Linear(b.features, 3)
    net = nn.ModuleList([b.encoder, head, b.decoder])
    x = torch.rand(batch, 1, size, size)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step() -> None:
        logits = b.decoder(head(b.encoder(x)))
        loss = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    torch.set_num_threads(1)
    for name, (body, size, batch, reps) in CASES.items():
        steps = {fmt: make_step(body, size, batch, fmt == "channels_last")
                 for fmt in ("contiguous", "channels_last")}
        times: dict[str, list[float]] = {fmt: [] for fmt in steps}
        for step in steps.values():
            for _ in range(3):
                step()
        for _ in range(rounds):
            for fmt, step in steps.items():
                t0 = time.perf_counter()
                for _ in range(reps):
                    step()
                times[fmt].append((time.perf_counter() - t0) / reps)
        a, b = (float(np.median(times[f])) for f in ("contiguous", "channels_last"))
        print(f"{name}: contiguous {a * 1e3:.1f} ms/step, channels_last {b * 1e3:.1f} "
              f"ms/step ({100 * (b / a - 1):+.0f} %)", flush=True)


if __name__ == "__main__":
    main()
