"""Uncertainty of scores: intervals over images (or requests), combined over seeds, and
paired differences between two runs on the same images. Pure numpy, vectorised, seeded.

A score that is a mean over items (images, prior draws, transect points) carries its
per-item values (:attr:`zsbench.plugin.Score.items`); a ratio or a difference of two such
means carries both groups (``ratio_of``, ``difference_of``). Items may be NaN: such an item
does not count (e.g. the factor error of an image that is no image of the family), and the
statistic is the mean of the finite items. Items may come in **clusters** (``clusters``: one
id per item, e.g. the request of each of several draws of a conditional generator): draws of
one request are not independent, so every resample below draws whole clusters. This module
turns them into intervals (95 %, ``LEVEL``):

- **One seed** (:func:`interval`): what the *images* leave open, and nothing else (another
  training seed moves a score too; the leaderboard says "image noise only").

  - a **rate** (a mean of items that are all 0 or 1): the mid-p Clopper-Pearson interval
    on the effective sample size ``n_eff = p (1 - p) / V`` (``V``: the cluster-robust
    variance of the rate; between the number of clusters and the number of items; the
    number of clusters when the rate is 0 or 1). It never has zero width at 0 or 1. Of
    the usual intervals for a proportion it has the best worst case of exact coverage
    (``benchmarks/proportion_coverage.py``). No interval that is a function of the count
    can cover 0.93 to 0.97 in every cell: at p = 0.05 and n = 20 the counts 0 to 2 hold
    0.925 of the chance and 0 to 3 hold 0.984.
  - anything else: a **studentized (bootstrap-t) interval**: ``RESAMPLES`` cluster
    resamples, each giving the statistic and its cluster-robust standard error (delta
    method for a ratio or a difference), and the quantiles of ``(stat* - stat) / se*``.
    It follows a skewed distribution's long tail where the percentile interval does not
    (see ``benchmarks/interval_coverage.py`` for what it covers). Each group of a ratio or
    a difference (hole and rim are different images) is resampled on its own.

- **Several seeds** (:func:`interval_over_seeds`): seeds of one run share their images (the
  data seed fixes them), so the image part is one resample of the images shared by every
  seed (the seed-averaged items, treated as above), and the seed part is a t interval over
  the seeds' values (``S - 1`` degrees of freedom) whose variance leaves out the image
  noise that the image part already holds (two-way random effects); the two half-widths
  add in quadrature. Without per-item values (or items that do not line up): a t interval
  over the seeds' values (:func:`seed_interval`); one seed without items: no interval.
- **Two sets of runs on the same images** (:func:`paired_difference`): the difference
  (new - base) of the statistics averaged over each side's seeds, with a paired bootstrap
  interval: one resample of the clusters shared by every seed of both sides, so what the
  two have in common (which images are hard) cancels; optionally with the seed part.

Every function is seeded (``numpy.random.default_rng``): the same call gives the same
interval. In a job, the resamples of a group of items are seeded from the job's seed, the
group's number of clusters and its role (:func:`group_seed`), and every group of one size
and role shares them: the scores of one split are resampled together, in one matrix product
(resample counts ``[B, G]`` times the clusters' sums ``[G, 6 k]``), which keeps the cost to
tens of milliseconds per job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zsbench.resampling import (  # noqa: F401 - resample_counts, resampled_means: public
    LEVEL,
    RESAMPLES,
    SKEW_WIDENING,
    cluster_codes,
    cluster_sums,
    midp_interval,
    moment_replicates,
    one_blas_thread,
    percentile_interval,
    quiet,
    rate_trials,
    resample_counts,
    resampled_means,
    robust_variance,
    skew_widened,
    studentized_interval,
    t_quantile,
)
from zsbench.seeds import derive_seed

MEAN, RATIO, DIFFERENCE = "mean", "ratio", "difference"
KINDS: tuple[str, ...] = (MEAN, RATIO, DIFFERENCE)
"""How a statistic is made of its groups of items: the mean of one group, the ratio of the
means of two groups, or their difference."""

PART_SUFFIXES: dict[str, tuple[str, ...]] = {MEAN: ("",), RATIO: (":num", ":den"),
                                              DIFFERENCE: (":a", ":b")}
"""Keys under which a score's groups are stored (score name + suffix), e.g. in a run
folder's ``items/LABEL-seedN/METRIC.npz``."""

