"""E3/E4: heatmaps of zero-mean bivariate densities (normal and Student-t) on a 36x36 grid.

Both datasets evaluate the density on ``np.mgrid[-3:3:.17, -3:3:.17]`` (image row ``i`` is
``x_i``, column ``j`` is ``y_j``, as ``np.dstack(np.mgrid[...])`` gives) and divide it by its
maximum over the grid. The work is vectorized over images (one quadratic form per pixel),
in chunks that bound memory.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Dataset, Recovery
from zsbench.recovery import GridRecovery
from zsbench.space import Factor, LatentSpace

#: The evaluation grid: ``GRID_X[i, j] = x_i``, ``GRID_Y[i, j] = y_j``, both ``[36, 36]``.
GRID_X, GRID_Y = np.mgrid[-3:3:.17, -3:3:.17]
#: The variances of the factor grid: 0.1, 0.3, ..., 4.9 (25 values).
VARIANCES = np.arange(0.1, 5, 0.2)
#: The correlations of the factor grid: -0.95, -0.85, ..., 0.85 (19 values).
CORRELATIONS = np.arange(-0.95, 0.95, 0.1)
#: The two degrees of freedom of the Student-t dataset.
DFS = (2.0, 200.0)
#: Images per chunk when evaluating densities.
CHUNK = 2048
#: Recovery grid: points per variance axis (geometric from 0.1 to 4.9) and along ``c``.
RECOVER_VARIANCE_POINTS = 25
RECOVER_CORRELATION_POINTS = 31


def _gaussian_factors() -> tuple[Factor, Factor, Factor]:
    return (
        Factor("vx", float(VARIANCES[0]), float(VARIANCES[-1]), description="variance of x"),
        Factor("vy", float(VARIANCES[0]), float(VARIANCES[-1]), description="variance of y"),
        Factor("c", float(CORRELATIONS[0]), float(CORRELATIONS[-1]),
               description="correlation of x and y"),
    )


def factor_grid() -> np.ndarray:
    """The 11875 grid points ``float64 [11875, 3]`` (``vx``, ``vy``, ``c``), exactly the
    values of ``np.arange(0.1, 5, 0.2)`` (twice) and ``np.arange(-0.95, 0.95, 0.1)``, in
    row-major order (``vx`` slowest, ``c`` fastest)."""
    mesh = np.meshgrid(VARIANCES, VARIANCES, CORRELATIONS, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def experiment_grid() -> np.ndarray:
    """The same 11875 points ``float64 [11875, 3]`` (``vx``, ``vy``, ``c``) in the seed
    experiment's order: ``np.array(np.meshgrid(var_grid, var_grid, cor_grid)).T.reshape(-1,
    3)`` (``c`` slowest, then ``vx``, then ``vy``)."""
    return np.array(np.meshgrid(VARIANCES, VARIANCES, CORRELATIONS)).T.reshape(-1, 3)


def experiment_test_mask(n: int, *, test_size: float = 0.2, random_state: int = 19) -> np.ndarray:
    """``bool [n]``: the test rows of ``sklearn.model_selection.train_test_split(range(n),
    test_size=test_size, random_state=random_state)``, the seed experiment's split."""
    from sklearn.model_selection import train_test_split

    _, test = train_test_split(np.arange(n), test_size=test_size, random_state=random_state)
    mask = np.zeros(n, dtype=bool)
    mask[test] = True
    return mask


def _quadratic_form(f: np.ndarray) -> np.ndarray:
    """``q = [x y] S^-1 [x y]^T`` on the grid for each row ``(vx, vy, c, ...)`` of
    ``f [n, >=3]``, with ``S = [[vx, c sqrt(vx vy)], [c sqrt(vx vy), vy]]``:
    ``float64 [n, 36, 36]``."""
    vx = f[:, 0, None, None]
    vy = f[:, 1, None, None]
    c = f[:, 2, None, None]
    x, y = GRID_X[None], GRID_Y[None]
    return (x * x / vx - (2.0 * c) * x * y / np.sqrt(vx * vy) + y * y / vy) / (1.0 - c * c)


def _to_pixels(density: np.ndarray, pixels: str) -> np.ndarray:
    """``[N, 36, 36]`` in [0, 1] to ``[N, 1, 36, 36]``: uint8 (rounded) or float32."""
    if pixels == "float32":
        return np.clip(density, 0.0, 1.0).astype(np.float32)[:, None]
    return _to_uint8(density)


def _to_uint8(density: np.ndarray) -> np.ndarray:
    """``[N, 36, 36]`` in [0, 1] to ``uint8 [N, 1, 36, 36]`` (rounded to nearest)."""
    scaled = np.clip(density, 0.0, 1.0) * 255.0
    scaled += 0.5
    return scaled.astype(np.uint8)[:, None]


