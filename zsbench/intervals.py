"""Uncertainty of scores: bootstrap intervals over images, combined over seeds, and paired
differences between two runs on the same images. Pure numpy, vectorised, seeded.

A score that is a mean over items (images, prior draws, transect points) carries its
per-item values (:attr:`zsbench.plugin.Score.items`); a ratio or a difference of two such
means carries both groups (``ratio_of``, ``difference_of``). Items may be NaN: such an item
does not count (e.g. the factor error of an image that is no image of the family), and the
statistic is the mean of the finite items. This module turns them into intervals:

- **One seed** (:func:`interval`): a percentile bootstrap over items, ``RESAMPLES``
  resamples with replacement, 95 %. Each group of a ratio or a difference (hole and rim
  are different images) is resampled on its own.
- **Several seeds** (:func:`stratified_interval`): a stratified two-stage bootstrap as
  rliable does it: each resample draws the seeds with replacement, then for each drawn seed
  one bootstrap resample of its items, and averages the seeds' statistics. Without per-item
  values it falls back to :func:`seed_interval` (a t interval over the seeds' values) or, with
  one seed, to no interval.
- **Two runs on the same images** (:func:`paired_difference`): the difference (new - base)
  of the statistics averaged over each run's seeds, with a paired bootstrap interval: one
  resample of the item indices is shared by every seed of both runs, so what the two runs
  have in common (which images are hard) cancels.

Every function is seeded (``numpy.random.default_rng``): the same call gives the same
interval. In a job, the resamples of a group of items are seeded from the job's seed, the
group's size and its role (:func:`group_seed`), and every group of one size and role shares
them: the scores of one split are resampled together, in one matrix product (resample
counts ``[B, n]`` times the items ``[n, k]``), which keeps the cost to tens of milliseconds
per job.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zsbench.seeds import derive_seed

RESAMPLES: int = 1000
"""Bootstrap resamples behind every interval."""

LEVEL: float = 0.95
"""Coverage of every interval (two-sided percentile interval)."""

MEAN, RATIO, DIFFERENCE = "mean", "ratio", "difference"
KINDS: tuple[str, ...] = (MEAN, RATIO, DIFFERENCE)
"""How a statistic is made of its groups of items: the mean of one group, the ratio of the
means of two groups, or their difference."""

PART_SUFFIXES: dict[str, tuple[str, ...]] = {MEAN: ("",), RATIO: (":num", ":den"),
                                              DIFFERENCE: (":a", ":b")}
"""Keys under which a score's groups are stored (score name + suffix), e.g. in a run
folder's ``items/LABEL-seedN.npz``."""

_BLOCK: int = 1 << 21
"""Largest index block (resamples x items) drawn at once: bounds the memory."""


@dataclass(frozen=True)
class Items:
    """The per-item values behind one score of one job: ``kind`` (mean, ratio or
    difference) and its groups ``parts`` (one float64 array for a mean, two for the
    others)."""

    kind: str
    parts: tuple[np.ndarray, ...]

    @property
    def n(self) -> int:
        """Items behind the score (all groups; NaN items included)."""
        return int(sum(p.size for p in self.parts))

    def statistic(self) -> float:
        return combine(self.kind, [finite_mean(p) for p in self.parts])

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """``{storage key: array}`` for score ``name``."""
        return {name + s: p for s, p in zip(PART_SUFFIXES[self.kind], self.parts)}


