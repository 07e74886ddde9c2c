"""Memory layout, ``torch.compile`` and thread layout of the circles diffusion training step.

The network is the flow model of ``suites/circles_colour_size.toml`` (its default U-Net,
3x32x32, batch 64), captured from ``model.fit`` as ``conditional_speed.py`` does, with
its data: 128 circles (32 a class), the steps draw batches from them. One bare
step is the model's own per-sample loss (forward), backward and the model's optimiser step
(fused Adam, the suite's default; no weight average). Two questions:

1. **Layout of one job**, one torch thread: ``contiguous`` (what zsbench trains),
   ``channels_last`` (network and input batch) and ``compile`` (``torch.compile`` of the
   network, default mode; when it fails or is unavailable the row says why and the rest
   goes on). The layouts step in turns (``--rounds`` rounds of ``--steps`` steps each, the
   order rotated every round, medians), timed by process CPU time and by wall time. Before
   timing, each layout takes the same 3 steps from the same initial weights, batches and
   noise; ``loss diff`` is the largest relative difference from the contiguous losses of
   those steps and of the loss after them, ``wt diff`` the relative distance of the weights
   after them (``||a - b|| / ||b||``): channels_last and compile reorder sums, so the last
   bits of the weights differ (the losses may still agree to the bit). The compile row's
   first step (tracing and code generation) is reported apart.
2. **Thread layout of two jobs on two cores** (contiguous): two processes of one torch
   thread stepping side by side (what the pool executor does: one job per core), against
   one process of two threads running the two jobs one after another; steps per wall second
   of the whole machine, ``--steps`` steps per job, medians over ``--rounds`` rounds (the two
   arrangements in turns; spawned processes, set up once).

Run it on an otherwise idle machine: the thread layout needs both cores.

The compiled layout's first step is timed from scratch (inductor's caches off) unless
``--compile-cache`` lets it reuse what an earlier run left on disk.

Usage: python benchmarks/layout_speed.py [--rounds 3] [--steps 8] [--no-threads]
                                         [--compile-cache]
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from conditional_speed import Captured, capture  # noqa: E402  (benchmarks/, beside this script)

from zsbench.registry import Registry
from zsbench.suite import load_suite
from zsbench.training import LossContext, _make_optimizer

REPO = Path(__file__).resolve().parents[1]
SUITE = "suites/circles_colour_size.toml"  # relative to REPO
LABEL = "diffusion_flow"
DATASET = {"n_per_class": 32}  # 4 classes x 32 = the 2 batches the captured fit trains on
LAYOUTS = ("contiguous", "channels_last", "compile")
CHECK_STEPS = 3  # identical steps whose losses are compared (and which warm every layout up)

Step = Callable[[], torch.Tensor]


def load_case(suite_path: str = SUITE, label: str = LABEL, *,
              dataset: dict[str, Any] | None = DATASET,
              model: dict[str, Any] | None = None) -> Captured:
    """The network, loss and two batches of data of the suite's model ``label`` (``suite_path``
    relative to the repository, or absolute), captured from one short ``fit`` (``dataset``
    and ``model`` override the suite's parameters)."""
    registry = Registry()
    suite = load_suite(REPO / suite_path, registry=registry)
    data = registry.create("dataset", suite.dataset.plugin,
                           {**suite.dataset.params, **(dataset or {})})
    factors, images = data.load(seed=suite.data_seed)
    images = np.asarray(images, dtype=np.float32)
    if images.max() > 1.5:
        images = images / 255.0
    factors = np.asarray(factors, dtype=np.float64)
    spec = next(s for s in suite.models if s.label == label)
    params = {**spec.params, "epochs": 1, "progress": False, "eval_every": 0,
              "device": "cpu", **(model or {})}
    batch = int(params.get("batch_size", 64))
    generator = registry.create("model", spec.plugin, params)
    return capture(generator, images[:batch * 2], factors[:batch * 2], data.space)


def make_step(got: Captured, layout: str, *, seed: int) -> tuple[Step, nn.Module]:
    """One training step of a fresh copy of the captured network in ``layout``, and that
    copy; the batches and noise come from a generator seeded with ``seed``, so two steppers
    of one seed see the same data. The step returns its (detached) loss, a scalar."""
    net = copy.deepcopy(got.net).train()
    images, factors = (torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
                       for a in got.data)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    if layout == "channels_last":
        net = net.to(memory_format=fmt)
    opt = _make_optimizer(got.kwargs.get("optimizer", "adam"), net.parameters(),
                          float(got.kwargs.get("lr", 1e-3)), got.kwargs.get("weight_decay"))
    module = torch.compile(net) if layout == "compile" else net
    g = torch.Generator().manual_seed(seed)
    n, batch = len(images), int(got.kwargs["batch_size"])
    count = [0]

    def step() -> torch.Tensor:
        index = torch.randint(0, n, (batch,), generator=g)
        ctx = LossContext(g, n, 1, 1, count[0], -(-n // batch), index=index)
        rows = (images[index].contiguous(memory_format=fmt), factors[index])
        loss = got.loss(module, rows, ctx).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        count[0] += 1
        return loss.detach()

    return step, net


@dataclass
class Checked:
    """The layouts' steppers after :data:`CHECK_STEPS` identical steps: ``losses`` holds the
    losses of those steps and the next one (the loss after them), ``weights`` the relative
    distance of all the weights after them from the reference's (``||a - b|| / ||b||``),
    ``failed`` why a layout did not run ("unavailable: ..."), ``compile_s`` the wall seconds
    of the compiled layout's first step (0 when it did not run)."""

    steppers: dict[str, Step] = field(default_factory=dict)
    losses: dict[str, list[float]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    compile_s: float = 0.0


def check_layouts(got: Captured, layouts: tuple[str, ...], *, seed: int = 0) -> Checked:
    """Build each layout's stepper (the first of ``layouts`` is the reference), take its
    first :data:`CHECK_STEPS` + 1 steps and compare the losses and weights. Only the
    ``compile`` layout may fail (it is then reported and left out); others raise."""
    out = Checked()
    weights: dict[str, list[torch.Tensor]] = {}
    for layout in layouts:
        try:
            step, net = make_step(got, layout, seed=seed)
            t0 = time.perf_counter()
            losses = [float(step())]
            if layout == "compile":
                out.compile_s = time.perf_counter() - t0
            losses += [float(step()) for _ in range(CHECK_STEPS - 1)]
            weights[layout] = [p.detach().clone() for p in net.parameters()]
            losses.append(float(step()))  # the loss after CHECK_STEPS steps
        except Exception as err:  # noqa: BLE001  (any failure of compile: report, go on)
            if layout != "compile":
                raise
            reason = str(err).strip().splitlines()[0][:100] if str(err).strip() else ""
            out.failed[layout] = f"unavailable: {type(err).__name__}: {reason}"
            continue
        out.steppers[layout], out.losses[layout] = step, losses
        ref = weights[layouts[0]]
        diff = sum(float((a - b).pow(2).sum()) for a, b in zip(weights[layout], ref))
        out.weights[layout] = (diff / sum(float(b.pow(2).sum()) for b in ref)) ** 0.5
    return out


def loss_diff(losses: list[float], reference: list[float]) -> float:
    """The largest relative difference of ``losses`` from ``reference`` (same length)."""
    return max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses, reference))


def time_layouts(steppers: dict[str, Step], rounds: int, steps: int
                 ) -> dict[str, tuple[float, float]]:
    """Median (CPU, wall) seconds per step of each stepper, stepping in turns: ``rounds``
    rounds of ``steps`` steps each, the order rotated by one every round."""
    names = list(steppers)
    cpu: dict[str, list[float]] = {k: [] for k in names}
    wall: dict[str, list[float]] = {k: [] for k in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            step = steppers[name]
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(steps):
                step()
            cpu[name].append((time.process_time() - c0) / steps)
            wall[name].append((time.perf_counter() - w0) / steps)
    return {k: (statistics.median(cpu[k]), statistics.median(wall[k])) for k in names}


def worker(rank: int, commands: Any, results: Any, start: Any) -> None:
    """A job process: build the contiguous stepper, then per command ``(threads, steps)``
    set torch's threads, take one untimed step, wait for the others at ``start`` and time
    ``steps`` steps; ``None`` ends it. Puts ``(rank, t0, t1, steps)`` (``perf_counter``,
    one clock for all processes on Linux)."""
    torch.set_num_threads(1)
    step, _ = make_step(load_case(), "contiguous", seed=rank)
    step()
    results.put(("ready", rank))
    while (command := commands.get()) is not None:
        threads, steps = command
        torch.set_num_threads(threads)
        if steps:
            step()
        start.wait()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        results.put((rank, t0, time.perf_counter(), steps))


def thread_layouts(rounds: int, steps: int) -> dict[str, float]:
    """Steps per wall second of the machine: ``side by side`` (2 processes x 1 thread,
    ``steps`` each at once) and ``one after another`` (1 process x 2 threads, 2 x ``steps``;
    the other process waits), in turns, medians over ``rounds``."""
    ctx = mp.get_context("spawn")
    commands = [ctx.Queue() for _ in range(2)]
    results = ctx.Queue()
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=worker, args=(r, commands[r], results, start), daemon=True)
             for r in range(2)]
    for p in procs:
        p.start()
    plans = {"2 processes x 1 thread, side by side": ((1, steps), (1, steps)),
             "1 process x 2 threads, one after another": ((2, 2 * steps), (1, 0))}
    rates: dict[str, list[float]] = {k: [] for k in plans}
    try:
        for _ in range(2):
            results.get(timeout=300)
        for r in range(rounds):
            for name in (list(plans) if r % 2 == 0 else list(plans)[::-1]):
                for queue, command in zip(commands, plans[name]):
                    queue.put(command)
                got = [results.get(timeout=600) for _ in range(2)]
                busy = [g for g in got if g[3] > 0]
                span = max(g[2] for g in busy) - min(g[1] for g in busy)
                rates[name].append(sum(g[3] for g in busy) / span)
    finally:
        for queue in commands:
            queue.put(None)
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    return {k: statistics.median(v) for k, v in rates.items()}


ROW = "{:42s} {:>8s} {:>9s} {:>7s} {:>7s} {:>9s} {:>9s} {:>8s}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians over them)")
    parser.add_argument("--steps", type=int, default=8,
                        help="steps per layout and round, and per job of the thread layout")
    parser.add_argument("--no-threads", action="store_true", help="skip the thread layout")
    parser.add_argument("--compile-cache", action="store_true",
                        help="let torch.compile reuse its on-disk cache (default: compile "
                             "from scratch, what a fresh machine pays)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not args.compile_cache:
        try:
            import torch._inductor.config as inductor_config
            inductor_config.force_disable_caches = True
        except (ImportError, AttributeError):
            pass
    got = load_case()
    print(f"{LABEL} of {SUITE}: {sum(p.numel() for p in got.net.parameters()) / 1e6:.2f} M "
          f"parameters, batch {got.kwargs['batch_size']}, optimiser "
          f"{got.kwargs.get('optimizer', 'adam')}; torch {torch.__version__}; "
          f"{args.rounds} rounds of {args.steps} steps, medians", flush=True)
    checked = check_layouts(got, LAYOUTS)
    times = time_layouts(checked.steppers, args.rounds, args.steps)
    print(ROW.format("layout (one thread; ratio: to contiguous)", "CPU ms", "wall ms",
                     "CPU x", "wall x", "loss diff", "wt diff", "steps/s"))
    c0, w0 = times.get("contiguous", (float("nan"), float("nan")))
    for layout in LAYOUTS:
        if layout in checked.failed:
            print(f"{layout:42s} {checked.failed[layout]}", flush=True)
            continue
        c, w = times[layout]
        diff = loss_diff(checked.losses[layout], checked.losses["contiguous"])
        print(ROW.format(layout, f"{c * 1e3:.1f}", f"{w * 1e3:.1f}", f"{c / c0:.3f}",
                         f"{w / w0:.3f}", f"{diff:.1e}", f"{checked.weights[layout]:.1e}",
                         f"{1 / w:.2f}"), flush=True)
    if "compile" in checked.steppers:
        cache = "inductor's on-disk cache allowed" if args.compile_cache else "no cache"
        print(f"  compile: the first step took {checked.compile_s:.1f} s wall (tracing and "
              f"code generation, {cache}; not in the step times)", flush=True)
    if args.no_threads:
        return
    rates = thread_layouts(args.rounds, args.steps)
    print(ROW.format("thread layout, 2 jobs (ratio: to side by side)", "", "wall ms",
                     "", "wall x", "", "", "steps/s"))
    ref = next(iter(rates.values()))
    for name, rate in rates.items():
        print(ROW.format(name, "", f"{1e3 / rate:.1f}", "", f"{ref / rate:.3f}", "", "",
                         f"{rate:.2f}"))
    print("  thread layout: wall ms per step of the whole machine (both jobs' steps over "
          "the wall time from the first start to the last end)")


if __name__ == "__main__":
    main()
