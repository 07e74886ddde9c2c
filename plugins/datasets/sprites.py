"""Procedural dSprites: a square, an ellipse or a heart at any scale, orientation and position.

Every image is rendered from signed-distance functions evaluated on the pixel grid, with
analytic anti-aliasing: a pixel whose centre lies ``d`` pixels outside the shape's edge gets
the intensity ``clip(0.5 - d, 0, 1)`` (the area of the pixel a straight edge covers, to first
order). The work is vectorized over images: only a square window around each sprite (large
enough for the largest sprite at any orientation) is evaluated, in chunks of images, one shape
at a time, and pasted into the canvas.

The factors follow the original dSprites (Matthey et al. 2017): ``shape`` (0 = square,
1 = ellipse, 2 = heart), ``scale`` in [0.5, 1], ``orientation`` in [0, 2 pi] (radians,
counter-clockwise), ``x`` and ``y`` in [0, 1] (``x`` left to right, ``y`` top to bottom).
``sampling = "grid"`` gives the original's grid: 3 shapes x 6 scales x 40 orientations x
32 x 32 positions = 737 280 points (both 0 and 2 pi are orientations of the grid, as in the
original).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Literal

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Dataset, Recovery, to_float
from zsbench.space import Factor, LatentSpace
from zsbench_plugins.datasets.shapes3d import OriginalFile, find_original

#: Names of the values of the ``shape`` factor, by value.
SHAPES = ("square", "ellipse", "heart")
#: The original grid: values per factor (shape, scale, orientation, x, y).
GRID_SCALES = np.linspace(0.5, 1.0, 6)
GRID_ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, 40)
GRID_POSITIONS = np.linspace(0.0, 1.0, 32)
GRID_SHAPE = (3, 6, 40, 32, 32)
GRID_SIZE = int(np.prod(GRID_SHAPE))  # 737 280
#: Half the side of the square at scale 1, as a fraction of the image side.
HALF_SIZE = 0.15
#: Sprite centres span [MARGIN, 1 - MARGIN] of the image side along x and y.
MARGIN = 0.25
#: Semi-axes of the ellipse, in sprite units (the square's half side is 1).
ELLIPSE_AXES = (1.0, 0.5)
#: The heart of the signed-distance function (tip at the origin, lobes up to y ~ 1.1) is
#: mapped to sprite units by ``p_heart = HEART_ZOOM * q + (0, HEART_SHIFT)``.
HEART_ZOOM = 0.6
HEART_SHIFT = 0.55
#: The rotational symmetry of each shape: orientations equal modulo this period look alike.
PERIODS = (0.5 * np.pi, np.pi, 2.0 * np.pi)
#: Images per rendering chunk: bounds the temporaries to a few MB each.
CHUNK = 256
#: Images read back at a time by :meth:`SpritesDataset.recover` (its first guess renders 24
#: orientations of each: about 200 MB at 32x32, where 30,000 at once took 12 GB).
RECOVER_CHUNK = 512


# -- signed distances, in sprite units (negative inside) ------------------------------------

def _sd_square(qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    dx = np.abs(qx)
    dx -= 1.0
    dy = np.abs(qy)
    dy -= 1.0
    inside = np.maximum(dx, dy)
    np.minimum(inside, 0.0, out=inside)
    np.maximum(dx, 0.0, out=dx)
    np.maximum(dy, 0.0, out=dy)
    np.square(dx, out=dx)
    np.square(dy, out=dy)
    dx += dy
    out = np.sqrt(dx, out=dx)
    out += inside
    return out


def _sd_ellipse(qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """The first-order distance ``k0 (k0 - 1) / k1`` (exact on the boundary, where the
    anti-aliasing reads it; the centre, where it is 0/0, gets ``-b``)."""
    a, b = ELLIPSE_AXES
    k0 = np.hypot(qx * (1.0 / a), qy * (1.0 / b))
    k1 = np.hypot(qx * (1.0 / (a * a)), qy * (1.0 / (b * b)))
    out = k0 - 1.0
    out *= k0
    np.maximum(k1, 1e-12, out=k1)
    out /= k1
    out[k0 < 1e-9] = -b
    return out


def _sd_heart(qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    """The exact distance to the heart of two quarter circles and a point (its tip)."""
    px = np.abs(qx) * HEART_ZOOM
    py = qy * HEART_ZOOM
    py += HEART_SHIFT
    lobe = np.hypot(px - 0.25, py - 0.75) - math.sqrt(2.0) / 4.0
    tip = np.square(px) + np.square(py - 1.0)
    total = px + py
    t = np.maximum(total, 0.0)
    t *= 0.5
    side = np.square(px - t) + np.square(py - t)
    np.minimum(tip, side, out=tip)
    np.sqrt(tip, out=tip)
    tip *= np.sign(px - py)
    out = np.where(total > 1.0, lobe, tip)
    out *= 1.0 / HEART_ZOOM
    return out


_SDF = (_sd_square, _sd_ellipse, _sd_heart)


@functools.lru_cache(maxsize=None)
def shape_moments(shape: int) -> tuple[float, float, float]:
    """``(area, cx, cy)`` of a shape in sprite units (square: 4), its centroid relative to
    the sprite centre (``cy`` up); from a fine numerical grid."""
    g = np.linspace(-1.5, 1.5, 1201)
    step = g[1] - g[0]
    qx, qy = np.meshgrid(g, g)
    inside = _SDF[shape](qx, qy) <= 0
    area = float(inside.sum() * step * step)
    return area, float(qx[inside].mean()), float(qy[inside].mean())


@functools.lru_cache(maxsize=None)
def shape_extent(shape: int) -> float:
    """The largest distance from the sprite centre to a point of the shape, in sprite units
    (square: sqrt 2), from a fine numerical grid plus one grid step."""
    g = np.linspace(-1.5, 1.5, 1201)
    qx, qy = np.meshgrid(g, g)
    inside = _SDF[shape](qx, qy) <= 0
    return float(np.hypot(qx[inside], qy[inside]).max() + (g[1] - g[0]))


class SpritesDataset(Dataset):
    """dSprites, procedurally: square, ellipse or heart at any scale, orientation and position.

    Factors: ``shape`` (discrete: 0 = square, 1 = ellipse, 2 = heart), ``scale`` in [0.5, 1],
    ``orientation`` in [0, 2 pi] (radians, counter-clockwise), ``x`` in [0, 1] (left to
    right) and ``y`` in [0, 1] (top to bottom). White sprite on black, anti-aliased, any
    factor value (not only the original's grid points).

    Geometry (image side ``S``): the sprite's centre lies at pixel
    ``S * (0.25 + 0.5 * x)`` from the left and ``S * (0.25 + 0.5 * y)`` from the top; at
    scale 1 the square's side is ``0.3 S`` (19 pixels at 64), the ellipse's axes are
    ``0.3 S`` and ``0.15 S`` and the heart is about as wide as the square.

    Parameters
    ----------
    n_samples:
        Number of points. ``sampling = "grid"``: None (the default) takes the whole grid of
        737 280 points; a number takes a seeded subset of that many grid points.
    image_size:
        Side ``S`` of the square images, in pixels (at least 16).
    sampling:
        ``"grid"``: the original dSprites grid (3 shapes x 6 scales x 40 orientations x
        32 x 32 positions, or a subset); ``"uniform"``: the shape uniform over the three and
        the continuous factors uniform over their ranges.

    Images are ``uint8 [N, 1, S, S]``; :meth:`render_float` gives the float64 intensities.
    :meth:`recover` inverts the renderer (orientation modulo the shape's symmetry).
    """

    name = "sprites"

    def __init__(
        self,
        *,
        n_samples: int | None = None,
        image_size: int = 64,
        sampling: Literal["grid", "uniform"] = "grid",
    ) -> None:
        self.n_samples = n_samples
        self.image_size = image_size
        self.sampling = sampling
        if sampling not in ("grid", "uniform"):
            raise PluginParameterError("dataset", self.name, "sampling", f"got {sampling!r}.",
                                       'give "grid" or "uniform".')
        if n_samples is not None and (not isinstance(n_samples, (int, np.integer))
                                      or isinstance(n_samples, bool) or n_samples < 1):
            raise PluginParameterError("dataset", self.name, "n_samples",
                                       f"must be a positive integer, got {n_samples!r}.",
                                       "give e.g. n_samples = 20000.")
        if sampling == "uniform" and n_samples is None:
            raise PluginParameterError("dataset", self.name, "n_samples",
                                       'is required with sampling = "uniform".',
                                       "give e.g. n_samples = 20000.")
        if sampling == "grid" and n_samples is not None and n_samples > GRID_SIZE:
            raise PluginParameterError("dataset", self.name, "n_samples",
                                       f"the grid has {GRID_SIZE} points, got {n_samples}.",
                                       f'give at most {GRID_SIZE} or use sampling = "uniform".')
        if not isinstance(image_size, (int, np.integer)) or image_size < 16:
            raise PluginParameterError("dataset", self.name, "image_size",
                                       f"must be an integer of at least 16 pixels, got "
                                       f"{image_size!r}.", "give e.g. image_size = 64.")

    # -- contract --------------------------------------------------------------------------
    @property
    def space(self) -> LatentSpace:
        """``shape`` in {0, 1, 2}, ``scale`` in [0.5, 1], ``orientation`` in [0, 2 pi],
        ``x`` and ``y`` in [0, 1]."""
        return LatentSpace((
            Factor("shape", values=(0.0, 1.0, 2.0),
                   description="0 = square, 1 = ellipse, 2 = heart"),
            Factor("scale", 0.5, 1.0, description="size (the square's side is 0.3 S at 1)"),
            Factor("orientation", 0.0, 2.0 * np.pi,
                   description="rotation in radians, counter-clockwise"),
            Factor("x", 0.0, 1.0, description="horizontal position, left to right"),
            Factor("y", 0.0, 1.0, description="vertical position, top to bottom"),
        ))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(1, image_size, image_size)``."""
        return (1, int(self.image_size), int(self.image_size))

    def factors(self, *, seed: int) -> np.ndarray:
        """The points ``float64 [N, 5]`` (shape, scale, orientation, x, y) from ``seed``.

        ``"grid"``: the whole grid in row-major order (shape slowest, y fastest) when
        ``n_samples`` is None, else a subset of ``n_samples`` grid points drawn without
        replacement by ``np.random.default_rng(seed)``, in grid order. ``"uniform"``:
        ``n_samples`` uniform draws."""
        rng = np.random.default_rng(seed)
        if self.sampling == "uniform":
            return self.space.sample_uniform(int(self.n_samples), rng=rng)
        if self.n_samples is None or int(self.n_samples) == GRID_SIZE:
            index = np.arange(GRID_SIZE)
        else:
            index = np.sort(rng.choice(GRID_SIZE, size=int(self.n_samples), replace=False))
        return grid_points(index)

    def render(self, factors: np.ndarray) -> np.ndarray:
        """Exact images ``uint8 [N, 1, S, S]`` for any points ``[N, 5]`` of the space
        (a :class:`DataError` for a wrong shape or a point outside it): the intensities of
        :meth:`render_float`, rounded to the nearest of 0..255."""
        f = self.space.check(factors)
        size = int(self.image_size)
        out = np.zeros((len(f), 1, size, size), dtype=np.uint8)
        for rows, ox, oy, window in self._windows(f):
            side = window.shape[1]
            # round(255 * clip(0.5 - d, 0, 1)) in one pass: floor(clip(128 - 255 d, 0, 255))
            window *= np.float32(-255.0)
            window += np.float32(128.0)
            np.maximum(window, np.float32(0.0), out=window)
            np.minimum(window, np.float32(255.0), out=window)
            quantized = window.astype(np.uint8)
            for i, (r, x0, y0) in enumerate(zip(rows.tolist(), ox.tolist(), oy.tolist())):
                out[r, 0, y0:y0 + side, x0:x0 + side] = quantized[i]
        return out

    def render_float(self, factors: np.ndarray) -> np.ndarray:
        """Intensities ``float64 [N, 1, S, S]`` in [0, 1]: what :meth:`render` quantizes."""
        return self._render_unchecked(self.space.check(factors))

    def _render_unchecked(self, f: np.ndarray) -> np.ndarray:
        size = int(self.image_size)
        out = np.zeros((len(f), 1, size, size), dtype=np.float64)
        for rows, ox, oy, window in self._windows(f):
            side = window.shape[1]
            coverage = np.subtract(np.float32(0.5), window, out=window)
            np.maximum(coverage, np.float32(0.0), out=coverage)
            np.minimum(coverage, np.float32(1.0), out=coverage)
            for i, (r, x0, y0) in enumerate(zip(rows.tolist(), ox.tolist(), oy.tolist())):
                out[r, 0, y0:y0 + side, x0:x0 + side] = coverage[i]
        return out

    # -- rendering -------------------------------------------------------------------------
    def centre_pixels(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates ``(column, row)`` of sprite centres (pixel ``i``'s centre is at
        ``i + 0.5``) for factor values ``x``, ``y`` (same shapes)."""
        size = int(self.image_size)
        span = 1.0 - 2.0 * MARGIN
        return size * (MARGIN + span * x), size * (MARGIN + span * y)

    def _windows(self, f: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray,
                                                        np.ndarray]]:
        """Render the points ``f [n, 5]`` (not checked) window by window: yields ``(rows
        [m], ox [m], oy [m], signed distances float32 [m, W, W])`` (in pixels, negative
        inside; the intensity is ``clip(0.5 - d, 0, 1)``), the window of row ``rows[i]``
        having its top-left pixel at column ``ox[i]``, row ``oy[i]``. Rows are grouped by
        shape and sorted by scale, so each chunk's window fits its largest sprite."""
        size = int(self.image_size)
        unit = HALF_SIZE * size
        shapes = np.rint(f[:, 0]).astype(np.int64)
        for k, sdf in enumerate(_SDF):
            rows_k = np.flatnonzero(shapes == k)
            rows_k = rows_k[np.argsort(f[rows_k, 1], kind="stable")]
            for start in range(0, len(rows_k), CHUNK):
                rows = rows_k[start:start + CHUNK]
                g = f[rows]
                reach = int(math.ceil(unit * float(g[:, 1].max()) * shape_extent(k))) + 1
                side = min(2 * reach + 2, size)
                cx, cy = self.centre_pixels(g[:, 3], g[:, 4])
                ox = np.clip(np.floor(cx).astype(np.int64) - reach, 0, size - side)
                oy = np.clip(np.floor(cy).astype(np.int64) - reach, 0, size - side)
                grid = np.arange(side, dtype=np.float64) + 0.5
                pix = unit * g[:, 1]  # pixels per sprite unit
                # pixel-centre offsets from the sprite centre (y up), in sprite units: [m, W]
                u = ((ox[:, None] + grid[None, :]) - cx[:, None]) / pix[:, None]
                v = (cy[:, None] - (oy[:, None] + grid[None, :])) / pix[:, None]
                u, v = u.astype(np.float32), v.astype(np.float32)
                c = np.cos(g[:, 2]).astype(np.float32)[:, None, None]
                s = np.sin(g[:, 2]).astype(np.float32)[:, None, None]
                # rotate by -orientation
                qx = c * u[:, None, :] + s * v[:, :, None]
                qy = c * v[:, :, None] - s * u[:, None, :]
                d = sdf(qx, qy)
                d *= pix.astype(np.float32)[:, None, None]  # sprite units -> pixels
                yield rows, ox, oy, d

    # -- inverse rendering -----------------------------------------------------------------
    def recover(self, images: np.ndarray) -> Recovery:
        """Factors ``[N, 5]`` of ``images [N, 1, S, S]`` (uint8 as :meth:`render` writes them,
        or float in [0, 1]) by inverse rendering.

        For each shape: the position from the intensity centroid (corrected for the shape's
        own centroid), the scale from the total intensity (the shape's area), the
        orientation by nearest neighbour over a coarse grid of renders (24 steps over the
        shape's symmetry period); then a damped Gauss-Newton (Levenberg-Marquardt) refinement
        of scale, orientation, x and y on the pixel residual with finite-difference
        Jacobians. The shape is the one whose refined render matches best. The orientation
        is reported in [0, period) of the shape (square pi/2, ellipse pi, heart 2 pi): the
        images cannot tell more. ``residual`` is the root-mean-square pixel difference."""
        x = to_float(images).astype(np.float64)  # accepts its own uint8 renders too
        size = int(self.image_size)
        if x.ndim != 4 or x.shape[1:] != (1, size, size):
            raise DataError(f'dataset "sprites": recover takes images [N, 1, {size}, {size}]; '
                            f"got shape {list(x.shape)}.")
        n = len(x)
        best = np.zeros((n, 5))
        best_err = np.full(n, np.inf)
        for start in range(0, n, RECOVER_CHUNK):  # the first guess holds 24 renders an image
            sl = slice(start, min(start + RECOVER_CHUNK, n))
            best[sl], best_err[sl] = self._recover_chunk(x[sl, 0])
        best[:, 2] = np.mod(best[:, 2], np.take(PERIODS, np.rint(best[:, 0]).astype(int)))
        return Recovery(factors=best, residual=np.sqrt(best_err))

    def _recover_chunk(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best shape's refined factors ``[n, 5]`` and mean squared pixel error ``[n]``
        of ``target [n, S, S]``."""
        n = len(target)
        best = np.zeros((n, 5))
        best_err = np.full(n, np.inf)
        for shape in range(len(SHAPES)):
            f = self._initial_guess(target, shape)
            f, err = self._refine(target, f)
            better = err < best_err
            best[better], best_err[better] = f[better], err[better]
        return best, best_err

    #: White sprites on black.
    background = 0.0

    @property
    def resolution(self) -> np.ndarray:
        """The original grid's steps: shape 1, scale 0.1, orientation 2 pi / 39, ``x`` and
        ``y`` 1 / 31 (the grid is what the data resolves): ``float64 [5]``."""
        return np.array([1.0, *(float(np.diff(a[:2])[0]) for a in (
            GRID_SCALES, GRID_ORIENTATIONS, GRID_POSITIONS, GRID_POSITIONS))])

    def factor_distance(self, truth: np.ndarray, found: np.ndarray) -> np.ndarray:
        """``|found - truth|`` per factor ``[N, 5]``, the orientation measured around the
        circle modulo the true shape's symmetry period (a square turned by pi/2 is the same
        image): at most half the period."""
        t = np.asarray(truth, dtype=np.float64)
        d = np.abs(np.asarray(found, dtype=np.float64) - t)
        period = np.take(PERIODS, np.clip(np.rint(t[:, 0]), 0, len(PERIODS) - 1).astype(int))
        turn = np.mod(d[:, 2], period)
        d[:, 2] = np.minimum(turn, period - turn)
        return d

    def _clip(self, f: np.ndarray) -> np.ndarray:
        f = f.copy()
        f[:, 1] = np.clip(f[:, 1], 0.5, 1.0)
        f[:, 2] = np.mod(f[:, 2], 2.0 * np.pi)
        f[:, 3:5] = np.clip(f[:, 3:5], 0.0, 1.0)
        return f

    def _mse(self, target: np.ndarray, f: np.ndarray) -> np.ndarray:
        diff = self._render_unchecked(f)[:, 0] - target
        return np.einsum("nij,nij->n", diff, diff) / diff[0].size

    def _initial_guess(self, target: np.ndarray, shape: int, steps: int = 24) -> np.ndarray:
        """Moments for position and scale, the best of ``steps`` orientations: ``[N, 5]``."""
        size = int(self.image_size)
        n = len(target)
        unit = HALF_SIZE * size
        area, mx, my = shape_moments(shape)
        ink = target.sum(axis=(1, 2))
        centres = np.arange(size) + 0.5
        with np.errstate(invalid="ignore", divide="ignore"):
            col = np.where(ink > 0, (target.sum(axis=1) @ centres) / ink, size / 2)
            row = np.where(ink > 0, (target.sum(axis=2) @ centres) / ink, size / 2)
        scale = np.clip(np.sqrt(ink / (area * unit * unit)), 0.5, 1.0)
        span = size * (1.0 - 2.0 * MARGIN)
        candidates = np.empty((steps, n, 5))
        for j, theta in enumerate(np.arange(steps) * (PERIODS[shape] / steps)):
            # the shape's centroid, rotated and scaled, in pixels (y up)
            dx = (math.cos(theta) * mx - math.sin(theta) * my) * unit * scale
            dy = (math.sin(theta) * mx + math.cos(theta) * my) * unit * scale
            candidates[j, :, 0] = shape
            candidates[j, :, 1] = scale
            candidates[j, :, 2] = theta
            candidates[j, :, 3] = ((col - dx) / size - MARGIN) * size / span
            candidates[j, :, 4] = ((row + dy) / size - MARGIN) * size / span
        flat = self._clip(candidates.reshape(steps * n, 5))
        err = self._mse(np.tile(target, (steps, 1, 1)), flat).reshape(steps, n)
        return flat.reshape(steps, n, 5)[np.argmin(err, axis=0), np.arange(n)]

    def _refine(self, target: np.ndarray, f: np.ndarray,
                iterations: int = 12) -> tuple[np.ndarray, np.ndarray]:
        """Levenberg-Marquardt on (scale, orientation, x, y): ``(f [N, 5], mse [N])``."""
        n = len(f)
        steps = np.array([2e-3, 4e-3, 1e-3, 1e-3])
        damping = np.full(n, 1e-2)
        f = self._clip(f)
        base = self._render_unchecked(f)[:, 0]
        err = np.einsum("nij,nij->n", base - target, base - target) / target[0].size
        for _ in range(iterations):
            probes = np.repeat(f[None], 4, axis=0)
            for k in range(4):
                probes[k, :, k + 1] += steps[k]
            rendered = self._render_unchecked(probes.reshape(4 * n, 5)).reshape(4, n, -1)
            jac = (rendered - base.reshape(1, n, -1)) / steps[:, None, None]  # [4, N, P]
            resid = (base - target).reshape(n, -1)
            jtj = np.einsum("knp,lnp->nkl", jac, jac)
            jtr = np.einsum("knp,np->nk", jac, resid)
            diag = np.einsum("nkk->nk", jtj) + 1e-9
            lhs = jtj + damping[:, None, None] * (diag[:, :, None] * np.eye(4)[None])
            delta = -np.linalg.solve(lhs, jtr[:, :, None])[:, :, 0]
            trial = f.copy()
            trial[:, 1:5] += delta
            trial = self._clip(trial)
            trial_img = self._render_unchecked(trial)[:, 0]
            trial_err = np.einsum("nij,nij->n", trial_img - target,
                                  trial_img - target) / target[0].size
            ok = trial_err < err
            f[ok], base[ok], err[ok] = trial[ok], trial_img[ok], trial_err[ok]
            damping = np.where(ok, damping / 3.0, damping * 4.0)
        return f, err


def grid_points(index: np.ndarray) -> np.ndarray:
    """The grid points ``float64 [len(index), 5]`` at flat positions ``index`` of the
    row-major grid (shape slowest, y fastest), without building the whole grid."""
    sh, sc, orient, px, py = np.unravel_index(np.asarray(index, dtype=np.int64), GRID_SHAPE)
    return np.stack([sh.astype(np.float64), GRID_SCALES[sc], GRID_ORIENTATIONS[orient],
                     GRID_POSITIONS[px], GRID_POSITIONS[py]], axis=1)


DSPRITES_FILE = OriginalFile(
    plugin="dsprites",
    name="dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",
    source="github.com/deepmind/dsprites-dataset (the file is in the repository)",
    checksum="no sha256 is published; the repository stores it as git blob "
             "d98996d3f8ee1550e06b9d4ed78d0beb478910d5 (`git hash-object FILE` prints that). "
             'Without the file, plugin = "sprites" renders the same space.',
    format="compressed .npz with imgs and latents_values, 737 280 images",
)


class DSpritesDataset(Dataset):
    """The original dSprites images and factors, read from a local ``.npz`` (nothing is
    downloaded).

    The file is the one the dSprites authors distribute
    (``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``): ``imgs`` ``[N, 64, 64]`` (0/1)
    and ``latents_values`` ``[N, 6]`` (color, shape 1..3, scale, orientation, x, y).
    Factors are those of the ``sprites`` dataset (shape 0..2 = square, ellipse, heart),
    so suites written for ``sprites`` run on the original images unchanged. This dataset
    cannot render new points.

    Parameters
    ----------
    path:
        The ``.npz`` file, or its folder; empty: the file in ``$ZSBENCH_DATA_DIR``.
    n_samples:
        None: every image of the file; a number: a seeded subset of that many, in file order.
    """

    name = "dsprites"
    renderable = False

    def __init__(self, *, path: str = "", n_samples: int | None = None) -> None:
        self.path = path
        self.n_samples = n_samples
        if n_samples is not None and (not isinstance(n_samples, (int, np.integer))
                                      or isinstance(n_samples, bool) or n_samples < 1):
            raise PluginParameterError("dataset", self.name, "n_samples",
                                       f"must be a positive integer, got {n_samples!r}.",
                                       "give e.g. n_samples = 20000, or leave it out.")

    @property
    def space(self) -> LatentSpace:
        """The factors of the ``sprites`` dataset."""
        return SpritesDataset().space

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(1, 64, 64)``."""
        return (1, 64, 64)

    def load(self, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``(factors float64 [N, 5], images uint8 [N, 1, 64, 64] with 0 or 255)``."""
        p = find_original(self.path, DSPRITES_FILE)
        try:
            with np.load(p, allow_pickle=False) as data:
                imgs, values = data["imgs"], data["latents_values"]
        except (KeyError, ValueError, OSError) as exc:
            raise DataError(f'dataset "dsprites": {p} is not a dSprites .npz with arrays '
                            f'"imgs" and "latents_values" ({type(exc).__name__}: {exc}).') from None
        if imgs.ndim != 3 or imgs.shape[1:] != (64, 64) or values.shape != (len(imgs), 6):
            raise DataError(f'dataset "dsprites": {p} holds imgs {list(imgs.shape)} and '
                            f"latents_values {list(values.shape)}; expected [N, 64, 64] and "
                            "[N, 6].")
        index = np.arange(len(imgs))
        if self.n_samples is not None and int(self.n_samples) < len(imgs):
            rng = np.random.default_rng(seed)
            index = np.sort(rng.choice(len(imgs), size=int(self.n_samples), replace=False))
        v = np.asarray(values[index], dtype=np.float64)
        factors = np.stack([v[:, 1] - 1.0, v[:, 2], v[:, 3], v[:, 4], v[:, 5]], axis=1)
        images = (np.asarray(imgs[index]) > 0).astype(np.uint8)[:, None] * np.uint8(255)
        return factors, images
