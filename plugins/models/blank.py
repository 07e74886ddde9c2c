"""The blank baseline: an empty frame, the dataset's background, whatever is asked.

A conditional "generator" that draws nothing. Every conditional leaderboard lists it so
that a hole score can be read as "better than drawing nothing": on data of small objects
on a plain background (bumps, sprites) a blank frame has a small pixel error, and a score
that a blank frame beats rewards drawing nothing.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Model
from zsbench.space import LatentSpace
from zsbench_plugins.models._conditional import (
    check_factors,
    check_training_factors,
    read_archive,
    write_archive,
)
from zsbench_plugins.models.base import _check_images

FORMAT = "zsbench.blank"
FORMAT_VERSION = 1


def border_pixels(images: np.ndarray) -> np.ndarray:
    """The pixels on the edge of every frame of ``images [N, C, H, W]``, per channel:
    ``float32 [C, N * (2 W + 2 H - 4)]`` (all pixels of a frame narrower than 3)."""
    x = np.asarray(images)
    n, c, h, w = x.shape
    if h < 3 or w < 3:
        return x.transpose(1, 0, 2, 3).reshape(c, -1)
    parts = [x[:, :, 0, :], x[:, :, -1, :], x[:, :, 1:-1, 0], x[:, :, 1:-1, -1]]
    return np.concatenate([p.transpose(1, 0, 2).reshape(c, -1) for p in parts], axis=1)


class Blank(Model):
    """Blank baseline: draws one empty frame, the training images' background, for any request.

    A conditional generator (``generate(factors, *, seed)``, deterministic, no encoder)
    that ignores its request (``follows_request = False``): every row is the same frame,
    each channel filled with one value. That value is, by default, the background of the
    training images: the median, per channel, of the pixels on the edges of every training
    frame (objects seldom touch the edge, so this is the plain background: 1.0 for the
    paper's dark bumps on white, 0.0 for sprites on black). ``value`` fixes it instead (the
    same grey in every channel). It learns nothing that depends on the factors: a hole
    score no better than its own is no better than drawing nothing.

    ``fit(images, ..., factors=[N, F])`` reads the images (for the background) and the
    number of factors (to check requests); ``seed``, ``weights`` and ``validation`` change
    nothing.

    Parameters (all keyword-only):
        value: the grey in [0, 1] of every pixel (default None: the training background).
    """

    name = "blank"
    needs_factors: ClassVar[bool] = True
    stochastic: ClassVar[bool] = False
    uses_seed: ClassVar[bool] = False
    follows_request: ClassVar[bool] = False

    def __init__(self, *, value: float | None = None) -> None:
        self.value = value
        self._check_params()

    def _check_params(self) -> None:
        v = self.value
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not (math.isfinite(float(v)) and 0.0 <= float(v) <= 1.0)):
            raise PluginParameterError("model", self.name, "value",
                                       f"must be a number in [0, 1]; got {v!r}.",
                                       "give e.g. value = 0.0 (black), or leave it out for "
                                       "the training images' background.")

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None, factors: np.ndarray | None = None,
            space: LatentSpace | None = None) -> Blank:
        """Read the background of ``images [N, C, H, W]`` in [0, 1] and the width of
        ``factors [N, F]`` (required). Nothing else is learned."""
        self._check_params()
        start = time.perf_counter()
        x = _check_images(images, self.name, "images")
        f = check_training_factors(factors, len(x), self.name)
        if len(x) == 0:
            raise DataError(f'model "{self.name}": fit got no images (an empty array).')
        if self.value is None:
            fill = np.median(border_pixels(x), axis=1).astype(np.float32)
        else:
            fill = np.full(x.shape[1], float(self.value), dtype=np.float32)
        self.fill_ = fill
        self.image_shape_ = tuple(int(v) for v in x.shape[1:])
        self.n_factors_ = int(f.shape[1])
        self.training_ = {"images": int(len(x)), "fill": [float(v) for v in fill],
                          "seconds": round(time.perf_counter() - start, 3)}
        return self

    def frame(self) -> np.ndarray:
        """The one frame it draws: ``float32 [C, H, W]``."""
        if getattr(self, "fill_", None) is None:
            raise DataError(f'model "{self.name}" is not fitted yet: call fit (or load) first.')
        c, h, w = self.image_shape_
        return np.broadcast_to(self.fill_[:, None, None], (c, h, w)).astype(np.float32)

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        """Images float32 ``[N, C, H, W]``: :meth:`frame` in every row, whatever the request
        (which must still be ``[N, F]`` finite numbers). ``seed`` changes nothing."""
        frame = self.frame()
        f = check_factors(factors, self.n_factors_, self.name)
        return np.repeat(frame[None], len(f), axis=0)

    def training_summary(self) -> dict[str, Any]:
        """The number of training images read, the fill value per channel and the seconds
        ``fit`` took."""
        return dict(getattr(self, "training_", {}))

    def save(self, path: Path) -> None:
        """The fill values, the image shape and the parameters, in a NumPy archive."""
        self.frame()
        header = {"format": FORMAT, "format_version": FORMAT_VERSION, "plugin": self.name,
                  "params": self.get_params(), "image_shape": list(self.image_shape_),
                  "n_factors": self.n_factors_, "training": self.training_summary()}
        write_archive(path, header, {"fill": self.fill_})

    @classmethod
    def load(cls, path: Path) -> Blank:
        """Read what :meth:`save` wrote (``numpy.load(allow_pickle=False)``)."""
        header, arrays = read_archive(path, model=cls.name, fmt=FORMAT,
                                      version=FORMAT_VERSION, keys=("fill",))
        model = cls(**dict(header["params"]))
        model.fill_ = arrays["fill"].astype(np.float32)
        model.image_shape_ = tuple(int(v) for v in header["image_shape"])
        model.n_factors_ = int(header["n_factors"])
        model.training_ = dict(header.get("training", {}))
        return model