class _HeatmapDataset(Dataset):
    """Shared parameters and chunked rendering of the two heatmap datasets."""

    def __init__(
        self,
        *,
        sampling: Literal["grid", "uniform"] = "grid",
        n_samples: int = 11875,
        order: Literal["grid", "experiment"] = "grid",
        test_split: Literal["suite", "experiment"] = "suite",
        pixels: Literal["uint8", "float32"] = "uint8",
    ) -> None:
        self.sampling = sampling
        self.n_samples = n_samples
        self.order = order
        self.test_split = test_split
        self.pixels = pixels
        for key, value, allowed in (("order", order, ("grid", "experiment")),
                                    ("test_split", test_split, ("suite", "experiment")),
                                    ("pixels", pixels, ("uint8", "float32"))):
            if value not in allowed:
                raise PluginParameterError("dataset", self.name, key, f"got {value!r}.",
                                           " or ".join(f'"{a}"' for a in allowed) + ".")
        if order == "experiment" and sampling != "grid":
            raise PluginParameterError("dataset", self.name, "order",
                                       'order = "experiment" orders the factor grid.',
                                       'set sampling = "grid" or order = "grid".')
        if sampling not in ("grid", "uniform"):
            raise PluginParameterError("dataset", self.name, "sampling", f"got {sampling!r}.",
                                       'give "grid" or "uniform".')
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise PluginParameterError("dataset", self.name, "n_samples",
                                       f"must be a positive integer, got {n_samples!r}.",
                                       "give e.g. n_samples = 11875.")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(1, 36, 36)``."""
        return (1, GRID_X.shape[0], GRID_X.shape[1])

    def _base_factors(self, rng: np.random.Generator) -> np.ndarray:
        """``(vx, vy, c)`` points ``[N, 3]``: the grid (all of it, or a seeded subset of
        ``n_samples`` points in grid order when fewer are asked for), or uniform draws."""
        n = int(self.n_samples)
        if self.sampling == "uniform":
            return LatentSpace(_gaussian_factors()).sample_uniform(n, rng=rng)
        grid = experiment_grid() if self.order == "experiment" else factor_grid()
        if n > len(grid):
            raise DataError(
                f'dataset "{self.name}": sampling = "grid" has {len(grid)} points, but '
                f"n_samples = {n}. Fix: set n_samples <= {len(grid)} (the default takes the "
                f'whole grid) or use sampling = "uniform".'
            )
        if n == len(grid):
            return grid
        keep = np.sort(rng.choice(len(grid), size=n, replace=False))
        return grid[keep]

    def fixed_test(self, n: int) -> np.ndarray | None:
        """``test_split = "experiment"``: the experiment's test rows ``bool [n]`` of the
        dataset's own points, ``train_test_split(test_size=0.2, random_state=19)`` over
        their order (the suite's ``test_fraction`` is then unused); else None."""
        return experiment_test_mask(n) if self.test_split == "experiment" else None

    def density(self, factors: np.ndarray) -> np.ndarray:
        """Max-normalized densities ``float64 [N, 36, 36]`` for ``factors [N, F]``
        (validated against the space)."""
        f = self.space.check(factors)
        out = np.empty((len(f),) + self.image_shape[1:], dtype=np.float64)
        for start in range(0, len(f), CHUNK):
            out[start:start + CHUNK] = self._density(f[start:start + CHUNK])
        return out

    def render(self, factors: np.ndarray) -> np.ndarray:
        """Images ``[N, 1, 36, 36]``: uint8 ``round(255 * density(factors))``, or with
        ``pixels = "float32"`` the densities themselves as float32 in [0, 1]."""
        f = self.space.check(factors)
        dtype = np.float32 if self.pixels == "float32" else np.uint8
        out = np.empty((len(f),) + self.image_shape, dtype=dtype)
        for start in range(0, len(f), CHUNK):
            out[start:start + CHUNK] = _to_pixels(self._density(f[start:start + CHUNK]),
                                                  self.pixels)
        return out

    def _density(self, f: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def recover(self, images: np.ndarray) -> Recovery:
        """Factors of heatmaps ``[N, 1, 36, 36]`` in [0, 1] by inverse rendering.

        A grid of exact renders (``vx``, ``vy``: 25 values in equal ratios over [0.1, 4.9];
        ``c``: 25 equal steps; every ``df`` of ``gaussian_t``; ``uint8``, 20 MB per ``df``)
        is built on first use and kept on the instance; nearest neighbour on 2 x 2 block
        means, then a hill climb and a quadratic refinement at full resolution (see
        :class:`zsbench.recovery.GridRecovery`); ``df`` is the value whose best fit is
        closest. Exact renders come back within about 2 % of each factor's range."""
        if getattr(self, "_grid_", None) is None:
            axes = []
            for f in self.space.factors:
                if f.discrete:
                    axes.append(np.asarray(sorted(f.values), dtype=np.float64))
                elif f.name == "c":
                    # equal steps in atanh(c): finer where images change fastest (|c| -> 1)
                    axes.append(np.tanh(np.linspace(np.arctanh(f.low), np.arctanh(f.high),
                                                    RECOVER_CORRELATION_POINTS)))
                else:
                    axes.append(np.geomspace(f.low, f.high, RECOVER_VARIANCE_POINTS))
            self._grid_ = GridRecovery(self.space, self.render, axes, pool=3)
        return self._grid_.recover(images)


class GaussianDataset(_HeatmapDataset):
    """Heatmaps of zero-mean bivariate normal densities on a 36x36 grid (E3).

    Factors: variances ``vx``, ``vy`` in [0.1, 4.9] and correlation ``c`` in [-0.95, 0.85].
    Image: the density with covariance ``[[vx, c sqrt(vx vy)], [c sqrt(vx vy), vy]]`` on
    ``np.mgrid[-3:3:.17, -3:3:.17]``, divided by its maximum over the grid; stored as
    ``uint8 [N, 1, 36, 36]`` (``density`` gives the float64 ``[N, 36, 36]`` values).

    Parameters
    ----------
    sampling:
        ``"grid"``: the 11875 = 25 x 25 x 19 points ``vx, vy in np.arange(0.1, 5, 0.2)``,
        ``c in np.arange(-0.95, 0.95, 0.1)`` (with a smaller ``n_samples``: a seeded subset
        of them). ``"uniform"``: ``n_samples`` points uniform over the bounds.
    n_samples:
        Number of points (``"grid"``: at most 11875, the default).
    order:
        ``"grid"``: row-major (``vx`` slowest, ``c`` fastest). ``"experiment"``: the seed
        experiment's order, ``np.array(np.meshgrid(v, v, c)).T.reshape(-1, 3)``.
    test_split:
        ``"suite"``: the suite's ``[splits]`` draw the test rows. ``"experiment"``: the
        experiment's fixed split, ``train_test_split(test_size=0.2, random_state=19)`` over
        the points in the dataset's order (with ``order = "experiment"`` and the full grid:
        exactly the experiment's test set).
    pixels:
        ``"uint8"`` (rounded to 1/255) or ``"float32"`` (the exact densities, as the
        experiment trained on).
    """

    name = "gaussian"

    @property
    def space(self) -> LatentSpace:
        """``vx``, ``vy`` in [0.1, 4.9]; ``c`` in [-0.95, 0.85]."""
        return LatentSpace(_gaussian_factors())

    def factors(self, *, seed: int) -> np.ndarray:
        """``float64 [N, 3]`` (``vx``, ``vy``, ``c``) from ``np.random.default_rng(seed)``
        (the full grid does not depend on the seed)."""
        return self._base_factors(np.random.default_rng(seed))

    def _density(self, f: np.ndarray) -> np.ndarray:
        q = _quadratic_form(f)
        q -= q.min(axis=(1, 2), keepdims=True)
        q *= -0.5
        return np.exp(q, out=q)


class GaussianTDataset(_HeatmapDataset):
    """Heatmaps of bivariate Student-t densities on a 36x36 grid, df 2 or 200 (E4).

    Factors: ``vx``, ``vy``, ``c`` as in ``gaussian`` (here they build the *scale* matrix
    ``[[vx, c sqrt(vx vy)], [c sqrt(vx vy), vy]]``) and the discrete degrees of freedom
    ``df`` in {2, 200}. Image: the zero-mean t density on ``np.mgrid[-3:3:.17, -3:3:.17]``,
    divided by its maximum; ``uint8 [N, 1, 36, 36]`` (``density``: float64 ``[N, 36, 36]``).

    The dataset's own points get ``df = 2`` where ``(vx + vy)^2 - U > 20`` with ``U ~
    Uniform(0, 10)`` drawn from the seed, else ``df = 200`` (about half each); ``render``
    takes ``df`` from the factors. Parameters as in ``gaussian``.
    """

    name = "gaussian_t"

    @property
    def space(self) -> LatentSpace:
        """``vx``, ``vy`` in [0.1, 4.9]; ``c`` in [-0.95, 0.85]; ``df`` in {2, 200}."""
        return LatentSpace(_gaussian_factors() + (
            Factor("df", values=DFS, description="degrees of freedom of the t density"),))

    def factors(self, *, seed: int) -> np.ndarray:
        """``float64 [N, 4]`` (``vx``, ``vy``, ``c``, ``df``) from
        ``np.random.default_rng(seed)``: the points as in ``gaussian``, then one ``U(0, 10)``
        per point for the ``df`` rule."""
        rng = np.random.default_rng(seed)
        base = self._base_factors(rng)
        df = df_rule(base[:, 0], base[:, 1], rng.uniform(0.0, 10.0, size=len(base)))
        return np.column_stack([base, df])

    def _density(self, f: np.ndarray) -> np.ndarray:
        q = _quadratic_form(f)
        df = f[:, 3, None, None]
        # log density up to a per-image constant: -(df + 2)/2 * log(1 + q/df)
        logp = np.log1p(q / df)
        logp -= logp.min(axis=(1, 2), keepdims=True)
        logp *= -0.5 * (df + 2.0)
        return np.exp(logp, out=logp)


def df_rule(vx: np.ndarray, vy: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``float64 [N]``: 2.0 where ``(vx + vy)^2 - u > 20``, else 200.0 (E4's rule)."""
    return np.where((vx + vy) ** 2 - u > 20.0, 2.0, 200.0)