def items_of(score: object) -> Items | None:
    """The :class:`Items` a :class:`~zsbench.plugin.Score` declares (``items``,
    ``ratio_of`` or ``difference_of``), as float64 arrays; None when it declares none.
    Raises ``ValueError`` for a malformed declaration (several, an empty or a
    multi-dimensional group)."""
    declared = [(k, getattr(score, attr, None)) for k, attr in
                ((MEAN, "items"), (RATIO, "ratio_of"), (DIFFERENCE, "difference_of"))]
    declared = [(k, v) for k, v in declared if v is not None]
    if not declared:
        return None
    if len(declared) > 1:
        raise ValueError("a score declares at most one of items, ratio_of and difference_of")
    kind, value = declared[0]
    parts = (value,) if kind == MEAN else tuple(value)
    if len(parts) != len(PART_SUFFIXES[kind]):
        raise ValueError(f"{kind}: expected {len(PART_SUFFIXES[kind])} groups of items, got "
                         f"{len(parts)}")
    arrays = tuple(np.asarray(p, dtype=np.float64) for p in parts)
    for a in arrays:
        if a.ndim != 1:
            raise ValueError(f"per-item values must be one-dimensional, got shape {a.shape}")
    return Items(kind, arrays)


def load_items(arrays: dict[str, np.ndarray], name: str) -> Items | None:
    """The :class:`Items` of score ``name`` among stored ``arrays`` (see
    :attr:`Items.arrays`), or None."""
    for kind, suffixes in PART_SUFFIXES.items():
        keys = [name + s for s in suffixes]
        if all(k in arrays for k in keys):
            return Items(kind, tuple(np.asarray(arrays[k], dtype=np.float64) for k in keys))
    return None


def finite_mean(values: np.ndarray) -> float:
    """Mean of the finite values of ``values [N]`` (NaN marks an item that does not count,
    e.g. an invalid image's factor error); NaN when there is none."""
    x = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(x)
    n = int(ok.sum())
    return float(x[ok].sum() / n) if n else math.nan


def combine(kind: str, means: Sequence[float] | np.ndarray) -> float | np.ndarray:
    """The statistic from its groups' means (arrays broadcast): the mean itself, their
    ratio (NaN where the denominator is not positive) or their difference."""
    if kind == MEAN:
        return means[0]
    a, b = np.asarray(means[0], dtype=np.float64), np.asarray(means[1], dtype=np.float64)
    if kind == DIFFERENCE:
        out = a - b
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def resample_counts(n: int, seed: int, resamples: int = RESAMPLES) -> np.ndarray:
    """``float32 [resamples, n]``: how often each of ``n`` items is drawn in each bootstrap
    resample (``n`` draws with replacement), from ``default_rng(seed)`` (small integers,
    exact in float32, ready for a matrix product)."""
    out = np.zeros((resamples, n), dtype=np.float32)
    if n == 0:
        return out
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK // n)
    for start in range(0, resamples, rows):
        stop = min(resamples, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n), dtype=np.int64)
        idx += (np.arange(stop - start, dtype=np.int64) * n)[:, None]
        out[start:stop] = np.bincount(idx.ravel(), minlength=(stop - start) * n).reshape(
            stop - start, n)
    return out


def resampled_means(counts: np.ndarray, columns: Sequence[np.ndarray]) -> np.ndarray:
    """The NaN-skipping mean of each of ``k`` arrays ``[n]`` under every resample of
    ``counts [B, n]`` (the same draws for every array): ``[k, B]``; NaN for a resample that
    draws no finite item."""
    b, n = counts.shape
    k = len(columns)
    if n == 0 or k == 0:
        return np.full((k, b), np.nan)
    x = np.stack([np.asarray(c, dtype=np.float64).reshape(-1) for c in columns], axis=1)
    finite = np.isfinite(x)
    some_nan = not bool(finite.all())
    # single precision products (relative error about 1e-7, far below any interval's
    # width), centred on each column's mean so that large offsets lose nothing
    centre = np.array([np.nanmean(c) if np.isfinite(c).any() else 0.0 for c in x.T])
    x32 = np.where(finite, x - centre, 0.0).astype(np.float32)
    c32 = counts if counts.dtype == np.float32 else counts.astype(np.float32)
    with _one_blas_thread():  # the same bits whatever the machine's BLAS threads
        sums = (c32 @ x32).astype(np.float64)
        cnt = None if not some_nan else (c32 @ finite.astype(np.float32)).astype(np.float64)
    if cnt is None:
        means = sums / n + centre
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            means = np.where(cnt > 0, sums / np.where(cnt > 0, cnt, 1.0), np.nan) + centre
    # a mean of resampled items lies between their least and greatest: keep the rounding
    # of the single-precision products from leaving that range (a rate below 0)
    low = np.array([np.nanmin(c) if np.isfinite(c).any() else np.nan for c in x.T])
    high = np.array([np.nanmax(c) if np.isfinite(c).any() else np.nan for c in x.T])
    return np.clip(means, low, high).T