CLUSTER_SUFFIX: str = "#cluster"
"""Added to a group's key for the cluster id of each of its items (e.g. the request of each
draw), when the items come in clusters."""

METHODS: dict[str, str] = {
    "bootstrap": "one seed: image noise only (rates: mid-p on the effective sample size; "
                 "others: studentized bootstrap over images or requests)",
    "images+seeds": "seeds: images resampled together for every seed, plus a t interval "
                    "over the seeds",
    "seeds": "seeds only: a t interval over the seeds' values",
    "none": "no interval",
}
"""What each interval method (a leaderboard's ``methods``) covers."""

@dataclass(frozen=True)
class Items:
    """The per-item values behind one score of one job: ``kind`` (mean, ratio or
    difference), its groups ``parts`` (one float64 array ``[N]`` for a mean, two for the
    others) and, when the items come in clusters, ``clusters`` (one integer array ``[N]``
    of cluster ids per group, or None for a group of independent items; empty: none)."""

    kind: str
    parts: tuple[np.ndarray, ...]
    clusters: tuple[np.ndarray | None, ...] = ()

    @property
    def n(self) -> int:
        """Items behind the score (all groups; NaN items included)."""
        return int(sum(p.size for p in self.parts))

    def statistic(self) -> float:
        return combine(self.kind, [finite_mean(p) for p in self.parts])

    def cluster_ids(self, g: int) -> np.ndarray | None:
        """The cluster ids ``[N]`` of group ``g``, or None (independent items)."""
        return self.clusters[g] if g < len(self.clusters) else None

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """``{storage key: array}`` for score ``name`` (cluster ids included)."""
        out = {name + s: p for s, p in zip(PART_SUFFIXES[self.kind], self.parts)}
        for g, s in enumerate(PART_SUFFIXES[self.kind]):
            ids = self.cluster_ids(g)
            if ids is not None:
                out[name + s + CLUSTER_SUFFIX] = ids
        return out


def items_of(score: object) -> Items | None:
    """The :class:`Items` a :class:`~zsbench.plugin.Score` declares (``items``,
    ``ratio_of`` or ``difference_of``, and ``clusters`` when it has them), as float64
    arrays; None when it declares none. Raises ``ValueError`` for a malformed declaration
    (several, an empty or a multi-dimensional group, cluster ids that do not match)."""
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
    declared_ids = getattr(score, "clusters", None)
    if declared_ids is None:
        return Items(kind, arrays)
    ids = (declared_ids,) if kind == MEAN else tuple(declared_ids)
    if len(ids) != len(arrays):
        raise ValueError(f"clusters: expected {len(arrays)} groups of cluster ids, got {len(ids)}")
    out = []
    for a, c in zip(arrays, ids):
        c = None if c is None else np.asarray(c).astype(np.int64).reshape(-1)
        if c is not None and c.shape != a.shape:
            raise ValueError(f"clusters: {c.size} cluster ids for {a.size} items")
        out.append(c)
    return Items(kind, arrays, tuple(out))


def load_items(arrays: dict[str, np.ndarray], name: str) -> Items | None:
    """The :class:`Items` of score ``name`` among stored ``arrays`` (see
    :attr:`Items.arrays`), or None."""
    for kind, suffixes in PART_SUFFIXES.items():
        keys = [name + s for s in suffixes]
        if all(k in arrays for k in keys):
            parts = tuple(np.asarray(arrays[k], dtype=np.float64) for k in keys)
            ids = tuple(None if k + CLUSTER_SUFFIX not in arrays else
                        np.asarray(arrays[k + CLUSTER_SUFFIX]).astype(np.int64)
                        for k in keys)
            if any(c is not None and c.shape != p.shape for c, p in zip(ids, parts)):
                ids = ()
            return Items(kind, parts, ids if any(c is not None for c in ids) else ())
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


