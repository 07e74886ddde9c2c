"""Ties on the same images, and what a leaderboard's intervals cover.

Models of one run share every image (and every request of a conditional generator), so
whether one is better than another is a *paired* question: :func:`paired_key_differences`
compares each model with a column's best on their shared items and seeds
(:func:`zsbench.intervals.paired_difference` with the seed part), at the Bonferroni level
``1 - ALPHA / m`` for the ``m`` models compared with the best. A model is tied with the best
unless that interval excludes 0 on its worse side; the best is bold alone only when every
other model is worse that way. :func:`uncertainty_notes` says in words what the intervals
of a leaderboard cover (image noise only with one seed, the sample sizes under
``SMALL_N``, the scores without an interval).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from zsbench.intervals import Items, paired_difference

ALPHA: float = 0.05
"""Family-wise error rate of the comparisons with a column's best."""

SMALL_N: int = 30
"""Below this many items a score's interval is called a small sample in the legend."""


def bonferroni_level(compared: int, alpha: float = ALPHA) -> float:
    """The level of each of ``compared`` intervals so that all hold together with
    probability at least ``1 - alpha`` (Bonferroni)."""
    return 1.0 - alpha / max(int(compared), 1)


def paired_key_differences(best: Sequence[Items], others: Mapping[Any, Sequence[Items]], *,
                           compared: int, higher_is_better: bool, target: float | None,
                           seed: int) -> dict[Any, tuple[float, float, float]]:
    """``label -> (difference, lo, hi)`` of the ranking key (lower is better: the distance
    to ``target``, or the value signed by its direction) of each model in ``others`` minus
    the best's, on their shared items (one :class:`Items` per seed on each side), at
    :func:`bonferroni_level` for ``compared`` models: positive means worse than the best.
    Models whose items do not line up with the best's are left out."""
    level = bonferroni_level(compared)
    out: dict[Any, tuple[float, float, float]] = {}
    for label, items in others.items():
        try:
            d, lo, hi = paired_difference(best, items, seed, level=level, target=target,
                                          with_seeds=True)
        except ValueError:
            continue
        if not (math.isfinite(d) and math.isfinite(lo) and math.isfinite(hi)):
            continue
        if target is None and higher_is_better:
            d, lo, hi = -d, -hi, -lo
        out[label] = (d, lo, hi)
    return out


def sample_sizes(results: Sequence[Any], columns: Sequence[str]) -> dict[str, dict[str, int]]:
    """``column -> label -> n``: the fewest items behind a score over a model's seeds that
    succeeded (scores with per-item values only)."""
    out: dict[str, dict[str, int]] = {c: {} for c in columns}
    for r in results:
        if r.status != "ok":
            continue
        for c in columns:
            n = (r.scores.get(c) or {}).get("n")
            if isinstance(n, int) and n > 0:
                out[c][r.label] = min(n, out[c].get(r.label, n))
    return out


def uncertainty_notes(df: pd.DataFrame) -> list[str]:
    """Sentences under a leaderboard saying what its intervals cover: image noise only
    with one seed, the method over seeds, small samples (``n = ...``), the scores shown
    without an interval, and how ties were decided."""
    if df.empty:
        return []
    columns: list[str] = df.attrs.get("columns", [])
    methods: dict[str, dict[Any, str]] = df.attrs.get("methods", {})
    used = {m for c in columns for m in methods.get(c, {}).values()}
    notes = []
    if "bootstrap" in used:
        notes.append("One seed: the interval covers image noise only, not the spread "
                     "between training seeds (run 3 seeds or more to include it).")
    if "images+seeds" in used:
        notes.append("Several seeds: one image resample shared by every seed plus a t "
                     "interval over the seeds (S - 1 degrees of freedom).")
    if "seeds" in used:
        notes.append("Scores without per-image values: a t interval over the seeds.")
    bare = [c for c in columns if any(m == "none" for m in methods.get(c, {}).values())]
    if bare:
        notes.append(f"No interval (a value without [ ]): {', '.join(bare)}; such a "
                     "value is never bold alone.")
    small = []
    for c, sizes in df.attrs.get("n", {}).items():
        low = sorted({n for n in sizes.values() if n < SMALL_N})
        if low:
            small.append(f"{c} n = {', '.join(map(str, low))}")
    if small:
        notes.append(f"Small samples (under {SMALL_N} items): {'; '.join(small)}.")
    paired = df.attrs.get("paired", {})
    if any(paired.values()):
        notes.append("Ties: a paired comparison with the best on the same images (and "
                     "seeds), Bonferroni over the models compared with the best (5 % in "
                     "all).")
    return notes
