"""How often zsbench's 95 % intervals cover the truth, on synthetic data with a known mean.

Each cell of the table draws ``--reps`` data sets (1,000 by default: a Monte Carlo standard
error of about 0.7 points at 95 %), computes the interval that zsbench would report, and
counts how often it holds the true value it claims to cover. ``tests/test_coverage.py``
runs the same cells on fewer repetitions; this script prints the whole table.

    .venv/bin/python benchmarks/interval_coverage.py                 # 1,000 reps a cell
    .venv/bin/python benchmarks/interval_coverage.py --reps 200      # quicker, rougher
    .venv/bin/python benchmarks/interval_coverage.py --module OLD.py # another intervals.py

``--module`` loads another version of ``zsbench/intervals.py`` from a file (e.g. an older
one copied out of git: ``git show REV:zsbench/intervals.py > /tmp/old.py``), to print the
table before a change; a version that knows no clusters or no ``interval_over_seeds`` is
called the way it was (no clusters; ``stratified_interval`` over seeds).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType

import numpy as np

Cell = Callable[[ModuleType, np.random.Generator, int], tuple[float, float, float]]
"""A cell's trial: ``(lo, hi, truth)`` for the intervals module, a generator and a trial
number (the job seed)."""


def load(path: str | None) -> ModuleType:
    """``zsbench.intervals``, or the module in file ``path``."""
    if path is None:
        from zsbench import intervals

        return intervals
    spec = importlib.util.spec_from_file_location("intervals_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def items(mod: ModuleType, kind: str, parts: Sequence[np.ndarray],
          clusters: Sequence[np.ndarray | None] | None = None) -> object:
    """An ``Items`` of ``mod``, with cluster ids where the module knows them."""
    known = {f.name for f in dataclasses.fields(mod.Items)}
    if clusters is not None and "clusters" in known:
        return mod.Items(kind, tuple(parts), tuple(clusters))
    return mod.Items(kind, tuple(parts))


def over_seeds(mod: ModuleType, per_seed: Sequence[object], seed: int) -> tuple[float, float]:
    """The interval of the mean over seeds as the leaderboard computes it."""
    seeds = list(range(len(per_seed)))
    if hasattr(mod, "interval_over_seeds"):
        lo, hi, _ = mod.interval_over_seeds(per_seed, seeds, seed)
        return lo, hi
    return mod.stratified_interval(per_seed, seeds, seed)


# -- the cells -------------------------------------------------------------------------------


def rate(p: float, n: int) -> Cell:
    """One seed, a rate: ``n`` Bernoulli(``p``) items."""
    def trial(mod: ModuleType, rng: np.random.Generator, k: int) -> tuple[float, float, float]:
        x = (rng.random(n) < p).astype(np.float64)
        return (*mod.interval(items(mod, "mean", [x]), k), p)
    return trial


def lognormal(sigma: float, n: int) -> Cell:
    """One seed, a heavy tail: ``n`` lognormal(0, ``sigma``) items."""
    def trial(mod: ModuleType, rng: np.random.Generator, k: int) -> tuple[float, float, float]:
        x = np.exp(rng.normal(0.0, sigma, n))
        return (*mod.interval(items(mod, "mean", [x]), k), math.exp(sigma ** 2 / 2))
    return trial


def clustered(icc: float, requests: int = 64, draws: int = 4) -> Cell:
    """One seed, ``draws`` draws per request with intra-class correlation ``icc``."""
    ids = np.repeat(np.arange(requests), draws)

    def trial(mod: ModuleType, rng: np.random.Generator, k: int) -> tuple[float, float, float]:
        x = (math.sqrt(icc) * rng.standard_normal(requests)[ids]
             + math.sqrt(1 - icc) * rng.standard_normal(ids.size))
        return (*mod.interval(items(mod, "mean", [x], [ids]), k), 0.0)
    return trial


def clustered_rate(p: float, icc: float, requests: int = 64, draws: int = 4) -> Cell:
    """One seed, a fail rate of ``draws`` draws per request: each request's own rate from
    a Beta of mean ``p`` and intra-class correlation ``icc``."""
    ids = np.repeat(np.arange(requests), draws)
    total = 1.0 / icc - 1.0

    def trial(mod: ModuleType, rng: np.random.Generator, k: int) -> tuple[float, float, float]:
        own = rng.beta(p * total, (1 - p) * total, requests)
        x = (rng.random(ids.size) < own[ids]).astype(np.float64)
        return (*mod.interval(items(mod, "mean", [x], [ids]), k), p)
    return trial


def seeds_on_shared_images(seeds: int, seed_sd: float, n: int = 200,
                           noise: float = 0.5) -> Cell:
    """``seeds`` training seeds on the same ``n`` images: item = image effect (sd 1) +
    seed effect (sd ``seed_sd``) + noise (sd ``noise``); the truth is the mean over
    images and seeds."""
    def trial(mod: ModuleType, rng: np.random.Generator, k: int) -> tuple[float, float, float]:
        image = rng.standard_normal(n)
        per_seed = [items(mod, "mean", [image + seed_sd * rng.standard_normal()
                                        + noise * rng.standard_normal(n)])
                    for _ in range(seeds)]
        return (*over_seeds(mod, per_seed, k), 0.0)
    return trial


def one_seed_own_mean(n: int = 100) -> Cell:
    """One seed whose training moved its mean by one image SE: the interval covers *this*
    seed's mean over images (what "image noise only" claims)."""
    def trial(mod: ModuleType, rng: np.random.Generator, k: int) -> tuple[float, float, float]:
        shift = rng.standard_normal() / math.sqrt(n)
        x = rng.standard_normal(n) + shift
        return (*mod.interval(items(mod, "mean", [x]), k), shift)
    return trial


