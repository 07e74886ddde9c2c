"""Resampling and interval arithmetic behind :mod:`zsbench.intervals`: bootstrap resample
counts, sums over clusters of items, cluster-robust variances, the mid-p interval of a
proportion, the percentile and studentized (bootstrap-t) intervals. Pure numpy, seeded;
no notion of scores or jobs (that is :mod:`zsbench.intervals`)."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence

import numpy as np

RESAMPLES: int = 1000
"""Bootstrap resamples behind every interval."""

LEVEL: float = 0.95
"""Coverage of every interval (two-sided)."""

_BLOCK: int = 1 << 21
"""Largest index block (resamples x items) drawn at once: bounds the memory."""


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
    with one_blas_thread():  # the same bits whatever the machine's BLAS threads
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


def cluster_codes(ids: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """``(codes [n], G)``: each item's cluster as 0..G-1 (in order of first appearance is
    not promised: sorted ids), or every item its own cluster without ids."""
    if ids is None:
        return np.arange(n, dtype=np.int64), n
    _, codes = np.unique(np.asarray(ids), return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    return codes, int(codes.max()) + 1 if codes.size else 0


def cluster_sums(values: np.ndarray, codes: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray]:
    """``(T [G], M [G])``: per cluster, the sum of the finite values and how many there
    are (NaN items count in neither)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    ok = np.isfinite(x)
    return (np.bincount(codes, weights=np.where(ok, x, 0.0), minlength=g),
            np.bincount(codes, weights=ok.astype(np.float64), minlength=g))


def robust_variance(t: np.ndarray, m: np.ndarray) -> float:
    """The cluster-robust variance of the mean ``sum T / sum M`` of clusters with sums ``T``
    and counts ``M`` (``sum (T - mean M)^2 / (sum M)^2 * G / (G - 1)`` over the ``G``
    clusters with an item): ``s^2 / n`` for independent items; NaN with under two."""
    have = m > 0
    g = int(have.sum())
    total = float(m.sum())
    if g < 2 or total <= 0:
        return math.nan
    mean = float(t.sum()) / total
    return float(((t[have] - mean * m[have]) ** 2).sum()) / total ** 2 * g / (g - 1)


