"""Blurred coloured discs on a grey background: the concept-space protocol of Park et al. 2024.

Park, Okawa, Lee, Lubana and Tanaka, "Emergence of hidden capabilities: exploring learning
dynamics in concept space" (NeurIPS 2024; code: github.com/cfpark00/concept-learning).
Their images (``utils.py``, ``generate_images_1``) are 32x32 RGB: a disc of radius ``size``
on the coordinate grid ``np.linspace(-1, 1, 32)`` (the first and last pixel centres at -1
and 1), the hard pixel mask blurred by ``scipy.ndimage.gaussian_filter(sigma=1)``, blended
``mask * colour + (1 - mask) * background``. The 2x2 experiment
(``yaml_makers/make_yamls_image_2x2_final.ipynb``) crosses two colours with two sizes: with
the largest separations of their sweep (``sep_col = 0.8``, ``sep_size = 0.4``) the colours
are red ``(0.9, 0.1, 0.1)`` and blue ``(0.1, 0.1, 0.9)`` and the sizes 0.65 and 0.25; the
background is light grey 0.9; positions are uniform in [-0.5, 0.5]; each of the three
training classes (red large, red small, blue large) gets 2048 images and blue small is
never trained on.

This dataset keeps their units and numbers and renders every point of a continuous space
exactly (see :class:`CirclesDataset` for what differs). The work is vectorised over images
(one distance per pixel), in chunks that bound memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Dataset, Recovery, to_float
from zsbench.space import Factor, LatentSpace

#: The disc colour at ``colour = 0`` and ``colour = 1`` (RGB in [0, 1]): Park et al.'s class
#: means at their largest colour separation; colours in between are linear in RGB.
RED = np.array([0.9, 0.1, 0.1])
BLUE = np.array([0.1, 0.1, 0.9])
#: Bounds of the centre coordinates ``x`` and ``y`` (frame units: the pixel centres span
#: [-1, 1]) and of ``radius`` (same units): a disc of the largest radius at the extreme
#: position still ends inside the frame (0.25 + 0.7 = 0.95 < 1).
POSITION_BOUNDS = (-0.25, 0.25)
RADIUS_BOUNDS = (0.1, 0.7)
#: Images per rendering chunk, and per recovery chunk.
CHUNK = 1024
RECOVER_CHUNK = 512
#: Levenberg-Marquardt iterations of the recovery.
ITERATIONS = 30


def _disc_mask(cx: np.ndarray, cy: np.ndarray, rho: np.ndarray, size: int,
               blur: float) -> tuple[np.ndarray, np.ndarray]:
    """The soft disc ``m = Phi((rho - d) / blur)`` and the distances ``d`` (pixels) of every
    pixel centre from the disc centre, both ``float64 [n, size, size]``, for centres
    ``cx`` (column), ``cy`` (row) and radii ``rho``, all in pixels, ``[n]``."""
    from scipy.special import ndtr  # imported on use: loading the plugins stays light

    grid = np.arange(size, dtype=np.float64)
    dx = grid[None, None, :] - cx[:, None, None]
    dy = grid[None, :, None] - cy[:, None, None]
    d = np.sqrt(dx * dx + dy * dy)
    u = (rho[:, None, None] - d) / blur
    return ndtr(u), d


class CirclesDataset(Dataset):
    """Blurred red-to-blue discs on grey, 2 colours x 2 radii classes (Park et al. 2024).

    Factors (the frame's pixel centres span [-1, 1] along each axis, as in Park et al.'s
    ``np.linspace(-1, 1, image_size)``; one unit is ``(image_size - 1) / 2`` pixels,
    15.5 at 32x32):

    - ``x`` in [-0.25, 0.25]: the disc centre, left to right (column);
    - ``y`` in [-0.25, 0.25]: the disc centre, top to bottom (row);
    - ``radius`` in [0.1, 0.7], same units (0.25 is 3.9 pixels and 0.65 is 10.1 at 32x32);
    - ``colour`` in [0, 1]: the disc's RGB is ``(1 - colour) * red + colour * blue`` with
      red ``(0.9, 0.1, 0.1)`` and blue ``(0.1, 0.1, 0.9)``.

    Image (``[N, 3, S, S]``): ``background + m * (rgb(colour) - background)`` with the soft
    disc ``m = Phi((radius_px - d) / blur)``, ``d`` the distance in pixels from a pixel
    centre to the disc centre and ``Phi`` the standard normal CDF: the edge a Gaussian blur
    of width ``blur`` gives a straight boundary. Every disc lies inside the frame over the
    factor bounds (the largest radius at the extreme position ends at 0.95).

    The dataset's points follow Park et al.'s class design: every combination of a value of
    ``colours`` and one of ``radii`` is a class, and each class gets ``n_per_class`` points
    at uniformly random positions (colour slowest, then radius, in the order given). With
    the defaults: 4 classes x 2048 = 8192 points; a suite holds out blue-small, e.g. with a
    ``box`` holdout over ``colour`` in [0.5, 1] and ``radius`` in [0.1, 0.45].

    Differences from Park et al.'s code: the x axis is the image's column axis (theirs is
    the row axis: ``meshgrid(..., indexing="ij")``; immaterial, positions are uniform); the
    blur is the smooth edge profile above rather than ``gaussian_filter`` of a hard pixel
    mask (so a render is exact and continuous at any point); positions span [-0.25, 0.25]
    rather than [-0.5, 0.5] so the disc stays inside the frame; the class points sit at the
    class means (their training images jitter each colour channel by up to +-0.1, the size
    by +-0.15, the background by +-0.1 per channel, and add N(0, 0.001) pixel noise; their
    test-time images use the means, as here: ``colour_jitter`` and ``radius_jitter`` add their
    jitter to the points, along the colour line). Their smaller colour separations move
    both colours towards grey: ``colour_separation``.

    Parameters
    ----------
    colours:
        The classes' ``colour`` values (distinct, in [0, 1]); default red and blue.
    radii:
        The classes' ``radius`` values (distinct, in [0.1, 0.7], frame units); default 0.25
        (small) and 0.65 (large), Park et al.'s sizes at their largest separation.
    n_per_class:
        Points per class.
    image_size:
        Side ``S`` of the square images, in pixels (at least 8).
    blur:
        Width (standard deviation, pixels) of the soft edge; Park et al. blur with 1 pixel.
    background:
        Grey level of the background, in [0, 1] (Park et al.: 0.9).
    pixels:
        ``"float32"`` (the exact intensities, as Park et al. trained on) or ``"uint8"``
        (rounded to 1/255).
    colour_separation:
        Park et al.'s ``sep_col`` in [0.05, 0.8]: the colours of ``colour`` 0 and 1 are
        ``0.5 +- s / 2`` in the red and blue channels (0.5 - s / 2 in green), so smaller
        separations move both towards grey along their sweep's line (:attr:`endpoints`);
        default 0.8, red ``(0.9, 0.1, 0.1)`` and blue ``(0.1, 0.1, 0.9)``.
    colour_jitter:
        Training jitter of the colour, as the largest change of a channel (Park et al.:
        0.054, independently per channel; here along the colour line); default 0.
    radius_jitter:
        Training jitter of the radius, frame units (Park et al.: 0.15); default 0.
    """

    name = "circles"

    def __init__(
        self,
        *,
        colours: Sequence[float] = (0.0, 1.0),
        radii: Sequence[float] = (0.25, 0.65),
        n_per_class: int = 2048,
        image_size: int = 32,
        blur: float = 1.0,
        background: float = 0.9,
        pixels: Literal["float32", "uint8"] = "float32",
        colour_separation: float = 0.8,
        colour_jitter: float = 0.0,
        radius_jitter: float = 0.0,
    ) -> None:
        self.colour_separation = colour_separation
        self.colour_jitter = colour_jitter
        self.radius_jitter = radius_jitter
        self.colours = colours
        self.radii = radii
        self.n_per_class = n_per_class
        self.image_size = image_size
        self.blur = blur
        self.background = background
        self.pixels = pixels
        self._check_values("colours", colours, (0.0, 1.0), "colours = [0.0, 1.0]")
        self._check_values("radii", radii, RADIUS_BOUNDS, "radii = [0.25, 0.65]")
        if (not isinstance(n_per_class, (int, np.integer)) or isinstance(n_per_class, bool)
                or n_per_class < 1):
            raise PluginParameterError("dataset", self.name, "n_per_class",
                                       f"must be a positive integer, got {n_per_class!r}.",
                                       "give e.g. n_per_class = 2048.")
        if (not isinstance(image_size, (int, np.integer)) or isinstance(image_size, bool)
                or image_size < 8):
            raise PluginParameterError("dataset", self.name, "image_size",
                                       f"must be an integer of at least 8 pixels, got "
                                       f"{image_size!r}.", "give e.g. image_size = 32.")
        if (not _is_number(blur) or not 0.0 < float(blur) <= 0.25 * float(image_size)):
            raise PluginParameterError("dataset", self.name, "blur",
                                       f"must be a number of pixels in (0, image_size / 4], "
                                       f"got {blur!r}.", "give e.g. blur = 1.0.")
        if not _is_number(background) or not 0.0 <= float(background) <= 1.0:
            raise PluginParameterError("dataset", self.name, "background",
                                       f"must be a grey level in [0, 1], got {background!r}.",
                                       "give e.g. background = 0.9.")
        if pixels not in ("float32", "uint8"):
            raise PluginParameterError("dataset", self.name, "pixels", f"got {pixels!r}.",
                                       'give "float32" or "uint8".')
        for key, value, top in (("colour_separation", colour_separation, 0.8),
                                ("colour_jitter", colour_jitter, 0.2),
                                ("radius_jitter", radius_jitter, 0.2)):
            low = 0.05 if key == "colour_separation" else 0.0
            if not _is_number(value) or not low <= float(value) <= top:
                raise PluginParameterError("dataset", self.name, key,
                                           f"must be a number in [{low:g}, {top:g}], got "
                                           f"{value!r}.", f"give e.g. {key} = {top:g}.")

    def _check_values(self, key: str, values: Sequence[float], bounds: tuple[float, float],
                      example: str) -> None:
        ok = (isinstance(values, (list, tuple, np.ndarray)) and len(values) >= 1
              and all(_is_number(v) for v in values))
        if not ok:
            raise PluginParameterError("dataset", self.name, key,
                                       f"must be a non-empty list of numbers, got {values!r}.",
                                       f"give e.g. {example}.")
        vals = [float(v) for v in values]
        if any(not bounds[0] <= v <= bounds[1] for v in vals):
            raise PluginParameterError("dataset", self.name, key,
                                       f"values must lie in [{bounds[0]:g}, {bounds[1]:g}], "
                                       f"got {list(values)!r}.", f"give e.g. {example}.")
        if len(set(vals)) != len(vals):
            raise PluginParameterError("dataset", self.name, key,
                                       f"values repeat: {list(values)!r}.",
                                       "give each value once.")

    # -- contract --------------------------------------------------------------------------
    @property
    def space(self) -> LatentSpace:
        """``x``, ``y`` in [-0.25, 0.25] and ``radius`` in [0.1, 0.7] (frame units: the pixel
        centres span [-1, 1]); ``colour`` in [0, 1] (0 red, 1 blue)."""
        return LatentSpace((
            Factor("x", *POSITION_BOUNDS,
                   description="disc centre, left to right (pixel centres span [-1, 1])"),
            Factor("y", *POSITION_BOUNDS,
                   description="disc centre, top to bottom (pixel centres span [-1, 1])"),
            Factor("radius", *RADIUS_BOUNDS, description="disc radius, frame units"),
            Factor("colour", 0.0, 1.0, description="0 = red (0.9, 0.1, 0.1), 1 = blue "
                                                   "(0.1, 0.1, 0.9), linear in RGB"),
        ))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(3, image_size, image_size)``."""
        return (3, int(self.image_size), int(self.image_size))

    @property
    def classes(self) -> np.ndarray:
        """The classes ``float64 [K, 2]`` as ``(colour, radius)`` rows, colour slowest."""
        c, r = np.meshgrid(np.asarray(self.colours, dtype=np.float64),
                           np.asarray(self.radii, dtype=np.float64), indexing="ij")
        return np.stack([c.ravel(), r.ravel()], axis=1)

    def factors(self, *, seed: int) -> np.ndarray:
        """``float64 [K * n_per_class, 4]`` (``x``, ``y``, ``radius``, ``colour``): the
        classes in :attr:`classes` order, ``n_per_class`` consecutive rows each, with
        positions uniform over the bounds from ``np.random.default_rng(seed)``; with
        ``radius_jitter`` / ``colour_jitter`` each point's radius / colour drawn uniformly
        within that distance of its class's (clipped to the space; Park et al.'s training
        jitter, along the colour line)."""
        rng = np.random.default_rng(seed)
        classes = self.classes
        n = int(self.n_per_class) * len(classes)
        out = np.empty((n, 4))
        out[:, :2] = rng.uniform(POSITION_BOUNDS[0], POSITION_BOUNDS[1], size=(n, 2))
        out[:, 2] = np.repeat(classes[:, 1], int(self.n_per_class))
        out[:, 3] = np.repeat(classes[:, 0], int(self.n_per_class))
        if float(self.radius_jitter) > 0 or float(self.colour_jitter) > 0:
            jitter = rng.uniform(-1.0, 1.0, size=(n, 2))
            out[:, 2] = np.clip(out[:, 2] + float(self.radius_jitter) * jitter[:, 0],
                                *RADIUS_BOUNDS)
            # a channel moves by colour_jitter: colour_jitter / separation colour units
            step = float(self.colour_jitter) / float(self.colour_separation)
            out[:, 3] = np.clip(out[:, 3] + step * jitter[:, 1], 0.0, 1.0)
        return out

    def render(self, factors: np.ndarray) -> np.ndarray:
        """Exact images ``[N, 3, S, S]`` for any points ``[N, 4]`` of the space (a
        :class:`DataError` for a wrong shape or a point outside it): float32 in [0, 1], or
        uint8 (rounded to nearest) with ``pixels = "uint8"``."""
        f = self.space.check(factors)
        dtype = np.float32 if self.pixels == "float32" else np.uint8
        out = np.empty((len(f),) + self.image_shape, dtype=dtype)
        for start in range(0, len(f), CHUNK):
            img = self._render_float(f[start:start + CHUNK])
            if self.pixels == "float32":
                out[start:start + CHUNK] = np.clip(img, 0.0, 1.0)
            else:
                out[start:start + CHUNK] = np.rint(np.clip(img, 0.0, 1.0) * 255.0)
        return out

    def render_float(self, factors: np.ndarray) -> np.ndarray:
        """Intensities ``float64 [N, 3, S, S]`` in [0, 1]: what :meth:`render` stores."""
        f = self.space.check(factors)
        out = np.empty((len(f),) + self.image_shape)
        for start in range(0, len(f), CHUNK):
            out[start:start + CHUNK] = self._render_float(f[start:start + CHUNK])
        return out

    def rgb(self, colour: np.ndarray) -> np.ndarray:
        """Disc colours ``float64 [N, 3]`` for ``colour`` values ``[N]``."""
        c = np.asarray(colour, dtype=np.float64)[:, None]
        red, blue = self.endpoints
        return red[None, :] + c * (blue - red)[None, :]

    @property
    def endpoints(self) -> tuple[np.ndarray, np.ndarray]:
        """The RGB of ``colour = 0`` and ``colour = 1``: Park et al.'s class means at colour
        separation ``s`` (their ``sep_col``), ``0.5 + s / 2 * (1, -1, -1)`` and ``0.5 + s / 2
        * (-1, -1, 1)``: red and blue at 0.8 (the default), both towards grey below it."""
        half = 0.5 * float(self.colour_separation)
        return 0.5 + half * np.array([1.0, -1.0, -1.0]), 0.5 + half * np.array([-1.0, -1.0, 1.0])

    # -- geometry: factor units <-> pixels -------------------------------------------------
    @property
    def _scale(self) -> float:
        """Pixels per frame unit: ``(S - 1) / 2``."""
        return 0.5 * (int(self.image_size) - 1)

    def _to_pixels(self, f: np.ndarray) -> np.ndarray:
        """``(x, y, radius, colour)`` -> ``(column, row, radius in pixels, colour)``."""
        s = self._scale
        return np.stack([(f[:, 0] + 1.0) * s, (f[:, 1] + 1.0) * s, f[:, 2] * s, f[:, 3]],
                        axis=1)

    def _from_pixels(self, p: np.ndarray) -> np.ndarray:
        s = self._scale
        return np.stack([p[:, 0] / s - 1.0, p[:, 1] / s - 1.0, p[:, 2] / s, p[:, 3]], axis=1)

    def _render_float(self, f: np.ndarray) -> np.ndarray:
        return self._render_pixels(self._to_pixels(f))

    def _render_pixels(self, p: np.ndarray) -> np.ndarray:
        """Intensities ``float64 [n, 3, S, S]`` of points in pixel units ``[n, 4]``."""
        m, _ = _disc_mask(p[:, 0], p[:, 1], p[:, 2], int(self.image_size), float(self.blur))
        bg = float(self.background)
        delta = self.rgb(p[:, 3]) - bg  # [n, 3]
        return bg + m[:, None] * delta[:, :, None, None]

    @property
    def resolution(self) -> np.ndarray:
        """One pixel for ``x``, ``y`` and ``radius`` (``1 / _scale`` frame units) and, for
        ``colour``, the step that moves a channel of the disc by 1/255: ``float64 [4]``."""
        px = 1.0 / self._scale
        red, blue = self.endpoints
        return np.array([px, px, px, 1.0 / (255.0 * float(np.abs(blue - red).max()))])

    def validity_threshold(self, train_images: np.ndarray) -> float:
        """Half the RMS contrast, against the grey background, of the faintest disc the
        space draws (the smallest radius, red, in the middle): a draw whose recovery
        residual reaches it (a blank grey frame, two discs) is no image of the family. The
        mean-image rule of the contract would let a blank frame pass here."""
        low = self.space.factors[2].bounds[0]
        disc = self.render_float(np.array([[0.0, 0.0, low, 0.0]]))
        return 0.5 * float(np.sqrt(np.mean((disc - float(self.background)) ** 2)))

    def valid(self, recovery: Recovery, threshold: float) -> np.ndarray:
        """``bool [N]``: the recovery residual below half the RMS contrast (against the grey
        background) of the disc the recovery found, or below ``threshold``. A correct disc
        drawn with pixel noise passes (noise of RMS 0.05 around a small class disc, contrast
        0.12); a blank frame (read back as the faintest disc, residual 0.040 against a bar
        of 0.023) and two discs of one size do not. Two discs of very different sizes can
        pass as the larger one."""
        factors = np.asarray(recovery.factors, dtype=np.float64)
        residual = np.asarray(recovery.residual, dtype=np.float64).reshape(-1)
        if len(factors) == 0:
            return np.zeros(0, dtype=bool)
        low, high = np.array([f.bounds for f in self.space.factors], dtype=np.float64).T
        drawn = self.render_float(np.clip(factors, low, high)) - float(self.background)
        contrast = np.sqrt(np.mean(drawn.reshape(len(factors), -1) ** 2, axis=1))
        return (residual < 0.5 * contrast) | (residual < threshold)

    # -- inverse rendering -----------------------------------------------------------------
    def recover(self, images: np.ndarray) -> Recovery:
        """Factors ``[N, 4]`` of ``images [N, 3, S, S]`` (uint8, or float in [0, 1]) by
        inverse rendering.

        First guess, from the difference ``D`` to the grey background: the disc colour by
        least squares on the channel sums (``D`` is ``m * (rgb(colour) - background)``), the
        soft mask ``m`` by projecting each pixel's ``D`` on that colour, the centre from its
        centroid and the radius from its area (``pi (r^2 + blur^2)``). Then
        Levenberg-Marquardt on (centre, radius, colour) with the renderer's analytic
        Jacobian, every image at once. Exact renders come back within about 1e-8 (float32)
        or 2e-3 (uint8) of each factor's range; ``residual`` is the root-mean-square pixel difference
        between each image and the render of its recovered factors (float intensities)."""
        x = to_float(images)
        shape = self.image_shape
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            raise DataError(f'dataset "{self.name}": recover takes images [N, '
                            f"{', '.join(map(str, shape))}]; got shape {list(x.shape)}.")
        n = len(x)
        factors = np.empty((n, 4))
        residual = np.empty(n)
        for start in range(0, n, RECOVER_CHUNK):
            sl = slice(start, min(start + RECOVER_CHUNK, n))
            factors[sl], residual[sl] = self._recover_chunk(x[sl].astype(np.float64))
        return Recovery(factors=factors, residual=residual)

    def _bounds_pixels(self) -> tuple[np.ndarray, np.ndarray]:
        space = self.space
        lo = self._to_pixels(np.array([[f.low for f in space.factors]]))[0]
        hi = self._to_pixels(np.array([[f.high for f in space.factors]]))[0]
        return lo, hi

    def _first_guess(self, x: np.ndarray) -> np.ndarray:
        """Moments of the difference to the background: ``[n, 4]`` in pixel units."""
        size = x.shape[-1]
        bg = float(self.background)
        d = x - bg
        red, blue = self.endpoints
        a, b = red - bg, blue - red
        basis = np.stack([a, b], axis=1)  # [3, 2]: channel sums = M a + (M colour) b
        sums = d.sum(axis=(2, 3))  # [n, 3]
        mk = sums @ np.linalg.pinv(basis).T  # [n, 2]: (M, M colour)
        with np.errstate(divide="ignore", invalid="ignore"):
            colour = np.where(np.abs(mk[:, 0]) > 1e-9, mk[:, 1] / mk[:, 0], 0.5)
        colour = np.clip(np.nan_to_num(colour, nan=0.5), 0.0, 1.0)
        delta = self.rgb(colour) - bg  # [n, 3]
        m = np.einsum("nc,nchw->nhw", delta, d) / np.einsum("nc,nc->n", delta, delta)[:, None,
                                                                                     None]
        m = np.clip(m, 0.0, 1.0)
        area = m.sum(axis=(1, 2))
        grid = np.arange(size, dtype=np.float64)
        safe = np.maximum(area, 1e-12)
        col = np.where(area > 1e-9, m.sum(axis=1) @ grid / safe, 0.5 * (size - 1))
        row = np.where(area > 1e-9, m.sum(axis=2) @ grid / safe, 0.5 * (size - 1))
        blur = float(self.blur)
        rho = np.sqrt(np.maximum(area / np.pi - blur * blur, 0.0))
        lo, hi = self._bounds_pixels()
        p = np.stack([col, row, rho, colour], axis=1)
        return np.clip(p, lo, hi)

    def _sse(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        diff = self._render_pixels(p) - x
        return np.einsum("nchw,nchw->n", diff, diff)

    def _recover_chunk(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(x)
        if n == 0:
            return np.empty((0, 4)), np.empty(0)
        p = self._first_guess(x)
        sse = self._sse(x, p)
        damping = np.full(n, 1e-3)
        active = np.arange(n)
        for _ in range(ITERATIONS):
            trial = self._lm_step(x[active], p[active], damping[active])
            trial_sse = self._sse(x[active], trial)
            ok = trial_sse < sse[active]
            gain = np.where(ok, sse[active] - trial_sse, 0.0)
            rows = active[ok]
            p[rows], sse[rows] = trial[ok], trial_sse[ok]
            damping[active] = np.clip(np.where(ok, damping[active] / 4.0,
                                               damping[active] * 8.0), 1e-9, 1e9)
            # converged: an accepted step that gained almost nothing, or no step accepted
            # even with strong damping
            done = ((ok & (gain <= 1e-10 * sse[active] + 1e-20))
                    | (~ok & (damping[active] >= 1e6)))
            active = active[~done]
            if len(active) == 0:
                break
        residual = np.sqrt(np.maximum(sse, 0.0) / x[0].size)
        return np.clip(self._from_pixels(p), *self._factor_bounds()), residual

    def _lm_step(self, x: np.ndarray, p: np.ndarray, damping: np.ndarray) -> np.ndarray:
        """One Levenberg-Marquardt step from ``p [n, 4]`` (pixel units), kept in bounds,
        with the analytic Jacobian of the renderer (the mask ``m`` times the colour
        difference ``rgb(colour) - background``)."""
        n, _, size, _ = x.shape
        bg = float(self.background)
        blur = float(self.blur)
        red, blue = self.endpoints
        b = blue - red
        grid = np.arange(size, dtype=np.float64)
        m, d = _disc_mask(p[:, 0], p[:, 1], p[:, 2], size, blur)
        delta = self.rgb(p[:, 3]) - bg  # [n, 3]
        e = bg + m[:, None] * delta[:, :, None, None] - x  # [n, 3, S, S]
        # dm/d(rho) = phi(u) / blur; dm/d(cx) = phi(u) / blur * (col - cx) / d
        u = (p[:, 2, None, None] - d) / blur
        g = np.exp(-0.5 * u * u) / (np.sqrt(2.0 * np.pi) * blur)
        dsafe = np.maximum(d, 1e-9)
        q = np.stack([g * (grid[None, None, :] - p[:, 0, None, None]) / dsafe,
                      g * (grid[None, :, None] - p[:, 1, None, None]) / dsafe,
                      g], axis=1)  # [n, 3, S, S]: derivatives of m by (cx, cy, rho)
        e_delta = np.einsum("nc,nchw->nhw", delta, e)
        e_b = np.einsum("c,nchw->nhw", b, e)
        jtj = np.empty((n, 4, 4))
        jtj[:, :3, :3] = (np.einsum("nkhw,nlhw->nkl", q, q)
                          * np.einsum("nc,nc->n", delta, delta)[:, None, None])
        cross = np.einsum("nkhw,nhw->nk", q, m) * (delta @ b)[:, None]
        jtj[:, :3, 3] = cross
        jtj[:, 3, :3] = cross
        jtj[:, 3, 3] = np.einsum("nhw,nhw->n", m, m) * float(b @ b)
        jte = np.empty((n, 4))
        jte[:, :3] = np.einsum("nkhw,nhw->nk", q, e_delta)
        jte[:, 3] = np.einsum("nhw,nhw->n", m, e_b)
        diag = np.einsum("nkk->nk", jtj) + 1e-12
        lhs = jtj + damping[:, None, None] * (diag[:, :, None] * np.eye(4)[None])
        # a factor at a bound whose descent direction leaves the space stays there: the
        # step is solved for the others (else the clipped step would stall every iteration)
        lo, hi = self._bounds_pixels()
        fixed = ((p <= lo[None]) & (jte > 0)) | ((p >= hi[None]) & (jte < 0))
        free = (~fixed).astype(np.float64)
        lhs = lhs * free[:, :, None] * free[:, None, :] + np.eye(4)[None] * fixed[:, :, None]
        step = -np.linalg.solve(lhs, (jte * free)[:, :, None])[:, :, 0]
        return np.clip(p + step, lo, hi)

    def _factor_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        space = self.space
        return (np.array([f.low for f in space.factors]),
                np.array([f.high for f in space.factors]))


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, bool) and bool(np.isfinite(float(value))))