def one_seed_over_seeds(n: int = 100) -> Cell:
    """The same, taken as an estimate of the mean over training seeds (0): not what a
    one-seed interval claims, so the leaderboard says "image noise only"."""
    def trial(mod: ModuleType, rng: np.random.Generator, k: int) -> tuple[float, float, float]:
        x = rng.standard_normal(n) + rng.standard_normal() / math.sqrt(n)
        return (*mod.interval(items(mod, "mean", [x]), k), 0.0)
    return trial


def paired_fixed_models(n: int = 200, shift: float = 0.05) -> Cell:
    """``compare`` of two fixed models on the same ``n`` images: the paired difference."""
    def trial(mod: ModuleType, rng: np.random.Generator, k: int) -> tuple[float, float, float]:
        image = rng.standard_normal(n)
        a = image + 0.3 * rng.standard_normal(n)
        b = image + shift + 0.3 * rng.standard_normal(n)
        _, lo, hi = mod.paired_difference([items(mod, "mean", [a])],
                                          [items(mod, "mean", [b])], k)
        return lo, hi, shift
    return trial


CELLS: list[tuple[str, str, Cell]] = [
    ("one seed, rate p = 0.05", "n = 5", rate(0.05, 5)),
    ("one seed, rate p = 0.05", "n = 16", rate(0.05, 16)),
    ("one seed, rate p = 0.05", "n = 20", rate(0.05, 20)),
    ("one seed, rate p = 0.05", "n = 100", rate(0.05, 100)),
    ("one seed, rate p = 0.5", "n = 20", rate(0.5, 20)),
    ("one seed, heavy tail (lognormal σ = 1.5)", "n = 20", lognormal(1.5, 20)),
    ("one seed, heavy tail (lognormal σ = 1.5)", "n = 100", lognormal(1.5, 100)),
    ("one seed, heavy tail (lognormal σ = 1.5)", "n = 500", lognormal(1.5, 500)),
    ("4 draws per request, 64 requests", "ICC 0.2", clustered(0.2)),
    ("4 draws per request, 64 requests", "ICC 0.5", clustered(0.5)),
    ("4 draws per request, fail rate 0.1", "ICC 0.3", clustered_rate(0.1, 0.3)),
    ("4 draws per request, fail rate 0.02", "ICC 0.3", clustered_rate(0.02, 0.3)),
    ("S seeds on the same images (seed sd = ½ image SE)", "S = 3",
     seeds_on_shared_images(3, 0.5 / math.sqrt(200))),
    ("S seeds on the same images (seed sd = ½ image SE)", "S = 5",
     seeds_on_shared_images(5, 0.5 / math.sqrt(200))),
    ("seed spread = item sd", "S = 2", seeds_on_shared_images(2, 1.0, n=100)),
    ("seed spread = item sd", "S = 3", seeds_on_shared_images(3, 1.0, n=100)),
    ("seed spread = item sd", "S = 5", seeds_on_shared_images(5, 1.0, n=100)),
    ("one seed, seed spread = one SE", "its own mean (claimed)", one_seed_own_mean()),
    ("one seed, seed spread = one SE", "mean over seeds (not claimed)", one_seed_over_seeds()),
    ("compare: paired difference, fixed models", "n = 200", paired_fixed_models()),
]