def z_quantile(level: float = LEVEL) -> float:
    """The two-sided standard normal quantile (1.96 at 95 %)."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2.0)


def midp_interval(p: float, n: float, level: float = LEVEL) -> tuple[float, float]:
    """The mid-p Clopper-Pearson interval of a proportion ``p`` observed on ``n``
    (effective, possibly fractional) trials: the ``q`` at which the chance of a count
    beyond ``x = p n``, plus half the chance of ``x`` itself, is ``(1 - level) / 2`` on
    either side (Lancaster 1961; Agresti and Gottard 2007). Both chances come from the
    regularized incomplete beta function, which takes a fractional count. NaN bounds
    without a trial. Exact binomial coverage, ``benchmarks/proportion_coverage.py``: its
    least over n = 5..200 and p in {0.01, 0.05, 0.1, 0.3, 0.5} is 0.923 (Wilson's
    0.843, Agresti-Coull's 0.919, Jeffreys' 0.884), without the exact interval's
    overcoverage. Never zero width: ``[0, 1 - a^(1/n)]`` at ``p = 0`` (``a = 1 - level``)."""
    if not (n > 0 and math.isfinite(p)):
        return math.nan, math.nan
    from scipy.special import betainc  # on use: slow to import

    p = min(max(p, 0.0), 1.0)
    x = p * n

    def beyond(q: np.ndarray) -> np.ndarray:
        """P(X > x) + P(X = x) / 2 under Binomial(n, q): increasing in q."""
        ge = np.ones_like(q) if x <= 0.0 else betainc(x, n - x + 1.0, q)
        gt = np.zeros_like(q) if x >= n else betainc(x + 1.0, n - x, q)
        return 0.5 * (ge + gt)

    tail = (1.0 - level) / 2.0
    goal = np.array([tail, 1.0 - tail])  # the lower bound's, the upper bound's
    a, b = np.zeros(2), np.ones(2)
    for _ in range(60):  # bisection: 2^-60 of [0, 1]
        mid = 0.5 * (a + b)
        low = beyond(mid) < goal
        a, b = np.where(low, mid, a), np.where(low, b, mid)
    lo, hi = float(0.5 * (a[0] + b[0])), float(0.5 * (a[1] + b[1]))
    return (0.0 if x <= 0.0 else lo), (1.0 if x >= n else hi)


def effective_trials(p: float, variance: float, clusters: int, trials: float) -> float:
    """The effective sample size of a rate ``p`` with cluster-robust ``variance`` (of
    :func:`robust_variance`): ``p (1 - p) / variance`` without the variance's small-sample
    factor ``G / (G - 1)`` (so that ``trials`` independent items count as ``trials``
    exactly), between ``clusters`` (draws of one cluster all alike) and ``trials`` (all
    independent); ``clusters`` when it cannot be estimated (a rate of 0 or 1: the cautious
    end)."""
    if 0.0 < p < 1.0 and math.isfinite(variance) and variance > 0 and clusters >= 2:
        raw = p * (1.0 - p) / variance * clusters / (clusters - 1.0)
        return float(min(max(raw, clusters), trials))
    return float(clusters)


def rate_trials(t: np.ndarray, m: np.ndarray, trials: float) -> float:
    """The effective sample size (:func:`effective_trials`) of a rate from its clusters'
    sums ``T [G]`` and counts ``M [G]`` (:func:`cluster_sums`), out of ``trials``. With the
    rarer outcome in under two clusters the clustering cannot be seen (one failing request
    looks like one failing image), so it takes the cautious end, the number of clusters;
    independent items (one a cluster) lose nothing by it."""
    have = m > 0
    total = float(m.sum())
    p = float(t.sum()) / total if total > 0 else math.nan
    rarer = (t > 0) if p <= 0.5 else (t < m)
    variance = robust_variance(t, m) if int((rarer & have).sum()) >= 2 else math.nan
    return effective_trials(p, variance, int(have.sum()), trials)


def moment_replicates(counts: np.ndarray, sums: Sequence[tuple[np.ndarray, np.ndarray]]
                       ) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each group's cluster sums ``(T [G], M [G])``, under every resample ``counts [B,
    G]``: the resampled mean ``[B]`` and its cluster-robust variance ``[B]`` (NaN where a
    resample draws under two clusters with a finite item; the factor ``G / (G - 1)`` counts
    the drawn clusters that have one). One single-precision matrix product, centred on each
    group's mean so that large offsets lose nothing."""
    b, g = counts.shape
    cols, centres = [], []
    for t, m in sums:
        total = float(m.sum())
        c = float(t.sum()) / total if total > 0 else 0.0
        tc = t - c * m
        cols += [tc, m, tc * tc, tc * m, m * m, (m > 0).astype(np.float64)]
        centres.append(c)
    x32 = np.stack(cols, axis=1).astype(np.float32)
    c32 = counts if counts.dtype == np.float32 else counts.astype(np.float32)
    with one_blas_thread():  # the same bits whatever the machine's BLAS threads
        s = (c32 @ x32).astype(np.float64)
    out = []
    for k, c in enumerate(centres):
        st, sm, stt, stm, smm, nz = (s[:, 6 * k + j] for j in range(6))
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(sm > 0, st / np.where(sm > 0, sm, 1.0), np.nan)
            var = (stt - 2.0 * mean * stm + mean * mean * smm) / (sm * sm)
            var = np.where(nz >= 2, np.maximum(var, 0.0) * nz / np.maximum(nz - 1, 1), np.nan)
        out.append((mean + c, var))
    return out


_CONTROLLER: list = []


def one_blas_thread() -> contextlib.AbstractContextManager:
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


