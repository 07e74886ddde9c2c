"""The model under test with its data (:class:`ModelHarness`), and the output checks that
the model and generator checks share."""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np

from zsbench.plugin import Model, needs_factors
from zsbench.testing._base import (
    PluginLike,
    Subject,
    _Fail,
    as_array,
    deterministic_torch,
    global_rng,
)
from zsbench.testing.data import (
    DEFAULT_IMAGE_SHAPE,
    DEFAULT_N_IMAGES,
    BlobsDataset,
    make_blob_factors,
    make_blob_images,
)

#: Requests the generator checks ask for: the blobs' corners, centre and edges.
REQUESTS = np.array([[0.1, 0.1], [0.9, 0.9], [0.5, 0.5], [0.1, 0.9], [0.9, 0.1],
                     [0.3, 0.7], [0.7, 0.3], [0.5, 0.2]])
#: Largest difference tolerated where the contract asks for identical images (float
#: round-off of a network evaluated on another batch size).
EXACT = 1e-5


class ModelHarness(Subject):
    """A model under test with its data: ``n_images`` blob images of ``image_shape``
    ``(C, H, W)``, a validation set and 8 probe images, and one shared fit (seed ``seed``)
    for the checks that only read it."""

    base = Model
    kind = "model"

    def __init__(self, plugin: PluginLike, *, label: str | None = None, seed: int = 0,
                 image_shape: tuple[int, int, int] = DEFAULT_IMAGE_SHAPE,
                 n_images: int = DEFAULT_N_IMAGES) -> None:
        super().__init__(plugin, label=label, seed=seed)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.images = make_blob_images(n_images, self.image_shape, seed=seed)
        self.factors = make_blob_factors(n_images, seed=seed)
        self.validation = make_blob_images(max(4, n_images // 4), self.image_shape,
                                           seed=seed + 1)
        self.probe = make_blob_images(8, self.image_shape, seed=seed + 2)
        self._fitted: tuple[Model, Any] | None = None
        self._encode_deterministic: bool | None = None
        self._generate_seeded: bool | None = None

    def fit_fresh(self, *, global_seed: int = 12345, seed: int | None = None,
                  weights: np.ndarray | None = None,
                  validation: np.ndarray | None = None) -> tuple[Model, Any]:
        """A fresh instance fitted under a given global random state (restored after)."""
        model = self.fresh()
        with global_rng(global_seed), deterministic_torch():
            returned = model.fit(self.images.copy(), seed=self.seed if seed is None else seed,
                                 weights=weights, validation=validation,
                                 **self.fit_extras(model))
        return model, returned

    def fit_extras(self, model: Model) -> dict[str, Any]:
        """What the runner passes beyond the images: the blobs' true ``factors [N, 2]`` to a
        model that needs them and the blobs' ``space`` to a ``fit`` that takes one."""
        extra: dict[str, Any] = {}
        if needs_factors(model):
            extra["factors"] = self.factors.copy()
        if "space" in inspect.signature(model.fit).parameters:
            extra["space"] = BlobsDataset().space
        return extra

    def fitted(self) -> Model:
        if self._fitted is None:
            self._fitted = self.fit_fresh()
        return self._fitted[0]

    def fitted_copy(self) -> Model:
        """A deep copy of the shared fit, for a check that calls a method which might
        change the model (``sample``, ``invert``, ``posterior``): the other checks keep
        the pristine one."""
        return copy.deepcopy(self.fitted())

    def fit_returned(self) -> Any:
        self.fitted()
        assert self._fitted is not None
        return self._fitted[1]

    def encode_is_deterministic(self) -> bool:
        """Whether encoding the probe images twice gives identical latents. Checks that
        compare encodings skip those comparisons otherwise: the failure belongs to
        :func:`check_encode_deterministic`, whose message names encode."""
        if self._encode_deterministic is None:
            m = self.fitted()
            a, b = np.asarray(m.encode(self.probe)), np.asarray(m.encode(self.probe))
            self._encode_deterministic = a.shape == b.shape and np.array_equal(a, b)
        return self._encode_deterministic

    def generate_is_seeded(self) -> bool:
        """Whether ``generate`` asked twice for the same request and seed gives the same
        images. Checks that compare draws skip those comparisons otherwise: the failure
        belongs to ``check_generate_same_seed_same_images``, whose message names the cause
        (a global or hidden random state), not the save precision or the batch."""
        if self._generate_seeded is None:
            m = self.fitted()
            a = np.asarray(m.generate(REQUESTS.copy(), seed=7), dtype=np.float64)
            b = np.asarray(m.generate(REQUESTS.copy(), seed=7), dtype=np.float64)
            self._generate_seeded = a.shape == b.shape and (
                a.size == 0 or float(np.abs(a - b).max()) <= EXACT)
        return self._generate_seeded


def _images_out(out: Any, what: str, n: int, image_shape: tuple[int, ...]) -> np.ndarray:
    arr = as_array(out, what)
    expected = [n, *image_shape]
    if list(arr.shape) != expected:
        raise _Fail(f"{what} returned shape {list(arr.shape)}; expected [N, C, H, W] = "
                    f"{expected}.")
    if not np.issubdtype(arr.dtype, np.floating):
        raise _Fail(f"{what} returned dtype {arr.dtype}; expected float32 images in [0, 1].")
    if not np.isfinite(arr).all():
        raise _Fail(f"{what} returned NaN or infinite values.")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        cause = ("they look like 8-bit intensities: divide by 255" if hi > 2.0 else
                 "end with a sigmoid, or clamp the output to [0, 1]")
        raise _Fail(f"{what} returned values in [{lo:g}, {hi:g}]; expected intensities in "
                    f"[0, 1] ({cause}). zsbench never clips: a run fails the job of a "
                    "model whose images leave [0, 1].")
    return arr


def _latents_out(out: Any, what: str, n: int) -> np.ndarray:
    arr = as_array(out, what)
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 1:
        raise _Fail(f"{what} returned shape {list(arr.shape)} for {n} images; expected "
                    f"[N, D] = [{n}, D] with D >= 1.")
    if not np.issubdtype(arr.dtype, np.floating):
        raise _Fail(f"{what} returned dtype {arr.dtype}; expected floating latents.")
    if not np.isfinite(arr).all():
        raise _Fail(f"{what} returned NaN or infinite latents.")
    return arr
