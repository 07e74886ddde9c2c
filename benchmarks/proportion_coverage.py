"""Exact coverage of intervals for a proportion: binomial sums, no simulation.

For every n in 5..200 and p in {0.01, 0.05, 0.1, 0.3, 0.5}, the chance that each
candidate's 95 % interval of a count of n independent items holds p (the sum of the
binomial probabilities of the counts whose interval holds it). Prints, per candidate, the
least coverage, the share of cells in the band 0.93-0.97, under it and over it, the mean,
and the cells of the coverage table (p = 0.05 at n = 5, 16, 20, 100; p = 0.5 at n = 16).
zsbench uses the mid-p interval (:func:`zsbench.resampling.midp_interval`): the best worst
case among the intervals that do not overcover as the exact one does.

    .venv/bin/python benchmarks/proportion_coverage.py
    .venv/bin/python benchmarks/proportion_coverage.py --n-max 60   # quicker
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from zsbench.resampling import midp_interval

Z = float(stats.norm.ppf(0.975))
PS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.3, 0.5)
Bounds = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]
"""``(lo [n + 1], hi [n + 1])`` for the counts ``x = 0..n`` of ``n`` trials."""


def wilson(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    p, d = x / n, 1 + Z * Z / n
    c = (p + Z * Z / (2 * n)) / d
    h = Z * np.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / d
    return np.where(x == 0, 0.0, c - h), np.where(x == n, 1.0, c + h)


def wilson_cc(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Wilson with continuity correction (Newcombe 1998, method 4)."""
    p = x / n
    q = 1 - p
    root_lo = np.sqrt(np.maximum(Z * Z - 2 - 1 / n + 4 * p * (n * q + 1), 0))
    root_hi = np.sqrt(np.maximum(Z * Z + 2 - 1 / n + 4 * p * (n * q - 1), 0))
    lo = (2 * n * p + Z * Z - 1 - Z * root_lo) / (2 * (n + Z * Z))
    hi = (2 * n * p + Z * Z + 1 + Z * root_hi) / (2 * (n + Z * Z))
    return np.where(x == 0, 0.0, np.maximum(lo, 0)), np.where(x == n, 1.0, np.minimum(hi, 1))


def jeffreys(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    lo = stats.beta.ppf(0.025, x + 0.5, n - x + 0.5)
    hi = stats.beta.ppf(0.975, x + 0.5, n - x + 0.5)
    return np.where(x == 0, 0.0, lo), np.where(x == n, 1.0, hi)


def agresti_coull(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    nt = n + Z * Z
    pt = (x + Z * Z / 2) / nt
    h = Z * np.sqrt(pt * (1 - pt) / nt)
    return np.maximum(pt - h, 0.0), np.minimum(pt + h, 1.0)


def clopper_pearson(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    lo = np.where(x == 0, 0.0, stats.beta.ppf(0.025, np.maximum(x, 1), n - x + 1))
    hi = np.where(x == n, 1.0, stats.beta.ppf(0.975, x + 1, np.maximum(n - x, 1)))
    return lo, hi


def mid_p(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    bounds = np.array([midp_interval(k / n, n) for k in x])
    return bounds[:, 0], bounds[:, 1]


CANDIDATES: dict[str, Bounds] = {
    "Wilson": wilson, "Wilson, continuity corrected": wilson_cc, "Jeffreys": jeffreys,
    "Agresti-Coull": agresti_coull, "mid-p (zsbench)": mid_p, "Clopper-Pearson": clopper_pearson,
}


def coverage(bounds: Bounds, ns: Sequence[int]) -> np.ndarray:
    """``[len(ns), len(PS)]``: exact coverage of each cell."""
    out = np.zeros((len(ns), len(PS)))
    for i, n in enumerate(ns):
        x = np.arange(n + 1)
        lo, hi = bounds(x, n)
        for j, p in enumerate(PS):
            out[i, j] = stats.binom.pmf(x, n, p)[(lo <= p) & (p <= hi)].sum()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-max", type=int, default=200, help="largest n (200)")
    args = parser.parse_args(argv)
    ns = list(range(5, args.n_max + 1))
    picks = [(0.05, n) for n in (5, 16, 20, 100) if n in ns] + [(0.5, 16)]
    print("| interval | least (where) | in 0.93-0.97 | under 0.93 | over 0.97 | mean | "
          + " | ".join(f"p = {p:g}, n = {n}" for p, n in picks) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(picks))
    for name, bounds in CANDIDATES.items():
        c = coverage(bounds, ns)
        i, j = np.unravel_index(int(c.argmin()), c.shape)
        cells = " | ".join(f"{c[ns.index(n), PS.index(p)]:.3f}" for p, n in picks)
        print(f"| {name} | {c.min():.3f} (p = {PS[j]:g}, n = {ns[i]}) "
              f"| {np.mean((c >= 0.93) & (c <= 0.97)):.2f} | {np.mean(c < 0.93):.3f} "
              f"| {np.mean(c > 0.97):.2f} | {c.mean():.3f} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
