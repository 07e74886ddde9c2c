"""Per-image error functions shared by the standard metrics and pictures.

Every function takes ``images [N, ...]`` and ``reconstructions [N, ...]`` of one shape (in
practice ``[N, C, H, W]`` float in [0, 1]) and returns one float64 value per image ``[N]``.
Work is done in float64 over chunks of images, so memory stays bounded for large splits.
:func:`mean_score`, :func:`ratio_score` and :func:`difference_score` turn such per-image
values into scores that carry them (for their bootstrap intervals).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from zsbench.errors import DataError
from zsbench.intervals import finite_mean as finite_mean  # the metrics import it here
from zsbench.lazy import read_rows
from zsbench.plugin import Score, capable
from zsbench.splits import even_rows

if TYPE_CHECKING:
    from zsbench.plugin import EvalContext

BCE_EPS: float = 1e-6
"""Reconstructions are clipped to ``[BCE_EPS, 1 - BCE_EPS]`` before taking logarithms."""

_CHUNK: int = 256


def _check_pair(images: np.ndarray, reconstructions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(images)
    r = np.asarray(reconstructions)
    if x.shape != r.shape:
        raise DataError(
            f"images and reconstructions must have the same shape, got {list(x.shape)} and "
            f"{list(r.shape)}."
        )
    if x.ndim < 1:
        raise DataError("images must have a leading batch axis [N, ...], got a scalar.")
    return x, r


def _chunked(images: np.ndarray, reconstructions: np.ndarray,
             per_chunk: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    x, r = _check_pair(images, reconstructions)
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        xs = x[start:stop].astype(np.float64, copy=False).reshape(stop - start, -1)
        rs = r[start:stop].astype(np.float64, copy=False).reshape(stop - start, -1)
        out[start:stop] = per_chunk(xs, rs)
    return out


def per_image_bce(images: np.ndarray, reconstructions: np.ndarray, *,
                  eps: float = BCE_EPS) -> np.ndarray:
    """Binary cross-entropy per image, averaged over pixels: ``[N]``.

    ``-(x log r + (1 - x) log(1 - r))`` with ``r`` clipped to ``[eps, 1 - eps]``; for a
    perfect reconstruction of a binary image this is about ``eps`` (its minimum), and for
    grey targets the minimum is the pixels' mean binary entropy.
    """
    def chunk(x: np.ndarray, r: np.ndarray) -> np.ndarray:
        r = np.clip(r, eps, 1.0 - eps)
        return -(x * np.log(r) + (1.0 - x) * np.log1p(-r)).mean(axis=1)

    return _chunked(images, reconstructions, chunk)


def per_image_entropy(images: np.ndarray) -> np.ndarray:
    """The BCE floor per image ``[N]``: the pixel-mean binary entropy of the target,
    ``-(x log x + (1 - x) log(1 - x))`` (0 for pixels at 0 or 1). No reconstruction can
    score a lower BCE than this; a perfect one reaches it."""
    def chunk(x: np.ndarray, _: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            h = -(np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)
                  + np.where(x < 1, (1.0 - x) * np.log1p(-np.where(x < 1, x, 0.0)), 0.0))
        return h.mean(axis=1)

    return _chunked(images, images, chunk)


def per_image_excess_bce(images: np.ndarray, reconstructions: np.ndarray, *,
                         eps: float = BCE_EPS) -> np.ndarray:
    """BCE above its floor per image ``[N]``: :func:`per_image_bce` minus
    :func:`per_image_entropy` of the target (0 for a perfect reconstruction, up to the
    ``eps`` clipping). Unlike the raw BCE it does not grow with the amount of grey ink in the
    target, so thin-line and dense images are comparable; it is the KL divergence between
    the target's and the reconstruction's pixel Bernoullis."""
    return per_image_bce(images, reconstructions, eps=eps) - per_image_entropy(images)


def per_image_intensity_error(images: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """``|sum(reconstruction) / sum(image) - 1|`` per image ``[N]``: the relative error of
    the total intensity (ink), whatever its placement: 0.2 for an exact image dimmed by
    20 %. An all-black target counts its reconstruction's mean intensity instead."""
    def chunk(x: np.ndarray, r: np.ndarray) -> np.ndarray:
        sx = x.sum(axis=1)
        sr = r.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(sx > 0, np.abs(sr / np.where(sx > 0, sx, 1.0) - 1.0),
                            sr / x.shape[1])

    return _chunked(images, reconstructions, chunk)


