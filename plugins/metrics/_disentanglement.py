"""What the disentanglement metrics (``mig``, ``dci``, ``sap``) share: reading latent means
and true factors from a context, subsampling them reproducibly, and discretising both the way
the reference implementations do (disentanglement_lib, and the ``disent`` package that
follows it).

Conventions: latents are ``[N, D]`` and factors ``[N, F]`` (rows are samples), the transpose
of the reference implementations' ``[D, N]`` arrays.
"""

from __future__ import annotations

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import EvalContext
from zsbench.space import LatentSpace
from zsbench.splits import seeded_rows

NUM_BINS = 20
"""Histogram bins of the reference implementations (MIG's latent discretisation)."""


def histogram_discretize(values: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Codes ``int64 [N, K]`` of ``values [N, K]``, column by column: the bin of each value
    among ``num_bins`` equal-width bins spanning the column's range, counted from 1 (the
    reference's ``np.digitize(x, np.histogram(x, num_bins)[1][:-1])``; the maximum falls in
    the last bin, a constant column in one bin)."""
    v = np.asarray(values, dtype=np.float64)
    out = np.zeros(v.shape, dtype=np.int64)
    for k in range(v.shape[1]):
        edges = np.histogram(v[:, k], num_bins)[1]
        out[:, k] = np.digitize(v[:, k], edges[:-1])
    return out


def factor_codes(factors: np.ndarray, space: LatentSpace | None = None,
                 num_bins: int = NUM_BINS) -> np.ndarray:
    """Class labels ``int64 [N, F]`` of the true factors, as the metrics' targets.

    A factor with at most ``num_bins`` distinct values among the rows (a discrete factor,
    or e.g. the six scales of the dSprites grid) keeps them: label ``k`` is its ``k``-th
    smallest value, as the reference implementations use the dataset's factor classes. A
    factor with more distinct values (continuous, or a fine grid) is cut into ``num_bins``
    equal-width bins by :func:`histogram_discretize`. ``space`` is accepted for symmetry
    with the callers and not needed."""
    f = np.asarray(factors, dtype=np.float64)
    out = np.zeros(f.shape, dtype=np.int64)
    for j in range(f.shape[1]):
        values, inverse = np.unique(f[:, j], return_inverse=True)
        if len(values) <= num_bins:
            out[:, j] = inverse.reshape(-1)
        else:
            out[:, j] = histogram_discretize(f[:, j:j + 1], num_bins)[:, 0]
    return out


def discrete_factors(factors: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Bool ``[F]``: which columns of ``factors [N, F]`` have at most ``num_bins`` distinct
    values (treated as discrete by ``sap``'s per-factor mode)."""
    f = np.asarray(factors, dtype=np.float64)
    return np.array([len(np.unique(f[:, j])) <= num_bins for j in range(f.shape[1])])


def split_arrays(ctx: EvalContext, split: str, metric: str, max_points: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(latent means float64 [n, D], factors float64 [n, F])`` of ``split``: all its rows,
    or ``max_points`` of them chosen by ``np.random.default_rng(seed)`` (in split order).
    A missing or empty split, or latents of the wrong shape, is a :class:`DataError`."""
    if split not in ctx.latents or split not in ctx.splits:
        have = ", ".join(sorted(ctx.latents)) or "none"
        raise DataError(f'{metric}: no latents for split "{split}"; available: {have}. Fix: '
                        f'set split (or test_split) to one of them in the [[metric]] table.')
    z = np.asarray(ctx.latents[split], dtype=np.float64)
    f = np.asarray(ctx.splits[split].factors, dtype=np.float64)
    if len(f) < 2:
        raise DataError(f'{metric}: split "{split}" has {len(f)} point(s); the metric needs '
                        "at least 2.")
    if z.ndim != 2 or len(z) != len(f) or z.shape[1] < 1:
        raise DataError(f'{metric}: latents of split "{split}" must be [{len(f)}, D]; got '
                        f"{list(z.shape)}.")
    if len(f) > max_points:
        keep = seeded_rows(len(f), max_points, seed=seed)
        z, f = z[keep], f[keep]
    return z, f


def check_positive(metric: str, name: str, value: object, minimum: int = 1) -> None:
    """A :class:`PluginParameterError` unless ``value`` is an integer >= ``minimum``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise PluginParameterError("metric", metric, name,
                                   f"must be an integer >= {minimum}; got {value!r}.",
                                   f"give e.g. {name} = {max(minimum, 20)}.")


def top_two_gap(matrix: np.ndarray) -> np.ndarray:
    """Per column of ``matrix [D, F]``: the largest entry minus the second largest
    ``[F]`` (with one row, the entry itself: the second is taken as 0)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape[0] == 1:
        return m[0].copy()
    s = np.sort(m, axis=0)
    return s[-1] - s[-2]
