"""The one split function: which points train, which are held out, which lie in the hole.

A pure function of the factors, the holdout region, the fractions and the seed, shared by
the runner (``prepare_data``), ``zsbench validate`` and the conformance kit, so all three cut
the same points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zsbench.regions import Region
from zsbench.space import LatentSpace

SPLIT_NAMES = ("train", "validation", "test", "hole", "rim")
"""Every split a run can have, in the order the runner builds them (a split may be absent:
"hole" without a holdout, "validation" when its fraction is 0, "rim" without a hole or a
renderable dataset; the rim's fresh points are drawn by the runner, not cut here)."""


@dataclass(frozen=True)
class SplitIndices:
    """``index[name]``: sorted row indices ``[n_name]`` into the factors of each split;
    ``depth [N]``: signed depth of every point into the holdout (None without one)."""

    index: dict[str, np.ndarray]
    depth: np.ndarray | None

    def counts(self) -> dict[str, int]:
        return {name: len(idx) for name, idx in self.index.items()}


def even_rows(n: int, cap: int | None) -> np.ndarray:
    """Indices of an even, deterministic subsample of ``range(n)`` of at most ``cap`` rows
    (all of them when ``cap`` is None or ``n <= cap``)."""
    if cap is None or n <= cap:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, int(cap))).astype(int))


def seeded_rows(n: int, cap: int, *, seed: int) -> np.ndarray:
    """Sorted indices ``[min(n, cap)]`` of ``range(n)``: all of them, or a sample of ``cap``
    without replacement drawn by ``numpy.random.default_rng(seed)``."""
    if n <= cap:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=cap, replace=False))


def split_indices(factors: np.ndarray, holdout: Region | None, space: LatentSpace, *,
                  test_fraction: float, validation_fraction: float, seed: int,
                  fixed_test: np.ndarray | None = None) -> SplitIndices:
    """Cut ``factors [N, F]`` into splits. The hole is every point inside ``holdout``; the
    other points are shuffled by ``numpy.random.default_rng(seed)`` and the first
    ``round(test_fraction * n_out)`` become "test", the next ``round(validation_fraction *
    n_out)`` "validation", the rest "train". Every index array is sorted; "hole" is present
    only with a holdout. ``fixed_test`` (``bool [N]``, a dataset's prescribed split, see
    ``Dataset.fixed_test``) makes its rows outside the hole the test split, whatever
    ``test_fraction`` says. Deterministic from the arguments alone."""
    factors = np.asarray(factors, dtype=np.float64)
    n = len(factors)
    if holdout is not None:
        depth = holdout.depth(factors, space)
        in_hole = holdout.contains(factors, space)
    else:
        depth, in_hole = None, np.zeros(n, dtype=bool)
    rng = np.random.default_rng(seed)
    outside = np.flatnonzero(~in_hole)
    outside = outside[rng.permutation(len(outside))]
    n_test = int(round(test_fraction * len(outside)))
    if fixed_test is not None:  # the prescribed test rows first, in the shuffled order
        fixed = np.asarray(fixed_test, dtype=bool)
        outside = np.concatenate([outside[fixed[outside]], outside[~fixed[outside]]])
        n_test = int(fixed[outside].sum())
    n_val = int(round(validation_fraction * len(outside)))
    index = {
        "train": np.sort(outside[n_test + n_val:]),
        "validation": np.sort(outside[n_test:n_test + n_val]),
        "test": np.sort(outside[:n_test]),
    }
    if holdout is not None:
        index["hole"] = np.flatnonzero(in_hole)
    return SplitIndices(index=index, depth=depth)