def per_image_peak_error(images: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """``|max(reconstruction) - max(image)|`` per image ``[N]``: how far the brightest
    pixel is from the target's. The standard datasets' targets peak near 1, which a sigmoid
    decoder cannot exceed, so dimming the output always shows here, even for a blurred
    model whose total ink (:func:`per_image_intensity_error`) dimming would bring closer."""
    return _chunked(images, reconstructions,
                    lambda x, r: np.abs(r.max(axis=1) - x.max(axis=1)))


def per_image_mse(images: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Mean squared error per image, averaged over pixels: ``[N]``."""
    return _chunked(images, reconstructions, lambda x, r: ((r - x) ** 2).mean(axis=1))


def per_image_frobenius(images: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Frobenius norm of ``reconstruction - image`` per image, over all of C, H, W: ``[N]``."""
    return _chunked(images, reconstructions,
                    lambda x, r: np.sqrt(((r - x) ** 2).sum(axis=1)))


def ratio(num: float, den: float) -> float:
    """``num / den``; NaN when either is undefined or ``den`` is not positive (the one
    ratio of two errors, e.g. hole over test, of every standard metric)."""
    if not (np.isfinite(num) and np.isfinite(den)) or den <= 0:
        return float("nan")
    return float(num / den)


def nan_mean(values: np.ndarray) -> float:
    """Mean of ``values [N]`` as a python float; NaN for an empty array (undefined)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()) if values.size else float("nan")


RIM_CONTROL_LIMIT: float = 0.5
"""A hole/rim (or hole/test) ratio means "as good in the hole as next to it" only when the
model is good next to it: its control, the rim's (or test split's) ``fail_rate`` from
``factor_recovery``, must be at most this (the model draws most of the control's images
right). A model whose control fails is shown "control failed" in the ratio's column."""


def mean_score(items: np.ndarray | None, *, higher_is_better: bool = False,
               headline: bool = False, **extra: object) -> Score:
    """The :class:`~zsbench.plugin.Score` that is the mean of per-item values ``items [N]``
    (NaN items do not count; None or no finite item: NaN), carrying the items for its
    bootstrap interval. ``extra``: ``target``, ``control``."""
    if items is None:
        return Score(float("nan"), higher_is_better=higher_is_better, headline=headline,
                     **extra)
    x = np.asarray(items, dtype=np.float64).reshape(-1)
    return Score(finite_mean(x), higher_is_better=higher_is_better, headline=headline,
                 items=x, **extra)


def ratio_score(num: np.ndarray | None, den: np.ndarray | None, *,
                higher_is_better: bool = False, headline: bool = False,
                **extra: object) -> Score:
    """The Score ``mean(num) / mean(den)`` of two groups of items (e.g. hole and rim
    images; NaN items do not count), carrying both groups for its bootstrap interval; NaN
    when a group is missing or the denominator is not positive."""
    if num is None or den is None:
        return Score(float("nan"), higher_is_better=higher_is_better, headline=headline,
                     **extra)
    a = np.asarray(num, dtype=np.float64).reshape(-1)
    b = np.asarray(den, dtype=np.float64).reshape(-1)
    top, bottom = finite_mean(a), finite_mean(b)
    value = top / bottom if np.isfinite(top) and np.isfinite(bottom) and bottom > 0 \
        else float("nan")
    return Score(float(value), higher_is_better=higher_is_better, headline=headline,
                 ratio_of=(a, b), **extra)


def difference_score(a: np.ndarray | None, b: np.ndarray | None, *,
                     higher_is_better: bool = False, headline: bool = False,
                     **extra: object) -> Score:
    """The Score ``mean(a) - mean(b)`` of two groups of items, carrying both."""
    if a is None or b is None:
        return Score(float("nan"), higher_is_better=higher_is_better, headline=headline,
                     **extra)
    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    return Score(finite_mean(x) - finite_mean(y), higher_is_better=higher_is_better,
                 headline=headline, difference_of=(x, y), **extra)


def draw_rows(ctx: EvalContext, split: str, max_draws: int | None) -> np.ndarray | None:
    """The rows of ``split`` a metric capped at ``max_draws`` scores, evenly spaced
    (:func:`~zsbench.splits.even_rows`), or None for all of them: a conditional generator's
    reconstructions are draws, a full sampler run each, so a metric reads at most
    ``max_draws`` of a large split (the training split: thousands); an autoencoder's are
    cheap and always read whole."""
    if max_draws is None or capable(ctx.model, "encode") or split not in ctx.splits:
        return None
    n = len(ctx.splits[split])
    return even_rows(n, int(max_draws)) if n > max_draws else None


def split_images(ctx: EvalContext, split: str, *, required: bool,
                 max_draws: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """``(images, reconstructions)`` ``[N, C, H, W]`` of ``split``, or None when the split
    is absent (or empty) and not ``required``; of a generator, at most ``max_draws`` rows
    (:func:`draw_rows`).

    Raises :class:`DataError` when a required split is missing, or when a split exists
    without its reconstructions.
    """
    if split not in ctx.splits or len(ctx.splits[split]) == 0:
        if required:
            have = ", ".join(sorted(ctx.splits)) or "none"
            raise DataError(f'the evaluation context has no (non-empty) "{split}" split; '
                            f"splits present: {have}.")
        return None
    if split not in ctx.reconstructions:
        raise DataError(f'the evaluation context has a "{split}" split but no reconstructions '
                        f"of it.")
    rows = draw_rows(ctx, split, max_draws)
    images = ctx.splits[split].images
    return (images if rows is None else images[rows],
            read_rows(ctx.reconstructions, split, rows))