# -- the regression check with one seed --------------------------------------------------------


def check_flags(trials: int, seed_sd: float, *, record: bool, worse: float = 1.0,
                n: int = 200, seed: int = 0) -> float:
    """Share of ``trials`` in which ``zsbench check`` calls a one-seed run a REGRESSION
    against a one-seed baseline on the same ``n`` images. The two runs differ by their
    training trajectory only (another seed: a shift of sd ``seed_sd`` image SEs of the
    whole score, plus per-image differences), times ``worse`` (1.2: a 20 % worse planted
    change). With ``record`` the baseline records the seed spread measured on 3 seeds
    (``zsbench baseline --seed-spread``)."""
    from zsbench.compare import compare
    from zsbench.intervals import Items
    from zsbench.summaries import ModelSummary, ScoreSummary, Summary

    rng = np.random.default_rng(seed)
    se = 1.0 / math.sqrt(n)
    flagged = 0
    for _ in range(trials):
        image = 1.0 + 0.8 * rng.standard_normal(n)  # an error per image, mean 1

        def train() -> np.ndarray:
            return image + seed_sd * se * rng.standard_normal() + 0.2 * rng.standard_normal(n)

        base, new = train(), worse * train()
        spread = [float(np.mean(train())) for _ in range(2)] + [float(base.mean())]
        sides = []
        for x in (base, new):
            sc = ScoreSummary(mean=float(x.mean()), std=0.0, higher_is_better=False,
                              headline=True, metric="m", n=1)
            if record and x is base:
                sc.seed_sd, sc.seed_sd_seeds = float(np.std(spread, ddof=1)), 3
            sides.append(Summary(
                source="sim", kind="run", tolerances={},
                suite={"name": "sim", "profile": None, "experiment_hash": "h",
                       "config_hash": "c", "data_seed": 0, "seeds": [0]},
                environment={}, models={"m": ModelSummary("ok", [0], scores={"err": sc})},
                items=lambda label, name, x=x: [Items("mean", (x,))]))
        flagged += bool(compare(*sides).regressions)
    return flagged / trials


def coverage(mod: ModuleType, cell: Cell, reps: int, seed: int = 0) -> tuple[float, float]:
    """``(coverage, share of zero-width intervals)`` of a cell over ``reps`` trials."""
    rng = np.random.default_rng(seed)
    hits = zero = 0
    for k in range(reps):
        lo, hi, truth = cell(mod, rng, k)
        hits += bool(lo <= truth <= hi)
        zero += bool(hi - lo <= 0)
    return hits / reps, zero / reps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="trials a cell (1000)")
    parser.add_argument("--module", help="another intervals.py to measure (a file)")
    parser.add_argument("--only", help="only the rows containing this text")
    args = parser.parse_args(argv)
    mod = load(args.module)
    print(f"| situation | case | coverage (nominal 95 %) | zero width | s |")
    print("|---|---|---|---|---|")
    for row, case, cell in CELLS:
        if args.only and args.only not in row:
            continue
        start = time.perf_counter()
        cov, zero = coverage(mod, cell, args.reps)
        print(f"| {row} | {case} | {cov:.3f} | {zero:.3f} | {time.perf_counter() - start:.1f} |",
              flush=True)
    if args.module is None and not args.only:
        trials = max(args.reps // 10, 20)
        print(f"\n| one-seed check, {trials} trials | seed spread | flagged, none recorded "
              "| flagged, spread recorded (3 seeds) |\n|---|---|---|---|")
        for sd in (0.5, 1.0, 2.0):
            print(f"| neutral trajectory change | {sd:g} SE | "
                  f"{check_flags(trials, sd, record=False):.3f} | "
                  f"{check_flags(trials, sd, record=True):.3f} |", flush=True)
        for sd in (0.5, 2.0):
            print(f"| 20 % worse (planted) | {sd:g} SE | "
                  f"{check_flags(trials, sd, record=False, worse=1.2):.3f} | "
                  f"{check_flags(trials, sd, record=True, worse=1.2):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