_CONTROLLER: list = []


def _one_blas_thread() -> contextlib.AbstractContextManager:
    """A context in which BLAS runs on one thread: a matrix product split over threads sums
    in another order, so the intervals would depend on the machine's thread count (the
    runner promises bit-identical scores under every executor)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        return contextlib.nullcontext()
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


def group_seed(job_seed: int, n: int, role: int) -> int:
    """The seed of the resamples of a group of ``n`` items in role ``role`` (0: the items of
    a mean, the numerator or first term; 1: the denominator or second term) in the job of
    seed ``job_seed``. Groups of one size and role share their resamples within a job, so
    the scores of one split are resampled together (one GEMM per split); the two groups of a
    ratio or difference are resampled independently."""
    return derive_seed(int(job_seed), f"bootstrap:{int(n)}:{int(role)}")


def job_replicates(named: dict[str, Items], job_seed: int, resamples: int = RESAMPLES,
                   counts_cache: dict | None = None) -> dict[str, np.ndarray]:
    """Bootstrap replicates ``[resamples]`` of every score of one job (``{name: Items}``),
    batched: one resample matrix per group size and role (:func:`group_seed`) and one
    matrix product for all the groups that share it. ``counts_cache`` (a dict) keeps the
    resample matrices between calls of one job."""
    batches: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for name, it in named.items():
        for role, part in enumerate(it.parts):
            batches.setdefault((part.size, role), []).append((name, role))
    means: dict[tuple[str, int], np.ndarray] = {}
    for (n, role), members in batches.items():
        key = (int(job_seed), n, role, resamples)
        counts = None if counts_cache is None else counts_cache.get(key)
        if counts is None:
            counts = resample_counts(n, group_seed(job_seed, n, role), resamples)
            if counts_cache is not None:
                counts_cache[key] = counts
        result = resampled_means(counts, [named[m].parts[r] for m, r in members])
        for (m, r), row in zip(members, result):
            means[(m, r)] = row
    return {name: np.asarray(combine(it.kind, [means[(name, r)]
                                               for r in range(len(it.parts))]), np.float64)
            for name, it in named.items()}


def replicates(items: Items, job_seed: int, resamples: int = RESAMPLES) -> np.ndarray:
    """Bootstrap replicates ``[resamples]`` of one score's statistic in the job of seed
    ``job_seed``, as :func:`job_replicates` draws them."""
    return job_replicates({"": items}, job_seed, resamples)[""]


def percentile_interval(reps: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The ``level`` percentile interval of bootstrap replicates; NaN bounds when fewer
    than half of them are finite."""
    reps = np.asarray(reps, dtype=np.float64)
    ok = reps[np.isfinite(reps)]
    if ok.size == 0 or ok.size < 0.5 * reps.size:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(ok, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def interval(items: Items, job_seed: int, resamples: int = RESAMPLES,
             level: float = LEVEL) -> tuple[float, float]:
    """The bootstrap interval of one score of the job of seed ``job_seed``."""
    return percentile_interval(replicates(items, job_seed, resamples), level)


def job_intervals(named: dict[str, Items], job_seed: int, resamples: int = RESAMPLES,
                  level: float = LEVEL, counts_cache: dict | None = None
                  ) -> dict[str, tuple[float, float]]:
    """The bootstrap interval of every score of one job (batched: :func:`job_replicates`)."""
    return {name: percentile_interval(reps, level) for name, reps in
            job_replicates(named, job_seed, resamples, counts_cache).items()}


def stratified_interval(per_seed: Sequence[Items], seeds: Sequence[int], seed: int,
                        resamples: int = RESAMPLES,
                        level: float = LEVEL) -> tuple[float, float]:
    """The interval of the mean over seeds of a score: ``per_seed[j]`` holds the items of
    the job of seed ``seeds[j]`` (resampled as the runner resamples them:
    :func:`group_seed`). One seed: that job's interval. More: each of ``resamples`` draws
    picks the seeds with replacement and, for each pick, one bootstrap replicate of that
    seed's statistic (an independent resample of its items), and averages them; ``seed``
    seeds the picks."""
    if len(per_seed) == 1:
        return interval(per_seed[0], seeds[0], resamples, level)
    reps = np.stack([replicates(it, s, resamples)
                     for it, s in zip(per_seed, seeds)])  # [S, B]
    rng = np.random.default_rng(seed)
    k = len(per_seed)
    picks = rng.integers(0, k, size=(resamples, k))
    cols = rng.integers(0, resamples, size=(resamples, k))
    return percentile_interval(reps[picks, cols].mean(axis=1), level)


def t_quantile(df: int, level: float = LEVEL) -> float:
    """Two-sided Student t quantile for ``df`` degrees of freedom."""
    from scipy.stats import t  # on use: slow to import

    return float(t.ppf(0.5 + level / 2.0, df))


def seed_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """An interval over seeds only, for a score without per-item values: mean ± t × sample
    std / sqrt(S) over the ``S`` seeds' values; NaN bounds with fewer than two seeds."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size < 2:
        return math.nan, math.nan
    half = t_quantile(v.size - 1, level) * float(v.std(ddof=1)) / math.sqrt(v.size)
    m = float(v.mean())
    return m - half, m + half


def paired_difference(base: Sequence[Items], new: Sequence[Items], seed: int,
                      resamples: int = RESAMPLES, level: float = LEVEL,
                      target: float | None = None) -> tuple[float, float, float]:
    """``(difference, lo, hi)`` of a score between two runs on the same items: the
    statistic averaged over each run's seeds (``base``, ``new``: one :class:`Items` per
    seed, all of one kind and with groups of equal lengths), new minus base, and its paired
    bootstrap interval (one resample of each group's indices shared by every seed of both
    runs). With ``target``, the difference of the distances ``|statistic - target|``
    (positive: the new run is farther from the target). Raises ``ValueError`` when the
    items do not line up."""
    runs = [list(base), list(new)]
    if not runs[0] or not runs[1]:
        raise ValueError("each run needs the items of at least one seed")
    kind = runs[0][0].kind
    shapes = [p.size for p in runs[0][0].parts]
    for it in (*runs[0], *runs[1]):
        if it.kind != kind or [p.size for p in it.parts] != shapes:
            raise ValueError("the two runs' per-item values do not line up")
    point = [float(np.mean([it.statistic() for it in r])) for r in runs]
    if target is not None:
        point = [abs(p - target) for p in point]
    group_means = []
    for g, n in enumerate(shapes):
        counts = resample_counts(n, derive_seed(int(seed), f"paired:{g}"), resamples)
        arrays = [it.parts[g] for r in runs for it in r]
        group_means.append(resampled_means(counts, arrays))  # [S_b + S_n, B]
    stats = np.asarray(combine(kind, group_means), dtype=np.float64)
    nb = len(runs[0])
    with np.errstate(invalid="ignore"):
        sides = [stats[:nb].mean(axis=0), stats[nb:].mean(axis=0)]
        if target is not None:
            sides = [np.abs(x - target) for x in sides]
        diff = sides[1] - sides[0]
    lo, hi = percentile_interval(diff, level)
    return point[1] - point[0], lo, hi


def distance_interval(lo: float, hi: float, target: float) -> tuple[float, float]:
    """The range of ``|x - target|`` for ``x`` in ``[lo, hi]``."""
    a, b = abs(lo - target), abs(hi - target)
    near = 0.0 if lo <= target <= hi else min(a, b)
    return near, max(a, b)
