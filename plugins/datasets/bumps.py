"""Gaussian bumps on a 28x28 grid: the compositional-generalisation task of Liang et al. 2025.

Liang, Qian, Ziyin and Fiete, "Compositional Generalization via Forced Rendering of
Disentangled Latents" (ICML 2025, arXiv 2501.18797; code: github.com/qiyaoliang/
DisentangledCompGen). What their code does, and where:

- **Image** (``gaussian_exps/bump_encoding/cnn/depth_exp.py``, ``GaussianBumpDatasetSquare``):
  ``xv, yv = np.meshgrid(np.arange(28), np.arange(28))`` and the target
  ``1 - exp(-((xv - x)^2 + (yv - y)^2) / (2 sigma^2))`` with ``sigma = 1``: a dark bump on
  white, float32. ``meshgrid``'s default ``"xy"`` indexing makes ``xv[i, j] = j``: ``x`` is
  the column (left to right) and ``y`` the row (top to bottom, row 0 first), and pixel
  ``(i, j)`` sits exactly at ``(x, y) = (j, i)`` (integer coordinates, no half-pixel shift;
  their figures show it with ``origin="lower"``, so ``y`` points up there).
- **Centres** (same file, ``run_experiment_cnn_gaussian_multi``): 2000 training centres with
  integer ``x``, ``y`` drawn with replacement by ``np.random.randint(0, 28)``, rejecting the
  held-out square ``6 <= x, y <= 22`` (both ends included); 500 test centres drawn from
  that square alone. (The class default and ``superposition_exp.py`` hold out [10, 18].)
- **Continuous centres** (``scaling_exps/bump.py``, ``GaussianBumpDatasetHoldout``):
  ``x, y ~ Uniform(0, N)`` on the same grid formula, holding out the centred
  ``K x K`` square ``[N/2 - K/2, N/2 + K/2)``.
- **"Stripes"** (``gaussian_exps/bump_encoding/cnn/stripe_data_augmentation.py``,
  ``StripedGaussianDataset``): the same formula on a 40x40 canvas, integer centres
  ``randint(0, 40)`` in canvas coordinates, the 28x28 window cropped at offset
  ``(40 - 28) // 2 = 6`` (``[6:34, 6:34]``), the held-out square [6, 22] of the window
  (canvas [12, 28]) rejected, 2000 training images. The bump is a product of two
  Gaussians, so a centre outside the window does **not** draw a 1-D stripe: it leaves the
  edge of a bump (centre up to about 3.5 sigma outside) or nothing at all (a white image).
  Over the 1311 canvas positions the training draws from, 38 % put the centre inside the
  window, 27 % leave an edge-clipped bump and 35 % a blank image (to uint8 precision).

This dataset renders that formula exactly at any continuous centre; window coordinates
are the factors, so the canvas's off-window centres are points of the same space.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Dataset, Recovery, to_float
from zsbench.space import Factor, LatentSpace

#: Images per rendering chunk, and per recovery chunk.
CHUNK = 2048
RECOVER_CHUNK = 128
#: Step (pixels) of the recovery's grid search over centres, before refinement.
SEARCH_STEP = 0.25
#: Gauss-Newton (Levenberg-Marquardt) iterations of the recovery.
ITERATIONS = 20
#: With ``sampling = "liang_scaling"``: the test centres (outside the square, zsbench's
#: "test" split; their protocol has none) as a share of the training count.
SCALING_TEST_SHARE = 0.1
#: A bump whose deepest pixel in the window departs from the background by less than this
#: (half a uint8 step) renders as a blank image in uint8: its centre cannot be told from
#: any other such centre.
VISIBLE = 0.5 / 255.0


class BumpsDataset(Dataset):
    """Gaussian bumps on a 28x28 grid, integer or continuous centres (Liang et al. 2025).

    Factors (pixel units, window coordinates: pixel ``(row i, column j)`` sits at
    ``(x, y) = (j, i)``):

    - ``x``: the bump centre, left to right (column);
    - ``y``: the bump centre, top to bottom (row).

    Bounds: [0, S - 1] (``S = image_size``); with ``stripes = True`` the canvas's,
    ``[-offset, canvas - offset - 1]`` with ``offset = (canvas - S) // 2`` ([-6, 33] by
    default), so a centre outside the window is a point of the space.

    Image (``[N, 1, S, S]``): ``1 - exp(-((j - x)^2 + (i - y)^2) / (2 sigma^2))`` at pixel
    ``(i, j)`` (``invert = True``, the paper's dark bump on white) or ``exp(...)`` (a bright
    bump on black), exact at any continuous centre.

    The dataset's points: ``n_samples`` centres drawn by ``np.random.default_rng(seed)``
    uniformly over the bounds, with integer coordinates (``integer = True``: drawn with
    replacement from the grid, as the paper's ``randint``) or continuous ones. The suite
    cuts the held-out square out of them (the paper: a ``box`` holdout over ``x`` and ``y``
    in [6, 22]); since the paper draws its 2000 training centres *outside* the square,
    ``n_samples = 3168`` (``2000 * 784 / 495``) leaves about 2000 outside it
    (``stripes = True``: ``2441 = 2000 * 1600 / 1311``), before the suite's test split.

    Continuous centres span the bounds; ``scaling_exps/bump.py`` draws them from [0, N),
    up to a pixel beyond the last pixel centre, which these bounds stop at. Its protocol
    is ``sampling = "liang_scaling"`` (below): bounds [0, S], centres from [0, S).

    The "stripes" of the paper's code are not stripes (see the module docstring): centres
    far enough outside the window draw a blank image, which tells neither coordinate.
    :meth:`factor_distance` says so: two centres whose uint8 renders are both blank are at
    distance 0.

    Parameters
    ----------
    n_samples:
        Number of points.
    image_size:
        Side ``S`` of the square window, in pixels (at least 8; the paper: 28).
    sigma:
        Width of the bump, in pixels (at least 0.5, so that a bump between pixel centres
        still shows; the paper: 1).
    invert:
        True: ``1 - exp(...)``, a dark bump on white (the paper's target); False: ``exp``.
    integer:
        True: the points' centres are integers (the paper's ``randint``); False:
        continuous uniform (``scaling_exps``). Rendering takes any continuous centre.
    stripes:
        True: the paper's canvas protocol (``stripe_data_augmentation.py``): the factor
        bounds and the points extend over the ``canvas x canvas`` grid around the window.
    canvas:
        Side of the canvas with ``stripes = True`` (the paper: 40; at least ``image_size``).
    pixels:
        ``"float32"`` (the exact intensities, as the paper trained on) or ``"uint8"``.
    sampling:
        ``"uniform"`` (default): ``n_samples`` centres over the bounds, as above.
        ``"liang_scaling"``: the protocol of ``scaling_exps/bump.py``
        (``run_experiment_area_subsampling_deep_equierror``) for the held-out square of
        side ``K = holdout_side``, ``[S/2 - K/2, S/2 + K/2)``: continuous centres
        (``integer = false``) uniform over ``[0, S)`` (bounds [0, S]), exactly
        ``int(per_area (S - K)^2 / S^2)`` training centres outside the square, then
        ``int(SCALING_TEST_SHARE * that)`` test centres outside it (the suite's test split,
        prescribed: ``test_fraction`` is unused; theirs has none), then a fresh
        ``int(per_area K^2 / S^2)`` centres inside it (the hole: their held-out set).
        ``n_samples`` is unused. The suite's holdout must be that square.
    holdout_side:
        ``K``, the side of the held-out square of ``"liang_scaling"`` (pixels, > 0).
    per_area:
        Their ``c_id = c_ood = 1000`` of ``"liang_scaling"``: the counts' scale.
    """

    name = "bumps"

    def __init__(
        self,
        *,
        n_samples: int = 2000,
        image_size: int = 28,
        sigma: float = 1.0,
        invert: bool = True,
        integer: bool = True,
        stripes: bool = False,
        canvas: int = 40,
        pixels: Literal["float32", "uint8"] = "float32",
        sampling: Literal["uniform", "liang_scaling"] = "uniform",
        holdout_side: float = 0.0,
        per_area: int = 1000,
    ) -> None:
        self.n_samples = n_samples
        self.image_size = image_size
        self.sigma = sigma
        self.invert = invert
        self.integer = integer
        self.stripes = stripes
        self.canvas = canvas
        self.pixels = pixels
        self.sampling = sampling
        self.holdout_side = holdout_side
        self.per_area = per_area
        self._check_sampling()
        if (not isinstance(n_samples, (int, np.integer)) or isinstance(n_samples, bool)
                or n_samples < 1):
            raise PluginParameterError("dataset", self.name, "n_samples",
                                       f"must be a positive integer, got {n_samples!r}.",
                                       "give e.g. n_samples = 2000.")
        if (not isinstance(image_size, (int, np.integer)) or isinstance(image_size, bool)
                or image_size < 8):
            raise PluginParameterError("dataset", self.name, "image_size",
                                       f"must be an integer of at least 8 pixels, got "
                                       f"{image_size!r}.", "give e.g. image_size = 28.")
        if (not isinstance(sigma, (int, float, np.integer, np.floating))
                or isinstance(sigma, bool) or not math.isfinite(float(sigma))
                or not 0.5 <= float(sigma) <= 0.5 * float(image_size)):
            raise PluginParameterError("dataset", self.name, "sigma",
                                       f"must be a number of pixels in [0.5, image_size / 2], "
                                       f"got {sigma!r}.", "give e.g. sigma = 1.0.")
        for key, value in (("invert", invert), ("integer", integer), ("stripes", stripes)):
            if not isinstance(value, (bool, np.bool_)):
                raise PluginParameterError("dataset", self.name, key,
                                           f"must be true or false, got {value!r}.",
                                           f"give {key} = true or {key} = false.")
        if (not isinstance(canvas, (int, np.integer)) or isinstance(canvas, bool)
                or canvas < image_size):
            raise PluginParameterError("dataset", self.name, "canvas",
                                       f"must be an integer of at least image_size = "
                                       f"{image_size!r} pixels, got {canvas!r}.",
                                       "give e.g. canvas = 40.")
        if pixels not in ("float32", "uint8"):
            raise PluginParameterError("dataset", self.name, "pixels", f"got {pixels!r}.",
                                       'give "float32" or "uint8".')

    def _check_sampling(self) -> None:
        if self.sampling not in ("uniform", "liang_scaling"):
            raise PluginParameterError("dataset", self.name, "sampling",
                                       f"got {self.sampling!r}.",
                                       'give "uniform" or "liang_scaling".')
        if self.sampling == "uniform":
            return
        k, size = self.holdout_side, self.image_size
        if (isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating))
                or not 0 < float(k) < float(size)):
            raise PluginParameterError("dataset", self.name, "holdout_side",
                                       f"must be a number of pixels in (0, image_size) with "
                                       f'sampling = "liang_scaling"; got {k!r}.',
                                       "give K = floor(p N), e.g. holdout_side = 5 at "
                                       "N = 28, p = 0.2.")
        if (isinstance(self.per_area, bool) or not isinstance(self.per_area, (int, np.integer))
                or self.per_area < 1):
            raise PluginParameterError("dataset", self.name, "per_area",
                                       f"must be a positive integer; got {self.per_area!r}.",
                                       "give their 1000.")
        if self.integer or self.stripes:
            raise PluginParameterError("dataset", self.name, "sampling",
                                       '"liang_scaling" draws continuous centres on the '
                                       "window alone.",
                                       "set integer = false and stripes = false.")

    def scaling_counts(self) -> tuple[int, int, int]:
        """``(train, test, hole)`` counts of ``sampling = "liang_scaling"``: their
        ``int(per_area (S - K)^2 / S^2)`` and ``int(per_area K^2 / S^2)``, and the test
        share of the training count."""
        s, k, c = float(self.image_size), float(self.holdout_side), int(self.per_area)
        train = int(c * (s - k) * (s - k) / (s * s))
        return train, int(SCALING_TEST_SHARE * train), int(c * k * k / (s * s))

    def _scaling_factors(self, rng: np.random.Generator) -> np.ndarray:
        """Centres of ``"liang_scaling"``: training, test (both outside the square, drawn
        by rejection from [0, S)^2 as theirs) and hole (uniform inside it), in that order."""
        s, k = float(self.image_size), float(self.holdout_side)
        lb, ub = s / 2.0 - k / 2.0, s / 2.0 - k / 2.0 + k
        train, test, hole = self.scaling_counts()
        outside: list[np.ndarray] = []
        have = 0
        while have < train + test:
            p = rng.uniform(0.0, s, size=(2 * (train + test) + 16, 2))
            inside = ((p >= lb) & (p < ub)).all(axis=1)
            outside.append(p[~inside])
            have += int((~inside).sum())
        out = np.concatenate(outside)[:train + test]
        return np.concatenate([out, rng.uniform(lb, ub, size=(hole, 2))])

    def fixed_test(self, n: int) -> np.ndarray | None:
        """With ``sampling = "liang_scaling"``: the test centres (see :meth:`scaling_counts`)
        are the test split; otherwise None (the suite draws it)."""
        if self.sampling != "liang_scaling":
            return None
        train, test, _ = self.scaling_counts()
        mask = np.zeros(int(n), dtype=bool)
        mask[train:train + test] = True
        return mask

    @property
    def lattice(self) -> np.ndarray:
        """``[1, 1]`` with ``integer = True`` (centres on the integer grid, as the paper's
        ``randint``), else NaN: fresh requests (the rim) are drawn like the points."""
        return np.full(2, 1.0 if self.integer else np.nan)

    # -- contract --------------------------------------------------------------------------
    @property
    def offset(self) -> int:
        """Where the window starts on the canvas: ``(canvas - S) // 2`` with ``stripes``,
        else 0."""
        return (int(self.canvas) - int(self.image_size)) // 2 if self.stripes else 0

    @property
    def bounds(self) -> tuple[float, float]:
        """The bounds of ``x`` and ``y``: the window, ``[0, S - 1]``; with ``stripes`` the
        canvas around it, ``[-offset, canvas - offset - 1]``; with ``sampling =
        "liang_scaling"`` ``[0, S]`` (their centres come from ``[0, S)``)."""
        if self.sampling == "liang_scaling":
            return (0.0, float(int(self.image_size)))
        if not self.stripes:
            return (0.0, float(int(self.image_size) - 1))
        return (float(-self.offset), float(int(self.canvas) - self.offset - 1))

    @property
    def space(self) -> LatentSpace:
        """``x`` (column) and ``y`` (row) in :attr:`bounds`, pixel units."""
        lo, hi = self.bounds
        return LatentSpace((
            Factor("x", lo, hi, description="bump centre, left to right (column), pixels"),
            Factor("y", lo, hi, description="bump centre, top to bottom (row), pixels"),
        ))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(1, image_size, image_size)``."""
        return (1, int(self.image_size), int(self.image_size))

    def factors(self, *, seed: int) -> np.ndarray:
        """``float64 [n_samples, 2]`` (``x``, ``y``) from ``np.random.default_rng(seed)``:
        integers drawn uniformly with replacement from the bounds' grid (``integer``), or
        continuous uniform over the bounds."""
        rng = np.random.default_rng(seed)
        if self.sampling == "liang_scaling":
            return self._scaling_factors(rng)
        lo, hi = self.bounds
        n = int(self.n_samples)
        if self.integer:
            return rng.integers(int(lo), int(hi) + 1, size=(n, 2)).astype(np.float64)
        return rng.uniform(lo, hi, size=(n, 2))

    def render(self, factors: np.ndarray) -> np.ndarray:
        """Exact images ``[N, 1, S, S]`` for any points ``[N, 2]`` of the space (a
        :class:`DataError` for a wrong shape or a point outside it): float32 in [0, 1], or
        uint8 (rounded to nearest) with ``pixels = "uint8"``."""
        f = self.space.check(factors)
        dtype = np.float32 if self.pixels == "float32" else np.uint8
        out = np.empty((len(f),) + self.image_shape, dtype=dtype)
        for start in range(0, len(f), CHUNK):
            img = self._intensity(f[start:start + CHUNK])
            if self.pixels == "float32":
                out[start:start + CHUNK, 0] = img
            else:
                out[start:start + CHUNK, 0] = np.rint(img * 255.0)
        return out

    def render_float(self, factors: np.ndarray) -> np.ndarray:
        """Intensities ``float64 [N, 1, S, S]`` in [0, 1]: what :meth:`render` stores."""
        f = self.space.check(factors)
        return self._intensity(f)[:, None]

    def _profiles(self, centres: np.ndarray) -> np.ndarray:
        """``exp(-(k - c)^2 / (2 sigma^2))`` for ``k = 0..S-1``: ``float64 [n, S]``."""
        k = np.arange(int(self.image_size), dtype=np.float64)
        d = k[None, :] - np.asarray(centres, dtype=np.float64)[:, None]
        return np.exp(d * d * (-0.5 / float(self.sigma) ** 2))

    def _bump(self, f: np.ndarray) -> np.ndarray:
        """The bump ``exp(...)`` ``float64 [n, S, S]`` (rows ``y``, columns ``x``)."""
        return self._profiles(f[:, 1])[:, :, None] * self._profiles(f[:, 0])[:, None, :]

    def _intensity(self, f: np.ndarray) -> np.ndarray:
        bump = self._bump(f)
        return 1.0 - bump if self.invert else bump

    @property
    def background(self) -> float:  # type: ignore[override]
        """The plain background: white (1) for the paper's dark bump, else black (0)."""
        return 1.0 if self.invert else 0.0

    @property
    def resolution(self) -> np.ndarray:
        """One pixel for both centre coordinates: ``[1, 1]``."""
        return np.ones(2)

    def validity_threshold(self, train_images: np.ndarray) -> float:
        """Half the RMS contrast of one bump in the middle of the frame against the plain
        background: a draw whose recovery residual reaches it (a blank frame: about 0.78 of
        the contrast; two bumps: about 1.0) is no image of the family. The mean-image rule
        of the contract would let a blank frame pass here (its residual sits within 0.1 %
        of that bar at the default size)."""
        centre = np.full((1, 2), 0.5 * (int(self.image_size) - 1))
        contrast = np.sqrt(np.mean(self._bump(centre) ** 2))
        return 0.5 * float(contrast)

    # -- inverse rendering -----------------------------------------------------------------
    def recover(self, images: np.ndarray) -> Recovery:
        """Factors ``[N, 2]`` of ``images [N, 1, S, S]`` (uint8, or float in [0, 1]) by
        inverse rendering.

        The bump ``B = 1 - image`` (``invert``; else the image) is compared with every
        centre of a grid of step 0.25 pixel over the bounds at once (the bump is the outer
        product of two 1-D profiles, so the sums of squared differences of all grid centres
        are two matrix products); the best is refined by Gauss-Newton (Levenberg-Marquardt)
        on the pixel residual with the analytic Jacobian, within the bounds. Exact renders
        in the window come back within 1e-6 pixel (float32) or about 0.01 pixel (uint8);
        a blank image (a centre far off the window) comes back as the first blank grid
        point. ``residual`` is the root-mean-square pixel difference between each image and
        the render of its recovered centre (float intensities)."""
        x = to_float(images)
        shape = self.image_shape
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            raise DataError(f'dataset "{self.name}": recover takes images [N, '
                            f"{', '.join(map(str, shape))}]; got shape {list(x.shape)}.")
        n = len(x)
        factors = np.empty((n, 2))
        residual = np.empty(n)
        for start in range(0, n, RECOVER_CHUNK):
            sl = slice(start, min(start + RECOVER_CHUNK, n))
            b = x[sl, 0].astype(np.float64)
            if self.invert:
                b = 1.0 - b
            factors[sl], residual[sl] = self._recover_chunk(b)
        return Recovery(factors=factors, residual=residual)

    def _recover_chunk(self, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(b)
        if n == 0:
            return np.empty((0, 2)), np.empty(0)
        lo, hi = self.bounds
        axis = np.linspace(lo, hi, int(round((hi - lo) / SEARCH_STEP)) + 1)
        g = self._profiles(axis)  # [A, S]
        norms = np.einsum("as,as->a", g, g)
        # sum over pixels of b * gy(row) gx(col) for every grid (y, x): [n, A(y), A(x)]
        cross = np.matmul(g[None], np.matmul(b, g.T))
        sse = norms[:, None] * norms[None, :] - 2.0 * cross
        best = np.argmin(sse.reshape(n, -1), axis=1)
        iy, ix = np.divmod(best, len(axis))
        p = np.stack([axis[ix], axis[iy]], axis=1)
        p, err = self._refine(b, p)
        return p, np.sqrt(np.maximum(err, 0.0) / b[0].size)

    def _sse(self, b: np.ndarray, p: np.ndarray) -> np.ndarray:
        diff = self._bump(p) - b
        return np.einsum("nij,nij->n", diff, diff)

    def _refine(self, b: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Levenberg-Marquardt on the centres ``p [n, 2]`` (``x``, ``y``):
        ``(p, sum of squared differences [n])``. The bump is ``gy gx^T`` with 1-D profiles
        ``gx``, ``gy``; its derivatives are ``gy hx^T`` and ``hy gx^T`` with
        ``h = g (k - c) / sigma^2``, so every product the normal equations need is one of
        vectors."""
        lo, hi = self.bounds
        k = np.arange(int(self.image_size), dtype=np.float64)
        s2 = float(self.sigma) ** 2
        sse = self._sse(b, p)
        damping = np.full(len(p), 1e-3)
        active = np.arange(len(p))
        for _ in range(ITERATIONS):
            q = p[active]
            gx, gy = self._profiles(q[:, 0]), self._profiles(q[:, 1])
            hx = gx * (k[None] - q[:, :1]) / s2
            hy = gy * (k[None] - q[:, 1:]) / s2
            e = gy[:, :, None] * gx[:, None, :] - b[active]  # [n, S(rows), S(cols)]
            gxx, gyy = np.einsum("ns,ns->n", gx, gx), np.einsum("ns,ns->n", gy, gy)
            jxx = gyy * np.einsum("ns,ns->n", hx, hx)
            jyy = gxx * np.einsum("ns,ns->n", hy, hy)
            jxy = np.einsum("ns,ns->n", gy, hy) * np.einsum("ns,ns->n", hx, gx)
            rx = np.einsum("nr,nrc,nc->n", gy, e, hx)
            ry = np.einsum("nr,nrc,nc->n", hy, e, gx)
            lam = damping[active]
            a11 = jxx * (1.0 + lam) + 1e-18
            a22 = jyy * (1.0 + lam) + 1e-18
            # a centre at a bound whose descent direction leaves the space stays there
            fix_x = ((q[:, 0] <= lo) & (rx > 0)) | ((q[:, 0] >= hi) & (rx < 0))
            fix_y = ((q[:, 1] <= lo) & (ry > 0)) | ((q[:, 1] >= hi) & (ry < 0))
            rx, ry = np.where(fix_x, 0.0, rx), np.where(fix_y, 0.0, ry)
            jxy = np.where(fix_x | fix_y, 0.0, jxy)
            det = a11 * a22 - jxy * jxy
            det = np.where(np.abs(det) > 1e-300, det, 1e-300)
            step = np.stack([-(a22 * rx - jxy * ry) / det, -(a11 * ry - jxy * rx) / det],
                            axis=1)
            trial = np.clip(q + step, lo, hi)
            trial_sse = self._sse(b[active], trial)
            ok = trial_sse < sse[active]
            gain = np.where(ok, sse[active] - trial_sse, 0.0)
            rows = active[ok]
            p[rows], sse[rows] = trial[ok], trial_sse[ok]
            damping[active] = np.clip(np.where(ok, lam / 4.0, lam * 8.0), 1e-9, 1e9)
            done = ((ok & (gain <= 1e-12 * sse[active] + 1e-24))
                    | (~ok & (damping[active] >= 1e6)))
            active = active[~done]
            if len(active) == 0:
                break
        return p, sse

    def visible(self, factors: np.ndarray) -> np.ndarray:
        """``bool [N]``: whether the bump at each centre ``[N, 2]`` shows in the window to
        uint8 precision (its deepest pixel differs from the background by at least half a
        step, 0.5 / 255). Centres in the window always show (``sigma >= 0.5``)."""
        f = np.asarray(factors, dtype=np.float64)
        top = float(int(self.image_size) - 1)
        dx = f[:, 0] - np.clip(np.rint(f[:, 0]), 0.0, top)
        dy = f[:, 1] - np.clip(np.rint(f[:, 1]), 0.0, top)
        peak = np.exp(-(dx * dx + dy * dy) / (2.0 * float(self.sigma) ** 2))
        return peak >= VISIBLE

    def factor_distance(self, truth: np.ndarray, found: np.ndarray) -> np.ndarray:
        """``|found - truth|`` per factor ``[N, 2]`` (pixels), except that two centres that
        both draw a blank image (neither :meth:`visible`: with ``stripes``, centres about
        3.5 sigma or more outside the window) are at distance 0 in both factors: the
        images cannot tell them apart. Without ``stripes`` every centre is visible and this
        is the plain difference."""
        t = np.asarray(truth, dtype=np.float64)
        g = np.asarray(found, dtype=np.float64)
        d = np.abs(g - t)
        blank = ~self.visible(t) & ~self.visible(g)
        d[blank] = 0.0
        return d
