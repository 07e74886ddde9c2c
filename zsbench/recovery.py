"""Inverse rendering: recover the factors of images by searching a grid of exact renders.

:class:`GridRecovery` is the engine behind the standard datasets' ``recover``: a dense grid
of exact renders (built once, lazily, kept as ``uint8``, or as a sparse float32 matrix for
thin-line images), searched in three stages:

1. **nearest neighbour** on block-averaged (``pool`` x ``pool``) renders of every
   ``stride``-th grid value, by matrix-product distances in float32;
2. **hill climbing** on the full-resolution grid: the ``3^F`` stencil around the match
   (``F`` continuous factors) is compared with the image and the centre moves to the best
   stencil point until the centre wins (discrete factors stay at their best match: each
   discrete value is searched separately and the best fit wins);
3. **refinement** between grid points: a quadratic fitted (least squares) to the stencil's
   sum of squared differences; its minimum, kept within one grid step of the centre, gives
   the factors (grid axes may be non-uniform, e.g. geometric: the fit is done in grid-index
   units and mapped back by linear interpolation of the axis).

The residual is the root-mean-square pixel difference at the recovered factors as the
quadratic model predicts it (the stencil's exact renders interpolated), never more than the
best grid point's own difference. :func:`recovered` memoises a recovery per evaluation
context so every metric and output shares it, after :func:`verify_recover` has checked once
per context that the dataset's ``recover`` reads its own exact images back (a recovery
that cannot would make every factor score void while it still looks like a number).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from zsbench.errors import DataError, MissingCapability
from zsbench.judging import Judging
from zsbench.plugin import Recovery, capable, to_float
from zsbench.space import LatentSpace
from zsbench.splits import even_rows

if TYPE_CHECKING:
    from zsbench.plugin import Dataset, EvalContext

#: Images per chunk in the searches: bounds the float32 work arrays to tens of MB.
CHUNK = 512
#: Most moves of the hill climb (each one grid step per factor).
MAX_MOVES = 6
#: Exact images of the evaluation that :func:`verify_recover` reads back, the largest
#: median relative difference (:func:`render_mismatch`) it accepts between them and the
#: renders of their recovered factors, and the largest mean error of those factors (the
#: worst factor of each image, in units of its range: :func:`factor_errors`).
VERIFY_IMAGES = 64
VERIFY_TOLERANCE = 0.1
VERIFY_FACTOR_TOLERANCE = 0.05
#: Grids whose renders have at most this share of non-zero pixels (thin lines) are kept
#: as a sparse matrix: less memory, and stencil comparisons touch only the lit pixels.
SPARSE_BELOW = 0.3
#: Side, in pixels, of the windows over which judging measures the local residual of a draw
#: (:func:`contrast_checks`).
LOCAL_WINDOW = 3
#: A render whose peak contrast against the background is under this (half a uint8 step)
#: shows nothing: :func:`contrast_checks` does not apply to it.
BLANK_RENDER = 0.5 / 255.0


def as_uint8(images: np.ndarray) -> np.ndarray:
    """Renders ``[N, C, H, W]`` as ``uint8``: uint8 as they are, floats in [0, 1] times 255
    rounded to nearest (a float image stored as uint8 would otherwise truncate to 0 or 1)."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        return x
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def pool_images(images: np.ndarray, pool: int) -> np.ndarray:
    """Block means over ``pool x pool`` pixels: ``[N, C, H, W]`` -> float32
    ``[N, C * (H // pool) * (W // pool)]`` (trailing rows/columns that do not fill a block
    are dropped)."""
    x = np.asarray(images)
    n, c, h, w = x.shape
    if pool <= 1:
        return x.reshape(n, -1).astype(np.float32)
    hp, wp = h // pool, w // pool
    x = x[:, :, :hp * pool, :wp * pool].astype(np.float32)
    x = x.reshape(n, c, hp, pool, wp, pool).mean(axis=(3, 5))
    return x.reshape(n, -1)