def studentized_interval(point: float, variance: float, stats: np.ndarray,
                         variances: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The bootstrap-t interval ``[point - q_hi se, point - q_lo se]`` from replicates of
    the statistic and of its variance (``q``: quantiles of ``(stat* - point) / se*``); the
    percentile interval when the statistic has no spread or the quantiles are not finite."""
    se = math.sqrt(variance) if math.isfinite(variance) and variance > 0 else math.nan
    if not (math.isfinite(point) and math.isfinite(se)):
        return percentile_interval(stats, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = stats - point
        t = np.where(variances > 0, diff / np.sqrt(np.where(variances > 0, variances, 1.0)),
                     np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
    t = t[~np.isnan(t)]
    if t.size < 0.5 * stats.size:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    q_lo, q_hi = np.quantile(t, [alpha, 1.0 - alpha], method="inverted_cdf")
    lo, hi = point - float(q_hi) * se, point - float(q_lo) * se
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return percentile_interval(stats, level)
    return lo, hi


SKEW_WIDENING: float = 16.0
"""``c`` of :func:`skew_widened`: the least of 12, 16 and 20 whose coverage of a lognormal
(sigma = 1.5) mean reached 0.93 at 20 items on each of four sets of 1,000 samples (0.937
to 0.949; 100 items: 0.946 to 0.959; 500: 0.945). Measured on other shapes, none of which
chose it (``benchmarks/heavy_tail_candidates.py``): normal items keep 0.947 / 0.950 at 20 /
100, exponential 0.961 / 0.955, lognormal sigma = 1 0.958 at 20; uniform items, which the
bootstrap already overcovers (0.971), 0.984."""


def skew_widened(point: float, lo: float, hi: float, values: np.ndarray,
                 widening: float = SKEW_WIDENING) -> tuple[float, float]:
    """``[lo, hi]`` around ``point`` with the half-width on the side of the long tail times
    ``1 + c g / n``: ``g`` the sample skewness of ``values [n]`` (the finite items or
    clusters' means that the interval resamples) less the standard error it has under
    normal items, ``sqrt(6 (n - 2) / ((n + 1) (n + 3)))``, on that side; ``c``:
    ``widening``. The bootstrap sees only the tail that the sample holds, and a heavy
    tail's sample skewness is far below the true one (it is at most ``(n - 2) / sqrt(n -
    1)``), so a skewed sample's interval falls short on its long side. Items skewed no more
    than noise are left as they are; the widening fades as ``1 / n``, the order of the
    studentized bootstrap's own two-sided coverage error (Hall 1992), so that large samples
    keep the bootstrap's interval (a ``1 / sqrt(n)`` rule that reached 0.93 at 20 items
    covered 0.974 at 500). No rule can make a mean's interval cover under every tail:
    Bahadur and Savage (1956) show that an interval for the mean that covers for every
    distribution with a finite mean has infinite expected length, so some tail always
    escapes (a lognormal of sigma = 2: 0.924 on 20 items, 0.940 on 100)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = x.size
    if n < 3 or not (math.isfinite(lo) and math.isfinite(hi)):
        return lo, hi
    d = x - x.mean()
    m2 = float((d * d).mean())
    if m2 <= 0:
        return lo, hi
    g = float((d ** 3).mean()) / m2 ** 1.5
    g = math.copysign(max(abs(g) - math.sqrt(6.0 * (n - 2) / ((n + 1) * (n + 3))), 0.0), g)
    return (point - (point - lo) * (1.0 + widening * max(-g, 0.0) / n),
            point + (hi - point) * (1.0 + widening * max(g, 0.0) / n))


def t_quantile(df: int, level: float = LEVEL) -> float:
    """Two-sided Student t quantile for ``df`` degrees of freedom."""
    from scipy.stats import t  # on use: slow to import

    return float(t.ppf(0.5 + level / 2.0, df))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence numpy's warnings about means of all-NaN slices (they give NaN, as meant)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


