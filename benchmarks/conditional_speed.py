"""What a conditional generator's training step and draws cost, against the machine's peak.

For each conditional model of ``suites/circles_colour_size.toml`` (3x32x32, batch 64) and
``suites/bumps_donut.toml`` (1x28x28, batch 32), with the suite's own parameters:

- ``GFLOP/step``: one training step's operations (forward and backward of the model's own
  loss on its own network; torch's ``FlopCounterMode``; the optimiser and weight average
  are not counted);
- ``zsbench ms/step``: ``model.fit`` itself, per step (two fits of different lengths, the
  difference over the extra steps, so building the network and the data are not counted);
- ``bare ms/step``: a textbook PyTorch loop of the same network and per-sample loss (fused
  Adam, or fused AdamW when the model uses it, and the same weight average for a model
  with ``ema``), no bookkeeping; ``ratio`` = zsbench / bare (the goal: at most 1.05);
- ``GFLOP/s`` of the zsbench step and its share of the machine's float32 matrix-multiply
  peak (one thread, 2048x2048, best of 5);
- ``ms/image`` of ``generate`` at each ``sample_steps`` (diffusion) or of one decode.

Every time is **process CPU time** on one torch thread (``time.process_time``): on a
machine that other work loads, CPU time of a single-threaded process is far less affected
than wall time (still not immune: a busy neighbour evicts caches). zsbench and bare
loops run in turns, round by round, and the medians are compared.

Usage: python benchmarks/conditional_speed.py [rounds] [steps]   (defaults 3 and 6)
"""

from __future__ import annotations

import copy
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from faithful_floor import sgemm_peak  # noqa: E402  (benchmarks/, beside this script)

from zsbench import training
from zsbench.registry import Registry
from zsbench.suite import load_suite
from zsbench.training import LossContext, _make_optimizer, derive_seed

CASES = (("circles", "suites/circles_colour_size.toml"), ("bumps", "suites/bumps_donut.toml"))
PLUGINS = ("diffusion", "cvae", "factor_decoder")
SAMPLE_STEPS = (10, 25, 50)
WARMUP = 2  # steps before a timed stretch starts


class Captured:
    """What the model handed to ``zsbench.training.train``: the network (a copy of its
    initial state), the loss, the data and the keywords."""

    net: torch.nn.Module
    loss: Callable[..., torch.Tensor]
    data: Any
    kwargs: dict[str, Any]


def capture(model: Any, images: np.ndarray, factors: np.ndarray, space: Any) -> Captured:
    """Fit ``model`` for one short epoch with ``train`` wrapped, to record its arguments."""
    import zsbench_plugins.models._conditional as cond_mod
    import zsbench_plugins.models.diffusion as diff_mod

    got = Captured()
    real = {m: m.train for m in (cond_mod, diff_mod) if hasattr(m, "train")}

    def spy(net: torch.nn.Module, loss: Any, data: Any, **kwargs: Any) -> Any:
        got.net, got.loss, got.data, got.kwargs = copy.deepcopy(net), loss, data, kwargs
        return training.train(net, loss, data, **kwargs)

    try:
        for m in real:
            m.train = spy
        model.fit(images, seed=0, factors=factors, space=space)
    finally:
        for m, fn in real.items():
            m.train = fn
    return got


