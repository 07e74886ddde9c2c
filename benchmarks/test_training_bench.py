"""Training speed: one epoch of each standard model, and zsbench's shared training loop
against a bare PyTorch loop of the same module, data, batch size and optimiser.

Fixed inputs: 512 polar images at 64x64 (data seed 0), batch 8 (64 steps an epoch), Adam
(lr 1e-3), the default architecture, CPU. Run with::

    pytest benchmarks/test_training_bench.py --benchmark-only -s

``-s`` shows the line with the loop overhead (zsbench loop / bare loop); the same figures
are in each benchmark's ``extra_info`` (``--benchmark-json`` / ``--benchmark-save``).
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from zsbench.training import LossContext, derive_seed, train
from zsbench_plugins.models import VAE, AutoEncoder

BATCH_SIZE = 8

MODELS = {
    "ae": lambda: AutoEncoder(latent_dim=3, epochs=1, batch_size=BATCH_SIZE, device="cpu",
                              progress=False),
    "vae": lambda: VAE(latent_dim=3, epochs=1, batch_size=BATCH_SIZE, device="cpu",
                       progress=False),
    "vae-fixed-sigma": lambda: VAE(latent_dim=3, fixed_sigma=0.1, epochs=1,
                                   batch_size=BATCH_SIZE, device="cpu", progress=False),
}
OVERHEAD_GOAL = 1.05
"""The issue's goal for the zsbench loop against the bare loop (reported, not asserted: a
shared CI machine is too noisy for a 5 % assertion)."""
OVERHEAD_LIMIT = 1.5
"""Asserted: beyond this the loop does something wrong (a sync or a copy per step)."""


@pytest.mark.benchmark(group="epoch-512x64-batch8")
@pytest.mark.parametrize("name", list(MODELS))
def test_one_epoch(benchmark: Any, polar_512: np.ndarray, name: str) -> None:
    """``model.fit`` for one epoch: building the network from the seed, then 64 steps."""
    model = MODELS[name]()
    benchmark.pedantic(model.fit, args=(polar_512,), kwargs={"seed": 0}, rounds=5,
                       iterations=1, warmup_rounds=1)
    summary = model.training_summary()
    assert summary["epochs_run"] == 1 and summary["steps"] == len(polar_512) // BATCH_SIZE
    benchmark.extra_info["steps"] = summary["steps"]
    benchmark.extra_info["images_per_s"] = len(polar_512) / benchmark.stats.stats.median


def bare_loop(net: torch.nn.Module, loss_fn: Callable, images: np.ndarray, *, seed: int,
              epochs: int, batch_size: int, lr: float = 1e-3) -> None:
    """The textbook PyTorch loop: shuffle, slice, forward, mean loss, backward, step. Same
    optimiser as zsbench's (fused Adam), same per-sample loss, no bookkeeping."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    n = len(x)
    opt = torch.optim.Adam(net.parameters(), lr=lr, fused=True)
    shuffle = torch.Generator().manual_seed(derive_seed(seed, "shuffle"))
    noise = torch.Generator().manual_seed(derive_seed(seed, "noise"))
    steps = -(-n // batch_size)
    net.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=shuffle)
        for lo in range(0, n, batch_size):
            ctx = LossContext(noise, n, epoch, epochs, (epoch - 1) * steps + lo // batch_size,
                              steps)
            loss = loss_fn(net, x[order[lo:lo + batch_size]], ctx).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()


def zsbench_loop(net: torch.nn.Module, loss_fn: Callable, images: np.ndarray, *, seed: int,
                 epochs: int, batch_size: int, lr: float = 1e-3) -> None:
    train(net, loss_fn, images, seed=seed, epochs=epochs, batch_size=batch_size,
          optimizer="adam", lr=lr, device="cpu", progress=False, label="bench")


@pytest.mark.benchmark(group="loop-overhead")
@pytest.mark.parametrize("name", ["ae", "vae"])
def test_training_loop_overhead(benchmark: Any, polar_512: np.ndarray, name: str) -> None:
    """zsbench's ``train`` against :func:`bare_loop` on the same freshly built module
    (deep copies of one initialisation), interleaved round by round so that both see the
    same machine load; the ratio of the medians is the loop's overhead."""
    model = MODELS[name]()
    net0 = model._build(tuple(polar_512.shape[1:]), seed=0)
    loops = {"zsbench": zsbench_loop, "bare": bare_loop}
    times: dict[str, list[float]] = {k: [] for k in loops}
    rounds = 7

    def one(kind: str) -> None:
        net = copy.deepcopy(net0)
        t0 = time.perf_counter()
        loops[kind](net, model._loss, polar_512, seed=0, epochs=1, batch_size=BATCH_SIZE)
        times[kind].append(time.perf_counter() - t0)

    for kind in loops:  # warm-up, not recorded
        one(kind)
        times[kind].clear()
    state = {"round": 0}

    def round_zsbench() -> None:
        # alternate which loop goes first; the benchmark times the zsbench loop
        if state["round"] % 2:
            one("bare")
            one("zsbench")
        else:
            one("zsbench")
            one("bare")
        state["round"] += 1

    benchmark.pedantic(round_zsbench, rounds=rounds, iterations=1)
    z, b = statistics.median(times["zsbench"]), statistics.median(times["bare"])
    ratio = z / b
    benchmark.extra_info.update({"zsbench_epoch_s": z, "bare_epoch_s": b, "ratio": ratio,
                                 "zsbench_min_s": min(times["zsbench"]),
                                 "bare_min_s": min(times["bare"]),
                                 "ratio_of_minima": min(times["zsbench"]) / min(times["bare"])})
    print(f"\n[{name}] training loop, one epoch (512 images, batch {BATCH_SIZE}): zsbench "
          f"{z * 1e3:.1f} ms, bare PyTorch {b * 1e3:.1f} ms (medians of {rounds}); "
          f"ratio {ratio:.3f} (goal <= {OVERHEAD_GOAL}); ratio of minima "
          f"{min(times['zsbench']) / min(times['bare']):.3f}")
    assert ratio < OVERHEAD_LIMIT