def _parts_sums(items: Items) -> list[tuple[np.ndarray, np.ndarray]]:
    return [cluster_sums(p, *cluster_codes(items.cluster_ids(g), p.size))
            for g, p in enumerate(items.parts)]


def statistic_variance(items: Items) -> float:
    """The cluster-robust variance of a score's statistic: of its mean, or by the delta
    method of a ratio (``(V_a + r^2 V_b) / b^2``) or a difference (``V_a + V_b``)."""
    sums = _parts_sums(items)
    v = [robust_variance(t, m) for t, m in sums]
    if items.kind == MEAN:
        return v[0]
    if items.kind == DIFFERENCE:
        return v[0] + v[1]
    b = finite_mean(items.parts[1])
    r = items.statistic()
    return (v[0] + r * r * v[1]) / (b * b) if b > 0 else math.nan


def is_rate(items: Items) -> bool:
    """Whether a score is a rate: a mean of items that are all 0 or 1 (NaN aside)."""
    if items.kind != MEAN:
        return False
    x = items.parts[0][np.isfinite(items.parts[0])]
    return bool(x.size) and bool(np.all((x == 0.0) | (x == 1.0)))


def rate_interval(items: Items, level: float = LEVEL) -> tuple[float, float]:
    """The mid-p interval of a rate (:func:`is_rate`) on its effective sample size."""
    (t, m), = _parts_sums(items)
    total = float(m.sum())
    if total <= 0:
        return math.nan, math.nan
    p = float(t.sum()) / total
    n_eff = rate_trials(t, m, total)
    return midp_interval(p, n_eff, level)


def group_seed(job_seed: int, n: int, role: int) -> int:
    """The seed of the resamples of a group of ``n`` clusters (items, without clusters) in
    role ``role`` (0: the items of a mean, the numerator or first term; 1: the denominator
    or second term) in the job of seed ``job_seed``. Groups of one size and role share their
    resamples within a job, so the scores of one split are resampled together (one GEMM per
    split); the two groups of a ratio or difference are resampled independently."""
    return derive_seed(int(job_seed), f"bootstrap:{int(n)}:{int(role)}")


def _job_moments(named: dict[str, Items], job_seed: int, resamples: int,
                 counts_cache: dict | None) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    """``(name, group) -> (mean [B], variance [B])`` under the job's resamples: one
    resample matrix per number of clusters and role, one product for its groups."""
    batches: dict[tuple[int, int], list[tuple[str, int, tuple[np.ndarray, np.ndarray]]]] = {}
    for name, it in named.items():
        for role, part in enumerate(it.parts):
            codes, g = cluster_codes(it.cluster_ids(role), part.size)
            batches.setdefault((g, role), []).append(
                (name, role, cluster_sums(part, codes, g)))
    out: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    for (g, role), members in batches.items():
        key = (int(job_seed), g, role, resamples)
        counts = None if counts_cache is None else counts_cache.get(key)
        if counts is None:
            counts = resample_counts(g, group_seed(job_seed, g, role), resamples)
            if counts_cache is not None:
                counts_cache[key] = counts
        reps = moment_replicates(counts, [s for _, _, s in members])
        for (name, role_, _), rep in zip(members, reps):
            out[(name, role_)] = rep
    return out


