"""E1/E2: images of the polar curve ``R(t) = b cos(5 t) + a`` (a five-petalled wave).

The renderer is pure vectorized numpy. Each curve is sampled densely in ``t`` (at most
half a pixel between neighbouring samples), every sample is weighted by the arc length it
stands for, and splatted with a separable box-coverage kernel into a float canvas with one
``np.bincount`` per chunk of images. For ``line_width = 1`` the kernel is the bilinear
(tent) kernel, so the result is a 1-pixel anti-aliased line whose cross-section always sums
to one pixel of full intensity; overlaps (crossings at the origin) saturate at white.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal

import numpy as np

from zsbench.errors import PluginParameterError
from zsbench.plugin import Dataset, Recovery, Weighting
from zsbench.recovery import GridRecovery
from zsbench.space import Factor, LatentSpace

#: Half the side of the fixed frame, in curve units: every image shows [-4.2, 4.2]^2, which
#: holds the largest curve (|R| <= a + b <= 4) with a margin.
FRAME = 4.2
#: Number of petals: the ``5`` in ``cos(5 t)``.
PETALS = 5
#: Largest distance, in pixels, between neighbouring samples of a curve.
SPACING = 0.5
#: Upper bound on the curve samples splatted per chunk: bounds memory (about 40 MB) and
#: keeps the work in cache.
CHUNK_SAMPLES = 200_000
#: Step of the recovery grid in both ``a`` and ``b`` (each step moves a curve by at most
#: ``image_size / 8.4 * 0.025`` pixels, about 0.2 px at 64 px).
RECOVER_STEP = 0.025


def _coverage(d: np.ndarray, width: float) -> np.ndarray:
    """Length of the overlap of ``[d - width/2, d + width/2]`` with the pixel
    ``[-1/2, 1/2]``: the 1-D box-filtered coverage of a band of ``width`` pixels whose
    centre lies ``d`` pixels from the pixel centre. Sums to ``width`` over integer shifts."""
    half = 0.5 * width
    return np.clip(np.minimum(d + half, 0.5) - np.maximum(d - half, -0.5), 0.0, None)


class PolarDataset(Dataset):
    """Polar curves R(t) = b cos(5t) + a drawn as anti-aliased lines in one fixed frame (E1).

    Factors: ``a`` in [0.5, 2] (the radius) and ``b`` in [0, 2] (the wave amplitude). The
    curve ``x = R(t) cos t``, ``y = R(t) sin t``, ``t`` in [-pi, pi], is drawn white on black
    (1 channel) in the same frame ``[-4.2, 4.2]^2`` for every image, so the size of a curve
    shows; where ``R < 0`` the curve passes through the origin, as the math says.

    Parameters
    ----------
    n_samples:
        Number of points the dataset draws (``sampling = "grid"``: about this many).
    image_size:
        Side ``H = W`` of the square images, in pixels.
    sampling:
        ``"uniform"``: ``n_samples`` points uniform over the box. ``"grid"``: a regular grid
        with square cells (equal steps in ``a`` and ``b``) of about ``n_samples`` points.
    line_width:
        Width of the line in pixels (box-filtered, so it may be fractional).

    Images are ``uint8 [N, 1, image_size, image_size]``; row 0 is the top (largest ``y``).
    Weighting ``"small_b"``: ``w = exp(-b) / mean(exp(-b))`` over the given points, which
    favours shallow waves and has mean 1.
    """

    name = "polar"

    def __init__(
        self,
        *,
        n_samples: int = 5000,
        image_size: int = 64,
        sampling: Literal["uniform", "grid"] = "uniform",
        line_width: float = 1.0,
    ) -> None:
        self.n_samples = n_samples
        self.image_size = image_size
        self.sampling = sampling
        self.line_width = line_width
        self._validate()

    def _validate(self) -> None:
        if int(self.n_samples) < 1:
            raise PluginParameterError("dataset", self.name, "n_samples",
                                       f"must be at least 1, got {self.n_samples}.",
                                       "give a positive number of points.")
        if int(self.image_size) < 8:
            raise PluginParameterError("dataset", self.name, "image_size",
                                       f"must be at least 8 pixels, got {self.image_size}.",
                                       "give e.g. image_size = 64.")
        if not (float(self.line_width) > 0.0 and math.isfinite(float(self.line_width))):
            raise PluginParameterError("dataset", self.name, "line_width",
                                       f"must be a positive number of pixels, got "
                                       f"{self.line_width}.", "give e.g. line_width = 1.0.")
        if self.sampling not in ("uniform", "grid"):
            raise PluginParameterError("dataset", self.name, "sampling",
                                       f"got {self.sampling!r}.", 'give "uniform" or "grid".')

    # -- contract --------------------------------------------------------------------------
    @property
    def space(self) -> LatentSpace:
        """``a`` in [0.5, 2] and ``b`` in [0, 2]."""
        return LatentSpace((
            Factor("a", 0.5, 2.0, description="radius: the mean of R(t)"),
            Factor("b", 0.0, 2.0, description="wave amplitude: R(t) = b cos(5t) + a"),
        ))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(1, image_size, image_size)``."""
        return (1, int(self.image_size), int(self.image_size))

    def factors(self, *, seed: int) -> np.ndarray:
        """The dataset's points ``float64 [N, 2]`` (columns ``a``, ``b``) from ``seed``.

        ``"uniform"``: ``N = n_samples`` points drawn by ``np.random.default_rng(seed)``.
        ``"grid"``: the same grid for every seed, ``ka x kb`` points with ``ka * kb`` close
        to ``n_samples`` and equal steps along ``a`` and ``b`` (row-major: ``a`` slowest).
        """
        space = self.space
        n = int(self.n_samples)
        if self.sampling == "grid":
            fa, fb = space.factors
            ratio = fa.span / fb.span
            ka = max(1, int(round(math.sqrt(n * ratio))))
            kb = max(1, int(round(n / ka)))
            return space.grid([ka, kb])
        rng = np.random.default_rng(seed)
        return space.sample_uniform(n, rng=rng)

    def render(self, factors: np.ndarray) -> np.ndarray:
        """Exact images ``uint8 [N, 1, S, S]`` for ``factors [N, 2]`` (``a``, ``b``).

        Raises :class:`zsbench.errors.DataError` for a wrong shape or a point outside the
        space. Each image depends on its own point only (not on the rest of the batch)."""
        f = self.space.check(factors)
        size = int(self.image_size)
        out = np.empty((len(f), 1, size, size), dtype=np.uint8)
        for sl, canvas in self._chunks(f):
            out[sl, 0] = to_uint8(canvas)
        return out

    def recover(self, images: np.ndarray) -> Recovery:
        """Factors ``(a, b)`` of ``images [N, 1, S, S]`` in [0, 1] by inverse rendering.

        A grid of exact renders with step ``RECOVER_STEP`` in ``a`` and ``b`` (61 x 81
        points, ``uint8``: 20 MB at 64 px) is built on first use and kept on the instance;
        it is searched by nearest neighbour on 4 x 4 block means, then a hill climb and a
        quadratic refinement at full resolution (see :class:`zsbench.recovery.GridRecovery`).
        Exact renders come back within about 0.005 in ``a`` and ``b``."""
        return self._recovery().recover(images)

    def _recovery(self) -> GridRecovery:
        if getattr(self, "_grid_", None) is None:
            axes = [np.linspace(f.low, f.high, int(round(f.span / RECOVER_STEP)) + 1)
                    for f in self.space.factors]
            pool = max(1, int(self.image_size) // 16)
            self._grid_ = GridRecovery(self.space, self.render, axes, pool=pool, stride=2)
        return self._grid_

    #: White curves on black.
    background = 0.0

    @property
    def resolution(self) -> np.ndarray:
        """The grid step of ``a`` and ``b`` with ``sampling = "grid"``; otherwise one pixel
        of the frame (``2 * FRAME / image_size`` curve units) for both: ``float64 [2]``."""
        if self.sampling == "grid":
            g = self.factors(seed=0)
            return np.array([float(np.min(np.diff(np.unique(g[:, i])), initial=np.inf))
                             for i in range(2)])
        return np.full(2, 2.0 * FRAME / int(self.image_size))

    def weightings(self) -> dict[str, Weighting]:
        """``"small_b"``: ``exp(-b)`` normalised to mean 1 over the points given."""
        return {"small_b": small_b_weights}

    # -- rendering -------------------------------------------------------------------------
    def render_float(self, factors: np.ndarray) -> np.ndarray:
        """Intensities ``float64 [N, 1, S, S]`` in [0, 1]: what :meth:`render` quantizes."""
        f = self.space.check(factors)
        size = int(self.image_size)
        out = np.empty((len(f), 1, size, size), dtype=np.float64)
        for sl, canvas in self._chunks(f):
            out[sl, 0] = canvas
        return out

    def _chunks(self, f: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
        """Render checked ``f [N, 2]`` in chunks of at most ``CHUNK_SAMPLES`` curve samples
        (at least one image each): yields ``(rows, float64 [n, S, S] in [0, 1])``."""
        size = int(self.image_size)
        width = float(self.line_width)
        counts = self._samples_per_curve(f)
        cum = np.cumsum(counts)
        start = 0
        while start < len(f):
            done = int(cum[start - 1]) if start else 0
            stop = int(np.searchsorted(cum, done + CHUNK_SAMPLES, side="right"))
            stop = max(stop, start + 1)
            yield slice(start, stop), self._splat(f[start:stop], counts[start:stop], size, width)
            start = stop

    def _scale(self) -> float:
        """Pixels per curve unit."""
        return int(self.image_size) / (2.0 * FRAME)

    def _samples_per_curve(self, f: np.ndarray) -> np.ndarray:
        """``int64 [N]``: samples in ``t`` so that neighbours lie at most ``SPACING`` pixels
        apart along the curve.

        The speed is ``|d(x, y)/dt|^2 = R^2 + R'^2 = -24 b^2 c^2 + 2 a b c + a^2 + 25 b^2``
        with ``c = cos(5t)``: a quadratic in ``c`` whose maximum over ``[-1, 1]`` is exact."""
        a, b = f[:, 0], f[:, 1]
        bb = b * b
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(bb > 0, np.clip(a * b / np.where(bb > 0, 24.0 * bb, 1.0), -1.0, 1.0), 1.0)
        speed2 = -24.0 * bb * c * c + 2.0 * a * b * c + a * a + 25.0 * bb
        # the ends c = +-1 as well, for safety against rounding
        speed2 = np.maximum.reduce([speed2, (a + b) ** 2, (a - b) ** 2])
        n = np.ceil(2.0 * np.pi * np.sqrt(speed2) * self._scale() / SPACING).astype(np.int64)
        return np.maximum(n, 16)

    def _splat(self, f: np.ndarray, counts: np.ndarray, size: int, width: float) -> np.ndarray:
        """Render the curves of ``f [n, 2]`` with ``counts [n]`` samples each:
        ``float64 [n, size, size]`` in [0, 1]."""
        n = len(f)
        total = int(counts.sum())
        curve = np.repeat(np.arange(n), counts)
        first = np.cumsum(counts) - counts
        k = np.arange(total) - np.repeat(first, counts)
        dt = np.repeat((2.0 * np.pi) / counts, counts)
        t = (k + 0.5) * dt - np.pi  # midpoint rule: exact for the periodic curve
        a = np.repeat(f[:, 0], counts)
        b = np.repeat(f[:, 1], counts)
        r = b * np.cos(PETALS * t) + a
        dr = (-PETALS * b) * np.sin(PETALS * t)
        scale = self._scale()
        # arc length (pixels) each sample stands for, divided by the width so that the
        # across-line coverage (which sums to `width`) comes out as plain coverage
        ds = np.sqrt(r * r + dr * dr) * dt * (scale / width)

        taps = int(math.ceil(width)) + 1
        pad = taps + 1
        side = size + 2 * pad
        # pixel coordinates in the padded canvas (pixel centres at integers, y up)
        rs = r * scale
        u = rs * np.cos(t) + (FRAME * scale - 0.5 + pad)
        v = (FRAME * scale - 0.5 + pad) - rs * np.sin(t)
        if width == 1.0:  # box coverage of a 1-px band is the bilinear (tent) kernel
            iu = np.floor(u)
            iv = np.floor(v)
            fu = u - iu
            fv = v - iv
            hx = np.stack([1.0 - fu, fu], axis=1)
            hy = np.stack([(1.0 - fv) * ds, fv * ds], axis=1)
        else:
            reach = 0.5 * (width + 1.0)
            iu = np.floor(u - reach) + 1.0
            iv = np.floor(v - reach) + 1.0
            offs = np.arange(taps, dtype=np.float64)
            hx = _coverage(u[:, None] - (iu[:, None] + offs), width)
            hy = _coverage(v[:, None] - (iv[:, None] + offs), width) * ds[:, None]
        base = curve * (side * side) + iv.astype(np.int64) * side + iu.astype(np.int64)
        offs2 = (np.arange(taps)[:, None] * side + np.arange(taps)[None, :]).ravel()
        idx = base[:, None] + offs2[None, :]
        wts = (hy[:, :, None] * hx[:, None, :]).reshape(total, taps * taps)
        canvas = np.bincount(idx.ravel(), weights=wts.ravel(), minlength=n * side * side)
        canvas = canvas.reshape(n, side, side)[:, pad:pad + size, pad:pad + size]
        return np.minimum(canvas, 1.0)  # weights are >= 0: only crossings overflow


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Intensities in [0, 1] (any shape) to ``uint8`` 0..255, rounded to nearest."""
    scaled = np.clip(images, 0.0, 1.0) * 255.0
    scaled += 0.5
    return scaled.astype(np.uint8)


def small_b_weights(factors: np.ndarray) -> np.ndarray:
    """``float64 [N]``: ``exp(-b) / mean(exp(-b))`` for ``factors [N, 2]`` (``a``, ``b``);
    positive, mean 1, decreasing in ``b``."""
    f = np.asarray(factors, dtype=np.float64)
    w = np.exp(-f[:, 1])
    return w / w.mean()
