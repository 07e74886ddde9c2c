"""The ``pca`` model: principal component analysis with a linear decoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zsbench import Model
from zsbench.errors import PluginParameterError
from zsbench_baselines._linear import (
    check_latents,
    check_weights,
    flatten_images,
    load_npz,
    save_npz,
    weighted_pca,
)

FORMAT = "zsbench_baselines.pca/1"


class PCAModel(Model):
    """PCA with a linear decoder: the best any linear encoder/decoder pair can do (numpy).

    ``encode(images [N, C, H, W]) -> [N, latent_dim]`` projects the flattened images onto
    the ``latent_dim`` leading principal axes of the (weighted) training images;
    ``decode(latents [N, latent_dim]) -> [N, C, H, W]`` maps back linearly and clips to
    [0, 1]. No training loop: ``fit`` is one randomized SVD seeded by ``seed``. A model
    that cannot beat this baseline inside the hole has learnt nothing non-linear there.
    """

    name = "pca"

    def __init__(self, *, latent_dim: int = 3) -> None:
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise PluginParameterError("model", self.name, "latent_dim",
                                       f"got {latent_dim!r}.", "give a positive integer.")
        self.latent_dim = latent_dim

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> PCAModel:
        """Fit the axes to ``images [N, C, H, W]`` (``weights [N]`` weight each image;
        ``validation`` is not needed and ignored)."""
        x = flatten_images(images, self.name)
        w = check_weights(weights, len(x), self.name)
        self.mean_, self.components_, self.explained_variance_ratio_ = weighted_pca(
            x, w, self.latent_dim, seed=seed, model=self.name)
        self.image_shape_ = tuple(int(s) for s in np.asarray(images).shape[1:])
        self.n_train_ = len(x)
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Coordinates on the principal axes: ``[N, latent_dim]`` float64."""
        x = flatten_images(images, self.name, self.image_shape_)
        return (x - self.mean_) @ self.components_.T

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Linear reconstruction, clipped: float32 ``[N, C, H, W]`` in [0, 1]."""
        z = check_latents(latents, self.name, self.latent_dim)
        x = np.clip(z @ self.components_ + self.mean_, 0.0, 1.0)
        return x.reshape((len(z), *self.image_shape_)).astype(np.float32)

    def training_summary(self) -> dict[str, Any]:
        return {"n_train": int(self.n_train_),
                "explained_variance_ratio": [float(v) for v in self.explained_variance_ratio_]}

    def save(self, path: Path) -> None:
        """An ``.npz`` file (whatever ``path`` is called): axes, mean and parameters."""
        save_npz(path, FORMAT, self.get_params(), {
            "mean": self.mean_, "components": self.components_,
            "explained_variance_ratio": self.explained_variance_ratio_,
            "image_shape": np.array(self.image_shape_, dtype=np.int64),
            "n_train": np.array(self.n_train_, dtype=np.int64)})

    @classmethod
    def load(cls, path: Path) -> PCAModel:
        params, arrays = load_npz(path, FORMAT)
        model = cls(**params)
        model.mean_ = arrays["mean"]
        model.components_ = arrays["components"]
        model.explained_variance_ratio_ = arrays["explained_variance_ratio"]
        model.image_shape_ = tuple(int(s) for s in arrays["image_shape"])
        model.n_train_ = int(arrays["n_train"])
        return model