def _statistic_replicates(kind: str, moments: Sequence[tuple[np.ndarray, np.ndarray]]
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``(statistic [B], variance [B])`` of a score from its groups' resampled means and
    variances (delta method for a ratio or a difference)."""
    means = [m for m, _ in moments]
    stat = np.asarray(combine(kind, means), dtype=np.float64)
    if kind == MEAN:
        return stat, moments[0][1]
    if kind == DIFFERENCE:
        return stat, moments[0][1] + moments[1][1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return stat, (moments[0][1] + stat * stat * moments[1][1]) / (means[1] * means[1])


def job_replicates(named: dict[str, Items], job_seed: int, resamples: int = RESAMPLES,
                   counts_cache: dict | None = None) -> dict[str, np.ndarray]:
    """Bootstrap replicates ``[resamples]`` of every score of one job (``{name: Items}``),
    batched as :func:`job_intervals` draws them."""
    moments = _job_moments(named, job_seed, resamples, counts_cache)
    return {name: _statistic_replicates(it.kind, [moments[(name, r)] for r in
                                                  range(len(it.parts))])[0]
            for name, it in named.items()}


def replicates(items: Items, job_seed: int, resamples: int = RESAMPLES) -> np.ndarray:
    """Bootstrap replicates ``[resamples]`` of one score's statistic in the job of seed
    ``job_seed``, as :func:`job_replicates` draws them."""
    return job_replicates({"": items}, job_seed, resamples)[""]


def job_intervals(named: dict[str, Items], job_seed: int, resamples: int = RESAMPLES,
                  level: float = LEVEL, counts_cache: dict | None = None
                  ) -> dict[str, tuple[float, float]]:
    """The interval of every score of one job (see the module docstring): mid-p for a
    rate, else the studentized bootstrap, batched (one product per group size and role);
    a mean's interval is widened on the side of a skewed sample's long tail
    (:func:`~zsbench.resampling.skew_widened`, on its clusters' means) and stays within its
    items' range."""
    moments = _job_moments(named, job_seed, resamples, counts_cache)
    out = {}
    for name, it in named.items():
        if is_rate(it):
            out[name] = rate_interval(it, level)
            continue
        stats, variances = _statistic_replicates(
            it.kind, [moments[(name, r)] for r in range(len(it.parts))])
        point = it.statistic()
        lo, hi = studentized_interval(point, statistic_variance(it), stats, variances, level)
        if it.kind == MEAN and math.isfinite(lo):
            (t, m), = _parts_sums(it)
            with np.errstate(divide="ignore", invalid="ignore"):
                lo, hi = skew_widened(point, lo, hi, t[m > 0] / m[m > 0], SKEW_WIDENING)
            x = it.parts[0][np.isfinite(it.parts[0])]
            lo, hi = max(lo, float(x.min())), min(hi, float(x.max()))
        out[name] = (lo, hi)
    return out


def interval(items: Items, job_seed: int, resamples: int = RESAMPLES,
             level: float = LEVEL) -> tuple[float, float]:
    """The interval of one score of the job of seed ``job_seed`` (:func:`job_intervals`)."""
    return job_intervals({"": items}, job_seed, resamples, level)[""]


def seed_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """An interval over seeds only, for a score without per-item values: mean ± t × sample
    std / sqrt(S) over the ``S`` seeds' values; NaN bounds with fewer than two seeds."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size < 2:
        return math.nan, math.nan
    half = t_quantile(v.size - 1, level) * float(v.std(ddof=1)) / math.sqrt(v.size)
    m = float(v.mean())
    return m - half, m + half


def aligned(runs: Sequence[Items]) -> bool:
    """Whether the items of several jobs line up item by item (one kind, groups of equal
    lengths): the same images, in the same order."""
    if not runs:
        return False
    kind, sizes = runs[0].kind, [p.size for p in runs[0].parts]
    return all(it.kind == kind and [p.size for p in it.parts] == sizes for it in runs)


def shared_replicates(runs: Sequence[Items], seed: int, resamples: int = RESAMPLES,
                      role: str = "shared") -> np.ndarray:
    """``[R, resamples]``: the statistic of each of ``R`` aligned jobs under one resample
    of the clusters (the first job's cluster ids that has them) shared by all of them, per
    group (seeded by ``seed``, ``role`` and the group)."""
    group_means = []
    for g, part0 in enumerate(runs[0].parts):
        ids = next((c for it in runs if (c := it.cluster_ids(g)) is not None), None)
        codes, n = cluster_codes(ids, part0.size)
        counts = resample_counts(n, derive_seed(int(seed), f"{role}:{g}"), resamples)
        cols, centres, ms = [], [], []
        for it in runs:
            t, m = cluster_sums(it.parts[g], codes, n)
            c = float(t.sum() / m.sum()) if m.sum() > 0 else 0.0
            cols.append(t - c * m)
            ms.append(m)
            centres.append(c)
        x32 = np.stack(cols + ms, axis=1).astype(np.float32)
        with one_blas_thread():
            s = (counts @ x32).astype(np.float64).T  # [2 R, B]
        k = len(runs)
        with np.errstate(divide="ignore", invalid="ignore"):
            means = np.where(s[k:] > 0, s[:k] / np.where(s[k:] > 0, s[k:], 1.0), np.nan)
        group_means.append(means + np.asarray(centres)[:, None])
    return np.asarray(combine(runs[0].kind, group_means), dtype=np.float64)


def seed_variance(values: Sequence[float], reps: np.ndarray) -> float:
    """The variance between training seeds of a statistic, net of image noise: the
    sample variance of the seeds' ``values [S]`` less the part of it that the images
    explain (from ``reps [S, B]``, replicates under a resample shared by the seeds: the
    mean variance of one seed's replicates less that of their average, times ``S / (S -
    1)``, as a two-way random-effects model has it); at least 0. NaN with under two
    seeds."""
    v = np.asarray(values, dtype=np.float64)
    s = v.size
    if s < 2 or not np.isfinite(v).all():
        return math.nan
    with np.errstate(invalid="ignore"), quiet():
        within = float(np.nanmean(np.nanvar(reps, axis=1)))
        shared = float(np.nanvar(np.nanmean(reps, axis=0)))
    noise = max(within - shared, 0.0) * s / (s - 1) if math.isfinite(within - shared) else 0.0
    return max(float(v.var(ddof=1)) - noise, 0.0)


def _image_halfwidths(per_seed: Sequence[Items], reps: np.ndarray, point: float, seed: int,
                      resamples: int, level: float) -> tuple[float, float]:
    """How far below and above ``point`` the images leave the mean over seeds: for a mean,
    the one-seed interval (mid-p for rates, else studentized) of the seed-averaged items;
    for a ratio or a difference, the percentile interval of the shared replicates."""
    if per_seed[0].kind != MEAN:
        lo, hi = percentile_interval(np.nanmean(reps, axis=0), level)
        return max(point - lo, 0.0), max(hi - point, 0.0)
    stack = np.stack([it.parts[0] for it in per_seed])
    with quiet():
        avg = np.nanmean(stack, axis=0)
    ids = next((c for it in per_seed if (c := it.cluster_ids(0)) is not None), None)
    avg_items = Items(MEAN, (avg,), () if ids is None else (ids,))
    centre = avg_items.statistic()
    if all(is_rate(it) for it in per_seed):
        (t, m), = _parts_sums(avg_items)
        n_eff = rate_trials(t, m, float(m.sum()) * len(per_seed))
        lo, hi = midp_interval(centre, n_eff, level)
    else:
        lo, hi = job_intervals({"": avg_items}, seed, resamples, level)[""]
    return max(centre - lo, 0.0), max(hi - centre, 0.0)


def interval_over_seeds(per_seed: Sequence[Items], seeds: Sequence[int], seed: int,
                        resamples: int = RESAMPLES, level: float = LEVEL
                        ) -> tuple[float, float, str]:
    """``(lo, hi, method)``: the interval of the mean over seeds of a score, ``per_seed[j]``
    holding the items of the job of seed ``seeds[j]``. One seed: that job's interval
    (method ``bootstrap``: image noise only). Several seeds on the same images (items that
    line up): ``images+seeds`` (see the module docstring); items that do not line up: a t
    interval over the seeds' values (``seeds``). ``seed`` seeds the shared resample."""
    if len(per_seed) == 1:
        lo, hi = interval(per_seed[0], seeds[0], resamples, level)
        return lo, hi, "bootstrap"
    values = [it.statistic() for it in per_seed]
    if not aligned(per_seed) or not all(math.isfinite(v) for v in values):
        (lo, hi), method = seed_interval(values, level), "seeds"
    else:
        point = float(np.mean(values))
        reps = shared_replicates(per_seed, seed, resamples, "seeds")
        h_lo, h_hi = _image_halfwidths(per_seed, reps, point, seed, resamples, level)
        s = len(per_seed)
        h_seed = t_quantile(s - 1, level) * math.sqrt(seed_variance(values, reps) / s)
        lo, hi = point - math.hypot(h_lo, h_seed), point + math.hypot(h_hi, h_seed)
        method = "images+seeds"
    if all(is_rate(it) for it in per_seed):
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    return lo, hi, method


def paired_difference(base: Sequence[Items], new: Sequence[Items], seed: int,
                      resamples: int = RESAMPLES, level: float = LEVEL,
                      target: float | None = None, with_seeds: bool = False
                      ) -> tuple[float, float, float]:
    """``(difference, lo, hi)`` of a score between two sides on the same items: the
    statistic averaged over each side's seeds (``base``, ``new``: one :class:`Items` per
    seed, all of one kind and with groups of equal lengths), new minus base, and its paired
    bootstrap interval (one resample of each group's clusters shared by every seed of both
    sides). With ``target``, the difference of the distances ``|statistic - target|``
    (positive: the new side is farther from the target). With ``with_seeds`` (two models
    of one run) the interval adds a seed part in quadrature: t over the seed variance
    pooled from the sides with two seeds or more (:func:`seed_variance`), times ``sqrt(1 /
    S_base + 1 / S_new)``. Raises ``ValueError`` when the items do not line up."""
    runs = [list(base), list(new)]
    if not runs[0] or not runs[1]:
        raise ValueError("each run needs the items of at least one seed")
    if not aligned(runs[0] + runs[1]):
        raise ValueError("the two runs' per-item values do not line up")
    values = [[it.statistic() for it in r] for r in runs]
    point = [float(np.mean(v)) for v in values]
    if target is not None:
        point = [abs(p - target) for p in point]
    stats = shared_replicates(runs[0] + runs[1], seed, resamples, "paired")
    nb = len(runs[0])
    with np.errstate(invalid="ignore"):
        sides = [stats[:nb].mean(axis=0), stats[nb:].mean(axis=0)]
        if target is not None:
            sides = [np.abs(x - target) for x in sides]
        diff = sides[1] - sides[0]
    d = point[1] - point[0]
    lo, hi = percentile_interval(diff, level)
    if with_seeds and math.isfinite(lo):
        parts = [(len(v), seed_variance(v, r)) for v, r in
                 ((values[0], stats[:nb]), (values[1], stats[nb:])) if len(v) >= 2]
        df = sum(k - 1 for k, s2 in parts if math.isfinite(s2))
        if df > 0:
            pooled = sum((k - 1) * s2 for k, s2 in parts if math.isfinite(s2)) / df
            h = t_quantile(df, level) * math.sqrt(pooled * (1.0 / nb + 1.0 / len(runs[1])))
            lo, hi = d - math.hypot(max(d - lo, 0.0), h), d + math.hypot(max(hi - d, 0.0), h)
    return d, lo, hi


def distance_interval(lo: float, hi: float, target: float) -> tuple[float, float]:
    """The range of ``|x - target|`` for ``x`` in ``[lo, hi]``."""
    a, b = abs(lo - target), abs(hi - target)
    near = 0.0 if lo <= target <= hi else min(a, b)
    return near, max(a, b)