class GridRecovery:
    """Factors of images by nearest exact render on a grid, then a local refinement.

    Parameters
    ----------
    space:
        The latent space (its factor order is the grid's and the result's column order).
    render:
        Exact renderer: factors ``[N, F]`` -> ``uint8 [N, C, H, W]``, or float in [0, 1]
        (a dataset with float pixels: the grid keeps them rounded to 1/255).
    axes:
        One increasing 1-D array of grid values per factor (a discrete factor: its values).
    pool:
        Block size of the nearest-neighbour stage (1: full resolution).
    stride:
        The nearest-neighbour stage searches every ``stride``-th grid value of each
        continuous factor (the hill climb then walks the full grid).
    """

    def __init__(self, space: LatentSpace, render: Callable[[np.ndarray], np.ndarray],
                 axes: Sequence[np.ndarray], *, pool: int = 1, stride: int = 1) -> None:
        if len(axes) != space.dim:
            raise DataError(f"GridRecovery: {len(axes)} axes for {space.dim} factors.")
        self.space = space
        self.render = render
        self.axes = [np.asarray(a, dtype=np.float64) for a in axes]
        self.pool = int(pool)
        self.stride = int(stride)
        self.shape = tuple(len(a) for a in self.axes)
        self.continuous = [i for i, f in enumerate(space.factors) if not f.discrete]
        self.discrete = [i for i, f in enumerate(space.factors) if f.discrete]
        for i in self.continuous:
            if len(self.axes[i]) < 3:
                raise DataError(f'GridRecovery: factor "{space.names[i]}" needs at least 3 '
                                f"grid values.")
        self._renders: np.ndarray | None = None  # uint8 [G, P] (empty when sparse)
        self._sparse: Any = None                 # scipy CSR float32 [G, P] or None
        self._norms: np.ndarray | None = None    # float32 [G]
        self._pooled: np.ndarray | None = None   # float32 [G, Pp]
        self._pooled_norms: np.ndarray | None = None
        # the 3^Fc stencil (offsets in continuous dims) and the quadratic least-squares map
        fc = len(self.continuous)
        self._offsets = np.array(list(itertools.product((-1, 0, 1), repeat=fc)), dtype=np.int64)
        self._fit = np.linalg.pinv(self._design(self._offsets.astype(np.float64)))

    # -- the grid --------------------------------------------------------------------------
    @property
    def points(self) -> np.ndarray:
        """Every grid point ``float64 [G, F]`` in row-major order of ``axes``."""
        mesh = np.meshgrid(*self.axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)

    def build(self) -> None:
        """Render the grid (once): ``uint8`` full-resolution renders and pooled copies."""
        if self._renders is not None:
            return
        pts = self.points
        first = as_uint8(self.render(pts[:1]))
        self.image_shape = first.shape[1:]
        renders = np.empty((len(pts), int(np.prod(self.image_shape))), dtype=np.uint8)
        pooled = None
        for start in range(0, len(pts), 2048):
            imgs = as_uint8(self.render(pts[start:start + 2048]))
            renders[start:start + len(imgs)] = imgs.reshape(len(imgs), -1)
            p = pool_images(imgs.astype(np.float32) / np.float32(255.0), self.pool)
            if pooled is None:
                pooled = np.empty((len(pts), p.shape[1]), dtype=np.float32)
            pooled[start:start + len(imgs)] = p
        full = renders.astype(np.float32) / np.float32(255.0)
        self._norms = np.einsum("gp,gp->g", full, full)
        if np.count_nonzero(renders) <= SPARSE_BELOW * renders.size:
            from scipy.sparse import csr_matrix

            self._sparse = csr_matrix(full)
            self._renders = np.empty((0, renders.shape[1]), dtype=np.uint8)
        else:
            self._sparse = None
            self._renders = renders
        del full
        multi = np.unravel_index(np.arange(len(pts)), self.shape)
        coarse = np.ones(len(pts), dtype=bool)
        for i in self.continuous:
            coarse &= (multi[i] % self.stride == 0) | (multi[i] == self.shape[i] - 1)
        self._coarse = np.flatnonzero(coarse)
        self._pooled = np.ascontiguousarray(pooled[self._coarse])
        self._pooled_norms = np.einsum("gp,gp->g", self._pooled, self._pooled)

    @property
    def nbytes(self) -> int:
        """Memory held by the built grid, in bytes (0 before :meth:`build`)."""
        if self._renders is None:
            return 0
        sparse = 0 if self._sparse is None else (self._sparse.data.nbytes
                                                 + self._sparse.indices.nbytes
                                                 + self._sparse.indptr.nbytes)
        return int(self._renders.nbytes + sparse + self._pooled.nbytes + self._norms.nbytes
                   + self._pooled_norms.nbytes)

    # -- recovery --------------------------------------------------------------------------
    def recover(self, images: np.ndarray) -> Recovery:
        """``images [N, C, H, W]`` float in [0, 1] (or uint8) -> :class:`Recovery`."""
        x = to_float(images)
        self.build()
        if x.ndim != 4 or tuple(x.shape[1:]) != tuple(self.image_shape):
            raise DataError(f"recover: images must have shape [N, "
                            f"{', '.join(map(str, self.image_shape))}], got {list(x.shape)}.")
        n = len(x)
        factors = np.empty((n, self.space.dim), dtype=np.float64)
        residual = np.empty(n, dtype=np.float64)
        for start in range(0, n, CHUNK):
            sl = slice(start, min(start + CHUNK, n))
            factors[sl], residual[sl] = self._recover_chunk(x[sl])
        return Recovery(factors=factors, residual=residual)

    def _recover_chunk(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(x)
        flat = x.reshape(n, -1)
        xnorm = np.einsum("np,np->n", flat, flat)
        pooled = pool_images(x, self.pool)
        # coarse distances up to the per-image constant |x|^2: |g|^2 - 2 x.g  [n, G]
        coarse = self._pooled_norms[None, :] - 2.0 * (pooled @ self._pooled.T)
        best_f = np.empty((n, self.space.dim))
        best_sse = np.full(n, np.inf)
        combos = (list(itertools.product(*[range(self.shape[i]) for i in self.discrete]))
                  if self.discrete else [()])
        multi_all = np.unravel_index(self._coarse, self.shape)
        for combo in combos:
            mask = np.ones(coarse.shape[1], dtype=bool)
            for i, v in zip(self.discrete, combo):
                mask &= multi_all[i] == v
            if mask.all():
                start = self._coarse[np.argmin(coarse, axis=1)]
            else:
                cand = np.flatnonzero(mask)
                start = self._coarse[cand[np.argmin(coarse[:, cand], axis=1)]]
            f, sse = self._refine(flat, xnorm, start)
            better = sse < best_sse
            best_f[better], best_sse[better] = f[better], sse[better]
        p = flat.shape[1]
        return best_f, np.sqrt(np.clip(best_sse, 0.0, None) / p)

    def _stencil_sse(self, flat: np.ndarray, xnorm: np.ndarray,
                     centre: np.ndarray) -> np.ndarray:
        """Sum of squared differences ``[n, S]`` between each image and the renders of the
        stencil around its ``centre [n, F]`` (multi-index)."""
        idx = np.repeat(centre[:, None, :], len(self._offsets), axis=1)
        idx[:, :, self.continuous] += self._offsets[None]
        lin = np.ravel_multi_index(tuple(idx[..., i] for i in range(len(self.shape))),
                                   self.shape)
        if self._sparse is not None:
            sub = self._sparse[lin.ravel()]
            counts = np.diff(sub.indptr)
            per_image = counts.reshape(lin.shape).sum(axis=1)
            rows = np.repeat(np.arange(len(flat), dtype=np.int64) * flat.shape[1], per_image)
            vals = sub.data * np.take(flat.ravel(), rows + sub.indices)
            if len(vals) == 0:
                dots = np.zeros(lin.shape, dtype=np.float32)
            else:  # segment sums; an empty segment (a blank render) counts 0
                dots = np.add.reduceat(vals, np.minimum(sub.indptr[:-1], len(vals) - 1))
                dots = np.where(counts > 0, dots, 0.0).reshape(lin.shape)
        else:
            g = self._renders[lin].astype(np.float32)  # [n, S, P]
            dots = np.einsum("nsp,np->ns", g, flat) / np.float32(255.0)
        return xnorm[:, None] + self._norms[lin] - 2.0 * dots

    def _refine(self, flat: np.ndarray, xnorm: np.ndarray,
                start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(flat)
        centre = np.stack(np.unravel_index(start, self.shape), axis=1).astype(np.int64)
        cont = np.array(self.continuous, dtype=np.int64)
        hi = np.array([self.shape[i] - 2 for i in self.continuous], dtype=np.int64)
        centre[:, cont] = np.clip(centre[:, cont], 1, hi)
        mid = len(self._offsets) // 2
        sse = np.empty((n, len(self._offsets)), dtype=np.float32)
        active = np.arange(n)
        for _ in range(MAX_MOVES + 1):
            s = self._stencil_sse(flat[active], xnorm[active], centre[active])
            sse[active] = s
            best = np.argmin(s, axis=1)
            moving = best != mid
            if not moving.any():
                break
            rows = active[moving]
            moved = centre[rows][:, cont] + self._offsets[best[moving]]
            moved = np.clip(moved, 1, hi)
            changed = (moved != centre[rows][:, cont]).any(axis=1)
            centre[rows[changed][:, None], cont[None, :]] = moved[changed]
            active = rows[changed]
            if len(active) == 0:
                break
        u, predicted = self._quadratic_minimum(sse.astype(np.float64))
        factors = np.empty((n, self.space.dim))
        for i in range(self.space.dim):
            if i in self.continuous:
                k = self.continuous.index(i)
                pos = centre[:, i] + u[:, k]
                factors[:, i] = np.interp(pos, np.arange(self.shape[i]), self.axes[i])
            else:
                factors[:, i] = self.axes[i][centre[:, i]]
        return factors, predicted

    @staticmethod
    def _design(u: np.ndarray) -> np.ndarray:
        """Quadratic features ``[S, Q]`` of offsets ``u [S, Fc]``: 1, u_i, u_i u_j (i <= j)."""
        cols = [np.ones(len(u))] + [u[:, i] for i in range(u.shape[1])]
        cols += [u[:, i] * u[:, j] for i in range(u.shape[1]) for j in range(i, u.shape[1])]
        return np.stack(cols, axis=1)

    def _quadratic_minimum(self, sse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Minimum of the least-squares quadratic through each row of ``sse [n, S]``, the
        offset ``u [n, Fc]`` kept in ``[-1, 1]``: ``(u, predicted sse [n])``. Where the
        quadratic has no interior minimum, or predicts more than the best stencil point,
        the best stencil point is kept."""
        fc = len(self.continuous)
        n = len(sse)
        coef = sse @ self._fit.T  # [n, Q]
        g = coef[:, 1:1 + fc]
        h = np.zeros((n, fc, fc))
        k = 1 + fc
        for i in range(fc):
            for j in range(i, fc):
                if i == j:
                    h[:, i, i] = 2.0 * coef[:, k]
                else:
                    h[:, i, j] = h[:, j, i] = coef[:, k]
                k += 1
        eig = np.linalg.eigvalsh(h)
        ok = eig[:, 0] > 1e-12 * np.maximum(np.abs(eig[:, -1]), 1e-30)
        u = np.zeros((n, fc))
        if ok.any():
            u[ok] = np.clip(-np.linalg.solve(h[ok], g[ok][..., None])[..., 0], -1.0, 1.0)
        predicted = np.einsum("nq,nq->n", self._design(u), coef)
        best = np.argmin(sse, axis=1)
        best_sse = sse[np.arange(n), best]
        fallback = ~ok | (predicted > best_sse)
        if fallback.any():
            u[fallback] = self._offsets[best[fallback]]
            predicted[fallback] = best_sse[fallback]
        return u, np.clip(predicted, 0.0, None)


def geometric_axis(low: float, high: float, points: int) -> np.ndarray:
    """``points`` values from ``low`` to ``high`` (both > 0) in equal ratios."""
    return np.geomspace(low, high, int(points))


def require_recover(dataset: Dataset, who: str) -> None:
    """Raise :class:`MissingCapability` naming ``who`` (e.g. ``metric "factor_recovery"``)
    when ``dataset`` cannot recover factors from images."""
    if not capable(dataset, "recover"):
        raise MissingCapability(
            f'{who} needs factors recovered from images, but dataset "{dataset.name}" cannot '
            f"recover factors (it has no exact inverse renderer). Fix: remove {who} from "
            f"this suite, or use a dataset that offers recover (e.g. polar, gaussian, "
            f"gaussian_t).")


def factor_errors(dataset: Dataset, truth: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Errors of recovered factors ``found [N, F]`` against ``truth [N, F]`` in units of
    each factor's range (a factor of zero span: in its own units), ``float64 [N, F]``, as the
    dataset measures them (:meth:`zsbench.plugin.Dataset.factor_distance`: an orientation
    the images show only up to a symmetry counts modulo it)."""
    return (np.asarray(dataset.factor_distance(truth, found), dtype=np.float64)
            / factor_spans(dataset.space))


def factor_spans(space: LatentSpace) -> np.ndarray:
    """Each factor's range ``float64 [F]`` (1 for a factor of zero span): the unit of
    :func:`factor_errors`."""
    return np.array([f.span if f.span > 0 else 1.0 for f in space.factors])


def render_mismatch(dataset: Dataset, images: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """How far the renders of ``factors [N, F]`` are from ``images [N, C, H, W]``: the
    root-mean-square pixel difference over each image's own root-mean-square intensity
    (at least 1e-3), ``[N]``. 0 when ``factors`` are the images' exact factors."""
    x = to_float(images).reshape(len(images), -1)
    again = to_float(dataset.render(factors)).reshape(len(images), -1)
    diff = np.sqrt(np.mean((again - x) ** 2, axis=1, dtype=np.float64))
    return diff / np.maximum(np.sqrt(np.mean(x * x, axis=1, dtype=np.float64)), 1e-3)


def verify_recover(ctx: EvalContext, who: str = "this score") -> None:
    """Check (once per context, memoised as ``"recover:verified"``) that the dataset reads
    its own exact images back: up to ``VERIFY_IMAGES`` evenly spaced images of the hole
    split (else test, else train) are recovered and rendered again; the median
    :func:`render_mismatch` must stay within ``VERIFY_TOLERANCE`` and the mean worst
    :func:`factor_errors` within ``VERIFY_FACTOR_TOLERANCE`` (else a perfect reconstruction
    would score as wrong). Raises :class:`DataError` naming the dataset otherwise."""
    split = next((s for s in ("hole", "test", "train")
                  if s in ctx.splits and len(ctx.splits[s]) > 0), None)

    def check() -> bool:
        if split is None:
            return True
        n = len(ctx.splits[split])
        rows = even_rows(n, VERIFY_IMAGES)
        images = ctx.splits[split].images[rows]
        factors = np.asarray(ctx.dataset.recover(images).factors, dtype=np.float64)
        try:
            mismatch = float(np.median(render_mismatch(ctx.dataset, images, factors)))
        except Exception as exc:
            raise DataError(
                f'dataset "{ctx.dataset.name}": the factors its recover gave for {len(rows)} '
                f"exact {split} images cannot be rendered ({type(exc).__name__}: {exc}), so "
                f"{who} cannot be computed. Fix: make recover return points of the space, "
                f"[N, {ctx.space.dim}]; zsbench.testing.check_dataset checks it.") from exc
        if not mismatch <= VERIFY_TOLERANCE:
            raise DataError(
                f'dataset "{ctx.dataset.name}" does not read its own images back: rendering '
                f"the factors its recover gave for {len(rows)} exact {split} images differs "
                f"from them by {mismatch:.2f} of their intensity (median; at most "
                f"{VERIFY_TOLERANCE} allowed), so {who} would be void. Fix: make recover read "
                f"images the way render writes them (uint8, or float in [0, 1]); "
                f"zsbench.testing.check_dataset checks it.")
        worst = factor_errors(ctx.dataset, ctx.splits[split].factors[rows], factors).max(axis=1)
        if not float(worst.mean()) <= VERIFY_FACTOR_TOLERANCE:
            raise DataError(
                f'dataset "{ctx.dataset.name}" recovers its own exact {split} images with a '
                f"mean factor error of {float(worst.mean()):.3f} of a factor's range (worst "
                f"factor per image; at most {VERIFY_FACTOR_TOLERANCE} allowed), though their "
                f"renders match, so {who} would count a perfect reconstruction as wrong. Fix: "
                f"when the images show a factor only up to a symmetry, override the dataset's "
                f"factor_distance to measure it modulo that symmetry (as sprites does for "
                f"orientation).")
        return True

    ctx.cached("recover:verified", check)


def recovered(ctx: EvalContext, key: str, images: np.ndarray, *,
              who: str = "this score") -> Recovery:
    """``ctx.dataset.recover(images)`` memoised in ``ctx`` under ``"recover:" + key`` (e.g.
    ``"recover:reconstructions:hole"``; the caller makes ``key`` name the images exactly):
    every metric and output asking for the same key shares one recovery, as float64
    ``factors [N, F]`` and ``residual [N]``. Raises :class:`MissingCapability` (naming
    ``who``, e.g. ``metric "reachability"``) for a dataset without it, and
    :class:`DataError` when the dataset cannot read its own exact images back
    (:func:`verify_recover`) or returns the wrong shapes."""
    require_recover(ctx.dataset, who)
    verify_recover(ctx, who)

    def compute() -> Recovery:
        rec = ctx.dataset.recover(np.asarray(images, dtype=np.float32))
        factors = np.asarray(rec.factors, dtype=np.float64)
        residual = np.asarray(rec.residual, dtype=np.float64).reshape(-1)
        if factors.shape != (len(images), ctx.space.dim) or residual.shape != (len(images),):
            raise DataError(f'dataset "{ctx.dataset.name}": recover returned factors '
                            f"{list(factors.shape)} and residual {list(residual.shape)} for "
                            f"{len(images)} images; expected [N, {ctx.space.dim}] and [N].")
        return Recovery(factors=factors, residual=residual)

    return ctx.cached(f"recover:{key}", compute)


def validity_threshold(dataset: Dataset, train_images: np.ndarray) -> float:
    """The dataset's bar for "an image of the family" (a recovery residual), from its
    training images: :meth:`zsbench.plugin.Dataset.validity_threshold`."""
    return float(dataset.validity_threshold(np.asarray(train_images)))


def context_validity_threshold(ctx: EvalContext) -> float:
    """:func:`validity_threshold` of an evaluation's training split, memoised in ``ctx``
    (the bar every score of the evaluation shares)."""
    train = ctx.splits.get("train")
    images = train.images if train is not None else np.zeros((0, 1, 1, 1), np.float32)
    return ctx.cached("validity_threshold", lambda: validity_threshold(ctx.dataset, images))


def contrast_checks(dataset: Dataset, images: np.ndarray, factors: np.ndarray, *,
                    blur: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(amplitude [N], local [N])`` of ``images [N, C, H, W]`` (unclipped floats) read back
    as ``factors [N, F]``, for a dataset that states its plain ``background``: the
    least-squares contrast of each image against the render ``R`` of its factors (both
    less the background; 1 for an exact render, 0.6 for a bump at 60 % strength, 0 for a
    blank frame, negative for an inverted image) and the largest root-mean-square residual
    ``image - R`` over :data:`LOCAL_WINDOW` x :data:`LOCAL_WINDOW` pixel windows (channels
    together), over the render's peak contrast ``max |R - background|`` (a second bump of
    40 % strength: about 0.23), both blurred first by a Gaussian of width ``blur`` pixels
    when it is above 0 (the judging's ``local_blur``). ``(ones, zeros)`` for a dataset
    without a background, and ``(1, 0)`` for an image read back as a point whose render is
    blank."""
    n = len(images)
    amplitude, local = np.ones(n), np.zeros(n)
    bg = dataset.background
    if bg is None or n == 0:
        return amplitude, local
    low = np.array([f.bounds[0] for f in dataset.space.factors])
    high = np.array([f.bounds[1] for f in dataset.space.factors])
    k = LOCAL_WINDOW
    for start in range(0, n, CHUNK):
        sl = slice(start, min(start + CHUNK, n))
        x = to_float(np.asarray(images[sl])).astype(np.float64) - float(bg)
        r = to_float(dataset.render(np.clip(factors[sl], low, high))).astype(np.float64)
        r = r - float(bg)
        m = len(x)
        rr = np.einsum("nchw,nchw->n", r, r)
        amplitude[sl] = np.where(rr > 0, np.einsum("nchw,nchw->n", x, r) / np.maximum(rr, 1e-300),
                                 0.0)
        if blur > 0:
            from scipy.ndimage import gaussian_filter  # on use: slow to import

            sigma = (0.0, 0.0, float(blur), float(blur))
            e2 = ((gaussian_filter(x, sigma, mode="constant")
                   - gaussian_filter(r, sigma, mode="constant")) ** 2).mean(axis=1)
        else:
            e2 = ((x - r) ** 2).mean(axis=1)  # [m, H, W]
        c = np.pad(e2, ((0, 0), (1, 0), (1, 0))).cumsum(axis=1).cumsum(axis=2)
        box = (c[:, k:, k:] - c[:, :-k, k:] - c[:, k:, :-k] + c[:, :-k, :-k]) / (k * k)
        peak = np.abs(r).reshape(m, -1).max(axis=1)
        worst = np.sqrt(np.maximum(box.reshape(m, -1).max(axis=1), 0.0))
        local[sl] = worst / np.maximum(peak, 1e-300)
        # a point of the family whose render is itself blank (a bump centre off the window):
        # no contrast to check; the residual bar alone judges the draw
        flat = peak < BLANK_RENDER
        amplitude[sl][flat], local[sl][flat] = 1.0, 0.0
    return amplitude, local


def judging_tolerance(dataset: Dataset, judging: Judging) -> np.ndarray:
    """Each factor's tolerance under ``judging``, in factor units ``float64 [F]``."""
    return judging.factor_tolerance(dataset.space.names, factor_spans(dataset.space),
                                    np.asarray(dataset.resolution, dtype=np.float64))


def judge_draws(dataset: Dataset, requests: np.ndarray, images: np.ndarray, *,
                threshold: float, judging: Judging) -> dict[str, np.ndarray]:
    """Read generated ``images [N, C, H, W]`` back with the dataset's ``recover`` and judge
    them against their ``requests [N, F]`` by the one rule ``judging``
    (:class:`zsbench.judging.Judging`): ``factors [N, F]`` recovered, ``residual [N]``,
    ``errors [N, F]`` (:func:`factor_errors`, range units), ``amplitude [N]`` and ``local
    [N]`` (:func:`contrast_checks`), ``valid [N]`` (an image of the family:
    :meth:`zsbench.plugin.Dataset.valid` at ``judging.residual_threshold``, else at
    ``threshold``, with the contrast within ``judging.amplitude`` of 1 and the local
    residual under ``judging.local_residual``) and ``failed [N]`` (not valid, or the
    factors off by more than the tolerance under the rule's norm). An invalid image counts
    as failed and its factor errors say nothing. The images are judged as drawn: never
    clipped (so a pixel MSE beside the verdict is the draw's own)."""
    x = np.asarray(to_float(np.asarray(images)), dtype=np.float32)
    rec = dataset.recover(x)
    factors = np.asarray(rec.factors, dtype=np.float64)
    residual = np.asarray(rec.residual, dtype=np.float64).reshape(-1)
    errors = factor_errors(dataset, requests, factors)
    bar = threshold if judging.residual_threshold is None else judging.residual_threshold
    valid = np.asarray(dataset.valid(Recovery(factors=factors, residual=residual), bar),
                       dtype=bool).reshape(-1)
    amplitude, local = contrast_checks(dataset, x, factors, blur=judging.local_blur)
    if judging.amplitude is not None:
        valid &= np.abs(amplitude - 1.0) <= judging.amplitude
    if judging.local_residual is not None:
        valid &= local <= judging.local_residual
    off = np.asarray(dataset.factor_distance(requests, factors), dtype=np.float64)
    failed = ~valid | judging.failed(off, judging_tolerance(dataset, judging))
    return {"factors": factors, "residual": residual, "errors": errors, "valid": valid,
            "failed": failed, "amplitude": amplitude, "local": local}
