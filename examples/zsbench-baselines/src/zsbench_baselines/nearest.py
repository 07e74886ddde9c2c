"""The ``nearest`` model: copy the nearest training image (pure memorisation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zsbench_baselines._linear import check_latents, load_npz, save_npz
from zsbench_baselines.pca import PCAModel

FORMAT = "zsbench_baselines.nearest/1"
CHUNK = 1024


class NearestModel(PCAModel):
    """Nearest training image: decodes to a verbatim copy of the closest training example.

    ``encode(images [N, C, H, W]) -> [N, latent_dim]``: coordinates on the leading
    principal axes of the training images (inherited from the ``pca`` model). ``decode(latents
    [N, latent_dim]) -> [N, C, H, W]``: the training image whose code is nearest
    (Euclidean; ties go to the earlier image). It can only ever output images it saw, so
    its error inside the hole is what memorisation alone achieves: a generative model
    that does no better there has not generalised.
    """

    name = "nearest"

    def __init__(self, *, latent_dim: int = 16) -> None:
        super().__init__(latent_dim=latent_dim)

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> NearestModel:
        """Fit the principal axes as ``pca`` does, then remember ``images [N, C, H, W]``
        and their codes; ``validation`` is ignored."""
        super().fit(images, seed=seed, weights=weights, validation=validation)
        self.images_ = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
        self.codes_ = self.encode(self.images_)
        return self

    def nearest_index(self, latents: np.ndarray) -> np.ndarray:
        """Index ``[N]`` of the training image nearest to each of ``latents [N, D]``."""
        z = check_latents(latents, self.name, self.latent_dim)
        c2 = (self.codes_ ** 2).sum(axis=1)
        out = np.empty(len(z), dtype=np.int64)
        for start in range(0, len(z), CHUNK):
            block = z[start:start + CHUNK]
            d2 = c2[None, :] - 2.0 * block @ self.codes_.T
            out[start:start + len(block)] = np.argmin(d2, axis=1)
        return out

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Copies of the nearest training images: float32 ``[N, C, H, W]`` in [0, 1]."""
        return self.images_[self.nearest_index(latents)].copy()

    def training_summary(self) -> dict[str, Any]:
        return {"n_train": int(len(self.images_))}

    def save(self, path: Path) -> None:
        """A compressed ``.npz``: the training images are the model."""
        save_npz(path, FORMAT, self.get_params(), {
            "mean": self.mean_, "components": self.components_, "codes": self.codes_,
            "images": self.images_}, compress=True)

    @classmethod
    def load(cls, path: Path) -> NearestModel:
        params, arrays = load_npz(path, FORMAT)
        model = cls(**params)
        model.mean_ = arrays["mean"]
        model.components_ = arrays["components"]
        model.codes_ = arrays["codes"]
        model.images_ = arrays["images"]
        model.image_shape_ = tuple(int(s) for s in model.images_.shape[1:])
        return model
