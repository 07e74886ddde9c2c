"""The memoriser baseline: for any request, the training image whose factors are nearest.

A conditional "generator" that has learned nothing but a lookup table. Every conditional
leaderboard lists it so that a hole score can be read as "better than a lookup table": a
model that scores no better inside the hole than this one has shown no generalisation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Model
from zsbench.space import LatentSpace
from zsbench_plugins.models._conditional import (
    check_factors,
    check_known_factors,
    check_name_list,
    check_space,
    check_training_factors,
    read_archive,
    write_archive,
)
from zsbench_plugins.models.base import _check_images

FORMAT = "zsbench.nearest_training"
FORMAT_VERSION = 1

CHUNK_ENTRIES = 1 << 22
"""Request-by-training distances computed at once (about 32 MB of float64)."""


def _is_uint8_exact(x: np.ndarray) -> bool:
    """Whether float32 images ``x`` are uint8 images divided by 255 (exactly)."""
    q = np.rint(x * np.float32(255.0))
    return bool(np.array_equal(q.astype(np.float32) / np.float32(255.0), x))


class NearestTraining(Model):
    """Memoriser baseline: draws the training image whose factors are nearest to the request.

    A conditional generator (``generate(factors, *, seed)``, deterministic, no encoder):
    ``fit(images, ..., factors=[N, F], space=...)`` stores the training images and their
    factors; ``generate`` returns, for each requested row, the stored training image whose
    factors are nearest, exactly as it was given (the same float32 pixels). It learns
    nothing, so a hole score no better than its own is no generalisation: it is the
    "lookup table" row of a conditional leaderboard.

    Distance: Euclidean over the factors, each in units of its range in the dataset's
    ``space`` (the bounds of a continuous factor, the spread of a discrete factor's
    values; without a space, the training factors' range), so every factor weighs alike.
    A factor named in ``periodic`` wraps around its range (an angle: 0 and 2 pi are one
    point); one named in ``categorical`` counts any difference as one whole range (a shape
    label, whose order means nothing). Ties go to the first training image in the order
    ``fit`` received them. Training images with weight 0 (``weights``) are not stored;
    other weights and ``validation`` are ignored.

    Parameters (all keyword-only):
        periodic: names of factors that wrap around their range (default None: none).
        categorical: names of factors compared as labels: equal or one range apart
            (default None: none).
    """

    name = "nearest_training"
    needs_factors: ClassVar[bool] = True
    stochastic: ClassVar[bool] = False
    uses_seed: ClassVar[bool] = False

    def __init__(self, *, periodic: Sequence[str] | None = None,
                 categorical: Sequence[str] | None = None) -> None:
        self.periodic = periodic
        self.categorical = categorical
        self._check_params()

    def _check_params(self) -> None:
        for key in ("periodic", "categorical"):
            check_name_list(getattr(self, key), self.name, key)
        both = sorted(set(self.periodic or ()) & set(self.categorical or ()))
        if both:
            raise PluginParameterError("model", self.name, "categorical",
                                       f"the factors {both} are also periodic.",
                                       "name each factor in at most one of periodic and "
                                       "categorical.")

    # -- fitting -----------------------------------------------------------------------
    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None, factors: np.ndarray | None = None,
            space: LatentSpace | None = None) -> NearestTraining:
        """Store ``images [N, C, H, W]`` in [0, 1] and their true ``factors [N, F]``
        (required); ``space``: the dataset's :class:`~zsbench.space.LatentSpace` (the
        factors' ranges and names). ``seed`` and ``validation`` change nothing; rows whose
        ``weights [N]`` are 0 are left out."""
        self._check_params()
        start = time.perf_counter()
        x = _check_images(images, self.name, "images")
        f = check_training_factors(factors, len(x), self.name)
        check_space(space, f.shape[1], self.name)
        if weights is not None:
            w = np.asarray(weights, dtype=np.float64).reshape(-1)
            if len(w) != len(x) or not np.isfinite(w).all() or (w < 0).any():
                raise DataError(f'model "{self.name}": weights must be {len(x)} finite '
                                f"numbers >= 0 (one per image); got shape {list(w.shape)}.")
            x, f = x[w > 0], f[w > 0]
        if len(x) == 0:
            raise DataError(f'model "{self.name}": fit got no images to remember (an empty '
                            "array, or every weight 0).")
        self.scale_, self.kinds_ = self._metric(f, space)
        self.factors_ = f.copy()
        self.image_shape_ = tuple(int(v) for v in x.shape[1:])
        # uint8 images divided by 255 are kept as uint8 (4x smaller), exactly
        self.images_ = (np.rint(x * np.float32(255.0)).astype(np.uint8) if _is_uint8_exact(x)
                        else x.copy())
        self.training_ = {"images": int(len(x)),
                          "seconds": round(time.perf_counter() - start, 3)}
        return self

    def _metric(self, f: np.ndarray, space: LatentSpace | None) -> tuple[np.ndarray, np.ndarray]:
        """The per-factor range ``float64 [F]`` and kind ``int8 [F]`` (0 ordinary,
        1 periodic, 2 categorical) of the distance."""
        names = space.names if space is not None else [f"factor {i}" for i in range(f.shape[1])]
        for key in ("periodic", "categorical"):
            check_known_factors(key, getattr(self, key) or (), names, self.name)
        if space is not None:
            span = np.array([fac.span for fac in space.factors], dtype=np.float64)
        else:
            span = f.max(axis=0) - f.min(axis=0)
        span = np.where(span > 0, span, 1.0)
        periodic, categorical = set(self.periodic or ()), set(self.categorical or ())
        kinds = np.array([1 if n in periodic else 2 if n in categorical else 0
                          for n in names], dtype=np.int8)
        return span, kinds

    # -- generating --------------------------------------------------------------------
    def nearest(self, factors: np.ndarray) -> np.ndarray:
        """For each requested row of ``factors [N, F]``: the index ``int64 [N]`` of the
        nearest stored training image (see the class docstring for the distance)."""
        self._fitted()
        q = check_factors(factors, self.factors_.shape[1], self.name).astype(np.float64)
        train = self.factors_
        out = np.empty(len(q), dtype=np.int64)
        rows = max(1, CHUNK_ENTRIES // max(1, len(train)))
        for start in range(0, len(q), rows):
            block = q[start:start + rows]
            d2 = np.zeros((len(block), len(train)))
            for j in range(train.shape[1]):
                diff = np.abs(block[:, j, None] - train[None, :, j])
                if self.kinds_[j] == 1:
                    diff = np.minimum(diff % self.scale_[j], self.scale_[j] - diff % self.scale_[j])
                    d2 += (diff / self.scale_[j]) ** 2
                elif self.kinds_[j] == 2:
                    d2 += (diff > 0).astype(np.float64)
                else:
                    d2 += (diff / self.scale_[j]) ** 2
            out[start:start + rows] = np.argmin(d2, axis=1)
        return out

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        """Images float32 ``[N, C, H, W]``: row ``i`` is the stored training image nearest
        to ``factors[i]`` (bit for bit as ``fit`` got it). Deterministic: ``seed`` changes
        nothing."""
        picked = self.images_[self.nearest(factors)]
        if picked.dtype == np.uint8:
            return picked.astype(np.float32) / np.float32(255.0)
        return picked.astype(np.float32, copy=True)

    def _fitted(self) -> None:
        if getattr(self, "factors_", None) is None:
            raise DataError(f'model "{self.name}" is not fitted yet: call fit (or load) first.')

    def training_summary(self) -> dict[str, Any]:
        """The number of training images stored and the seconds ``fit`` took."""
        return dict(getattr(self, "training_", {}))

    # -- checkpoints -------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """The stored images and factors with the distance's ranges and parameters, in one
        compressed NumPy archive (no pickles)."""
        self._fitted()
        header = {"format": FORMAT, "format_version": FORMAT_VERSION, "plugin": self.name,
                  "params": {k: None if v is None else list(v)
                             for k, v in self.get_params().items()},
                  "training": self.training_summary()}
        write_archive(path, header, {"images": self.images_, "factors": self.factors_,
                                     "scale": self.scale_, "kinds": self.kinds_})

    @classmethod
    def load(cls, path: Path) -> NearestTraining:
        """Read what :meth:`save` wrote (``numpy.load(allow_pickle=False)``)."""
        header, arrays = read_archive(path, model=cls.name, fmt=FORMAT, version=FORMAT_VERSION,
                                      keys=("images", "factors", "scale", "kinds"))
        model = cls(**dict(header["params"]))
        model.images_ = arrays["images"]
        model.factors_ = arrays["factors"].astype(np.float64)
        model.scale_ = arrays["scale"].astype(np.float64)
        model.kinds_ = arrays["kinds"].astype(np.int8)
        model.image_shape_ = tuple(int(v) for v in model.images_.shape[1:])
        model.training_ = dict(header.get("training", {}))
        return model