def bare_steps(got: Captured, ema: float, steps: int) -> float:
    """CPU seconds of ``steps`` bare steps (after :data:`WARMUP`): random rows, the loss,
    backward, the model's optimiser, the weight average."""
    net = copy.deepcopy(got.net).train()
    data = got.data if isinstance(got.data, tuple) else (got.data,)
    tensors = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in data]
    n, batch = len(tensors[0]), int(got.kwargs["batch_size"])
    opt = _make_optimizer(got.kwargs.get("optimizer", "adam"), net.parameters(),
                          float(got.kwargs.get("lr", 1e-3)), got.kwargs.get("weight_decay"))
    average = copy.deepcopy(net).eval().requires_grad_(False) if ema > 0 else None
    g = torch.Generator().manual_seed(derive_seed(0, "bench"))
    params = list(net.parameters())
    avg = list(average.parameters()) if average is not None else []
    t0 = 0.0
    for step in range(WARMUP + steps):
        if step == WARMUP:
            t0 = time.process_time()
        index = torch.randint(0, n, (batch,), generator=g)
        rows = [t[index] for t in tensors]
        ctx = LossContext(g, n, 1, 1, step, -(-n // batch), index=index)
        loss = got.loss(net, rows[0] if len(rows) == 1 else tuple(rows), ctx).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if average is not None:
            torch._foreach_lerp_(avg, [p.detach() for p in params], 1.0 - ema)
    return time.process_time() - t0


def step_flops(got: Captured) -> float:
    """Operations of one forward and backward of the loss on a batch."""
    net = copy.deepcopy(got.net).train()
    data = got.data if isinstance(got.data, tuple) else (got.data,)
    batch = int(got.kwargs["batch_size"])
    rows = [torch.from_numpy(np.ascontiguousarray(a[:batch], dtype=np.float32)) for a in data]
    g = torch.Generator().manual_seed(0)
    ctx = LossContext(g, len(data[0]), 1, 1, 0, 1, index=torch.arange(batch))
    with FlopCounterMode(display=False) as counter:
        got.loss(net, rows[0] if len(rows) == 1 else tuple(rows), ctx).mean().backward()
    return float(counter.get_total_flops())


def fit_seconds(make: Callable[[], Any], images: np.ndarray, factors: np.ndarray,
                space: Any, steps: int, batch: int) -> float:
    """CPU seconds of ``model.fit`` on ``steps`` batches (one epoch)."""
    model = make()
    n = steps * batch
    t0 = time.process_time()
    model.fit(images[:n], seed=0, factors=factors[:n], space=space)
    return time.process_time() - t0


def sampling(model: Any, factors: np.ndarray) -> dict[str, float]:
    """CPU ms per image of ``generate`` for 64 requests, per ``sample_steps`` (diffusion)."""
    out: dict[str, float] = {}
    request = factors[:64]
    for s in (SAMPLE_STEPS if hasattr(model, "sample_steps") else (None,)):
        if s is not None:
            model.sample_steps = s
        model.generate(request[:4], seed=0)
        t0 = time.process_time()
        model.generate(request, seed=1)
        out[f"{s} steps" if s else "decode"] = 1e3 * (time.process_time() - t0) / len(request)
    return out


def bench_case(size: str, suite_path: str, rounds: int, steps: int, peak: float) -> None:
    registry = Registry()
    suite = load_suite(suite_path, registry=registry)
    dataset = registry.create("dataset", suite.dataset.plugin, suite.dataset.params)
    factors, images = dataset.load(seed=suite.data_seed)
    images = np.asarray(images, dtype=np.float32)
    if images.max() > 1.5:
        images = images / 255.0
    factors = np.asarray(factors, dtype=np.float64)
    for spec in suite.models:
        if spec.plugin not in PLUGINS:
            continue
        params = {**spec.params, "epochs": 1, "progress": False, "eval_every": 0,
                  "device": "cpu"}
        batch = int(params.get("batch_size", 64))

        def make(params: dict[str, Any] = params, plugin: str = spec.plugin) -> Any:
            return registry.create("model", plugin, params)

        model = make()
        got = capture(model, images[:batch * 2], factors[:batch * 2], dataset.space)
        ema = float(getattr(model, "ema", 0.0) or 0.0)
        flops = step_flops(got)
        z, b = [], []
        for r in range(rounds):
            for kind in (("z", "b") if r % 2 == 0 else ("b", "z")):
                if kind == "z":
                    long = fit_seconds(make, images, factors, dataset.space,
                                       WARMUP + steps, batch)
                    short = fit_seconds(make, images, factors, dataset.space, WARMUP, batch)
                    z.append((long - short) / steps)
                else:
                    b.append(bare_steps(got, ema, steps) / steps)
        zm, bm = statistics.median(z), statistics.median(b)
        draws = sampling(model, factors)
        print(f"{size:8s} {spec.label:16s} {flops / 1e9:7.2f} GFLOP/step | zsbench "
              f"{zm * 1e3:7.1f} ms/step, bare {bm * 1e3:7.1f} ms/step, ratio {zm / bm:5.3f} | "
              f"{flops / zm / 1e9:5.1f} GFLOP/s = {flops / zm / peak:4.0%} of peak | "
              + ", ".join(f"{k}: {v:.1f} ms/image" for k, v in draws.items()), flush=True)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    torch.set_num_threads(1)
    peak = sgemm_peak(clock=time.process_time)
    print(f"float32 matrix-multiply peak, one thread: {peak / 1e9:.1f} GFLOP/s (CPU time); "
          f"{rounds} rounds of {steps} steps, medians; times are process CPU time",
          flush=True)
    for size, path in CASES:
        bench_case(size, path, rounds, steps, peak)


if __name__ == "__main__":
    main()
