"""Costly derived values that the generative scores and their pictures share, memoised per
trained model with :meth:`zsbench.plugin.EvalContext.cached`: reachable latents (a model's
``invert``), recovered factors (a dataset's ``recover``) and prior samples (``sample``).

Metrics and outputs that ask with the same arguments get the same arrays, computed once.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from zsbench.errors import DataError, MissingCapability
from zsbench.lazy import read_rows
from zsbench.plugin import EvalContext, capable
from zsbench.recovery import recovered as recovered  # the metrics and outputs import it here
from zsbench.splits import even_rows

REACH_STEPS: int = 30
"""Default budget (optimiser steps) of the latent search behind reachability."""

REACH_LR: float = 0.3
"""Default learning rate of the latent search, in units of the training latents' spread."""

REACH_MAX_IMAGES: int = 64
"""Default cap on the images per split whose best latent is searched (an even subsample)."""

PRIOR_SAMPLES: int = 1000
"""Default number of prior samples behind prior coverage."""


def require(obj: object, method: str, who: str, score: str) -> None:
    """Raise :class:`zsbench.errors.MissingCapability` naming ``score`` when ``obj`` lacks
    ``method``."""
    if not capable(obj, method):
        name = getattr(obj, "name", type(obj).__name__)
        raise MissingCapability(
            f'{score} needs {who} "{name}" to offer `{method}`, and it does not, '
            f"so it is left out (see `zsbench.plugin.capable`).")


@dataclass
class Reachable:
    """The best latent found for (a subsample of) one split: ``index [K]`` into the split,
    ``latents [K, D]``, ``images [K, C, H, W]`` (the targets) and ``decoded [K, C, H, W]``
    (the decoder's best attempt) and ``reconstructions [K, C, H, W]`` (encode -> decode)."""

    index: np.ndarray
    latents: np.ndarray
    images: np.ndarray
    decoded: np.ndarray
    reconstructions: np.ndarray


def _invert(ctx: EvalContext, images: np.ndarray, steps: int, lr: float) -> np.ndarray:
    """``ctx.model.invert`` with the budget (``steps``, ``lr``) and the step unit
    (``scale``: the standard deviation of each training latent) passed when the model's
    ``invert`` takes them."""
    accepted = inspect.signature(ctx.model.invert).parameters
    train = ctx.latents.get("train")
    scale = (np.asarray(train, np.float64).std(axis=0)
             if train is not None and np.ndim(train) == 2 and len(train) > 1 else None)
    extra = {k: v for k, v in (("steps", steps), ("lr", lr), ("scale", scale))
             if k in accepted and v is not None}
    z = np.asarray(ctx.model.invert(images, seed=ctx.seed, **extra))
    if z.ndim != 2 or len(z) != len(images) or not np.all(np.isfinite(z)):
        raise DataError(f'model "{ctx.label}": invert returned shape {list(z.shape)} (or '
                        f"non-finite values) for {len(images)} images; expected [N, D].")
    return z


def reachable(ctx: EvalContext, split: str, *, steps: int = REACH_STEPS, lr: float = REACH_LR,
              max_images: int | None = REACH_MAX_IMAGES) -> Reachable | None:
    """The :class:`Reachable` of ``split`` (None when the split is absent or empty),
    memoised under ``reachable:SPLIT:STEPS:LR:MAX``. The model must offer ``invert``."""
    if split not in ctx.splits or len(ctx.splits[split]) == 0:
        return None
    require(ctx.model, "invert", "model", "reachability")

    def compute() -> Reachable:
        idx = even_rows(len(ctx.splits[split]), max_images)
        images = ctx.splits[split].images[idx]
        z = _invert(ctx, images, steps, lr)
        decoded = np.asarray(ctx.model.decode(z), dtype=np.float32)
        return Reachable(index=idx, latents=z, images=images, decoded=decoded,
                         reconstructions=np.asarray(read_rows(ctx.reconstructions, split, idx),
                                                    np.float32))

    return ctx.cached(f"reachable:{split}:{steps}:{lr}:{max_images}", compute)


def prior_samples(ctx: EvalContext, n: int = PRIOR_SAMPLES) -> np.ndarray:
    """``n`` images ``[n, C, H, W]`` from the model's prior (seeded by the job's seed),
    memoised under ``prior:N``. The model must offer ``sample``."""
    require(ctx.model, "sample", "model", "prior coverage")

    def compute() -> np.ndarray:
        x = np.asarray(ctx.model.sample(int(n), seed=ctx.seed), dtype=np.float32)
        if x.ndim != 4 or len(x) != n or not np.all(np.isfinite(x)):
            raise DataError(f'model "{ctx.label}": sample({n}) returned shape '
                            f"{list(x.shape)} (or non-finite values); expected [{n}, C, H, W].")
        return x  # as drawn: never clipped (zsbench.draws checks draws)

    return ctx.cached(f"prior:{n}", compute)
