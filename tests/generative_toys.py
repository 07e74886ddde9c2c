"""Toy plugins for the generative scores: a dataset that can recover its factors, and oracle
models (identity, replay, render, constant). Registered in code, not by entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from toy_plugins import ToyDataset

from zsbench import hookimpl
from zsbench.plugin import Model, Recovery


class RecoverableToy(ToyDataset):
    """The toy blob dataset, with exact inverse rendering by nearest render on a fine grid."""

    name = "toy_recover"

    def __init__(self, *, n_samples: int = 300, size: int = 8, grid: int = 81) -> None:
        super().__init__(n_samples=n_samples, size=size)
        self.grid = grid

    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        if getattr(self, "_grid_", None) is None:
            g = np.linspace(0.0, 1.0, self.grid)
            pts = np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)
            self._grid_ = (pts, self.render(pts).reshape(len(pts), -1) / 255.0)
        return self._grid_

    def recover(self, images: np.ndarray) -> Recovery:
        pts, renders = self._table()
        x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        d2 = ((x ** 2).sum(1)[:, None] - 2 * x @ renders.T + (renders ** 2).sum(1)[None, :])
        best = d2.argmin(axis=1)
        residual = np.sqrt(np.maximum(d2[np.arange(len(x)), best], 0.0) / x.shape[1])
        return Recovery(factors=pts[best].copy(), residual=residual)


class IdentityModel(Model):
    """The perfect autoencoder: the latent is the image itself."""

    name = "identity"

    def __init__(self, *, noise: float = 0.0) -> None:
        self.noise = noise

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> IdentityModel:
        self.shape_ = tuple(images.shape[1:])
        self.train_ = np.asarray(images, dtype=np.float32)
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(images, dtype=np.float32).reshape(len(images), -1)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        return np.clip(latents, 0, 1).reshape((len(latents), *self.shape_)).astype(np.float32)

    def invert(self, images: np.ndarray, *, seed: int) -> np.ndarray:
        return self.encode(images)

    def save(self, path: Path) -> None:
        np.save(Path(path).with_suffix(".npy"), self.train_)
        Path(path).write_text(json.dumps({"params": self.get_params()}))

    @classmethod
    def load(cls, path: Path) -> IdentityModel:
        m = cls(**json.loads(Path(path).read_text())["params"])
        return m.fit(np.load(Path(path).with_suffix(".npy")), seed=0)


class ReplayModel(IdentityModel):
    """The identity, with a 'prior' that replays training images (never the hole)."""

    name = "replay"

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        idx = np.random.default_rng(seed).integers(0, len(self.train_), size=n)
        return self.train_[idx]


class RenderModel(IdentityModel):
    """The identity, with a prior that renders uniform points of the toy space exactly."""

    name = "render"

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        toy = ToyDataset(size=self.shape_[-1])
        f = toy.space.sample_uniform(n, rng=np.random.default_rng(seed))
        return toy.render(f).astype(np.float32) / 255.0


class ConstantModel(Model):
    """Draws one blob, far from the hole, whatever it is asked: one latent, constant."""

    name = "constant"

    def __init__(self, *, at: float = 0.1) -> None:
        self.at = at

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> ConstantModel:
        size = images.shape[-1]
        self.image_ = ToyDataset(size=size).render(np.array([[self.at, self.at]]))[0] / 255.0
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        return np.zeros((len(images), 1), dtype=np.float32)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        return np.repeat(self.image_[None], len(latents), axis=0).astype(np.float32)

    def invert(self, images: np.ndarray, *, seed: int) -> np.ndarray:
        return self.encode(images)

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        return self.decode(np.zeros((n, 1)))

    def save(self, path: Path) -> None:
        np.save(Path(path).with_suffix(".npy"), self.image_)
        Path(path).write_text(json.dumps({"params": self.get_params()}))

    @classmethod
    def load(cls, path: Path) -> ConstantModel:
        m = cls(**json.loads(Path(path).read_text())["params"])
        m.image_ = np.load(Path(path).with_suffix(".npy"))
        return m


@hookimpl
def zsbench_add_datasets() -> list[type]:
    return [RecoverableToy]


@hookimpl
def zsbench_add_models() -> list[type]:
    return [IdentityModel, ReplayModel, RenderModel, ConstantModel]
