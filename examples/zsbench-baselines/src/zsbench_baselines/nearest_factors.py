"""The ``nearest_factors`` model: a conditional generator that can only copy its training
images. It implements nothing but ``fit`` and ``generate``."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from zsbench import Model
from zsbench.errors import DataError

CHUNK = 1024


class NearestFactorsModel(Model):
    """Nearest training image by factors: asked for factors, it returns the training image whose factors are closest.

    ``fit(images [N, C, H, W], *, seed, factors [N, F])`` remembers the training images and
    their true factors (zsbench passes ``factors`` because ``fit`` names them).
    ``generate(factors [M, F], *, seed) -> [M, C, H, W]``: for each request, a verbatim copy
    of the training image whose factors are nearest (each factor scaled by its training
    range; ties go to the earlier image). Deterministic, so ``seed`` changes nothing. Inside
    a hole it can only draw what it saw nearby: a conditional generator that does no better
    there has not generalised. It has no encoder, no save: zsbench skips the scores that
    need them as not applicable, keeps no checkpoint and does not cache it.
    """

    name = "nearest_factors"
    stochastic: ClassVar[bool] = False
    uses_seed: ClassVar[bool] = False

    def __init__(self) -> None:
        pass

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None,
            factors: np.ndarray | None = None) -> NearestFactorsModel:
        """Remember ``images`` and their ``factors`` (required); ``weights`` and
        ``validation`` are ignored."""
        x = np.asarray(images)
        f = None if factors is None else np.asarray(factors, dtype=np.float64)
        if x.ndim != 4 or f is None or f.shape[:1] != x.shape[:1] or f.ndim != 2:
            raise DataError(f'model "{self.name}": fit needs images [N, C, H, W] and their '
                            f"factors [N, F]; got {list(x.shape)} and "
                            f"{None if f is None else list(f.shape)}.")
        self.images_ = np.clip(x.astype(np.float32), 0.0, 1.0)
        self.low_ = f.min(axis=0)
        self.span_ = np.where(np.ptp(f, axis=0) > 0, np.ptp(f, axis=0), 1.0)
        self.codes_ = (f - self.low_) / self.span_
        return self

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        """Copies of the nearest training images: float32 ``[M, C, H, W]`` in [0, 1]."""
        f = np.asarray(factors, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != self.codes_.shape[1] or not np.isfinite(f).all():
            raise DataError(f'model "{self.name}": expected finite factors of shape '
                            f"[M, {self.codes_.shape[1]}], got {list(f.shape)}.")
        q = (f - self.low_) / self.span_
        c2 = (self.codes_ ** 2).sum(axis=1)
        index = np.empty(len(q), dtype=np.int64)
        for start in range(0, len(q), CHUNK):
            block = q[start:start + CHUNK]
            index[start:start + len(block)] = np.argmin(c2[None, :] - 2.0 * block @ self.codes_.T,
                                                        axis=1)
        return self.images_[index].copy()
