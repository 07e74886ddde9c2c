"""Tiny plugins for testing the core without torch: registered in code, not by entry point."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Literal

import numpy as np

from zsbench import Dataset, EvalContext, Metric, Model, Score, hookimpl
from zsbench.errors import TrainingError
from zsbench.space import Factor, LatentSpace


class ToyDataset(Dataset):
    """A blob at (a, b) on an 8x8 canvas."""

    name = "toy"

    def __init__(self, *, n_samples: int = 300, size: int = 8) -> None:
        self.n_samples = n_samples
        self.size = size

    @property
    def space(self) -> LatentSpace:
        return LatentSpace((Factor("a", 0.0, 1.0), Factor("b", 0.0, 1.0)))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (1, self.size, self.size)

    def factors(self, *, seed: int) -> np.ndarray:
        return self.space.sample_uniform(self.n_samples, rng=np.random.default_rng(seed))

    def render(self, factors: np.ndarray) -> np.ndarray:
        f = self.space.check(factors)
        g = np.linspace(0, 1, self.size)
        yy, xx = np.meshgrid(g, g, indexing="ij")
        d2 = (xx[None] - f[:, 0, None, None]) ** 2 + (yy[None] - f[:, 1, None, None]) ** 2
        return (255 * np.exp(-d2 / 0.05))[:, None].astype(np.uint8)

    def weightings(self) -> dict:
        return {"low_b": lambda f: (2.0 - f[:, 1]) / np.mean(2.0 - f[:, 1])}


class LinearModel(Model):
    """PCA with a linear decoder (numpy only)."""

    name = "linear"

    def __init__(self, *, latent_dim: int = 2, mode: Literal["ok", "boom", "nan", "die"] = "ok",
                 sleep: float = 0.0) -> None:
        self.latent_dim = latent_dim
        self.mode = mode
        self.sleep = sleep

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> LinearModel:
        time.sleep(self.sleep)
        if self.mode == "die":  # only ever under a process or ray executor
            os.kill(os.getpid(), signal.SIGKILL)
        if self.mode == "boom":
            raise RuntimeError("planted failure")
        if self.mode == "nan":
            raise TrainingError(self.name, "the loss became NaN at epoch 1.", "lower lr.")
        x = images.reshape(len(images), -1).astype(np.float64)
        w = np.ones(len(x)) if weights is None else weights
        self.mean_ = (x * w[:, None]).sum(0) / w.sum()
        rng = np.random.default_rng(seed)
        jitter = rng.normal(0, 1e-6, size=x.shape)
        _, _, vt = np.linalg.svd(x - self.mean_ + jitter, full_matrices=False)
        self.components_ = vt[: self.latent_dim]
        self.shape_ = images.shape[1:]
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        x = images.reshape(len(images), -1)
        return (x - self.mean_) @ self.components_.T

    def decode(self, latents: np.ndarray) -> np.ndarray:
        x = latents @ self.components_ + self.mean_
        return np.clip(x, 0, 1).reshape((len(latents), *self.shape_)).astype(np.float32)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"params": self.get_params(),
                                          "mean": self.mean_.tolist(),
                                          "components": self.components_.tolist(),
                                          "shape": list(self.shape_)}))

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        d = json.loads(Path(path).read_text())
        m = cls(**d["params"])
        m.mean_ = np.array(d["mean"])
        m.components_ = np.array(d["components"])
        m.shape_ = tuple(d["shape"])
        return m


class MSEMetric(Metric):
    """Mean squared reconstruction error per split."""

    name = "mse"

    def __init__(self, *, splits: list[str] = ["test", "hole"]) -> None:  # noqa: B006
        self.splits = splits

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        out = {}
        for s in self.splits:
            if s in ctx.splits and len(ctx.splits[s]):
                err = float(np.mean((ctx.splits[s].images - ctx.reconstructions[s]) ** 2))
            else:
                err = float("nan")
            out[f"{s}_mse"] = Score(err, higher_is_better=False, headline=True)
        return out


class ItemMSEMetric(Metric):
    """Per-image mean squared reconstruction error per split, with the per-image values
    (so every score gets a bootstrap interval over images)."""

    name = "item_mse"

    def __init__(self, *, splits: list[str] = ["test", "hole"]) -> None:  # noqa: B006
        self.splits = splits

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        out = {}
        for s in self.splits:
            if s in ctx.splits and len(ctx.splits[s]):
                x, r = ctx.splits[s].images, ctx.reconstructions[s]
                err = ((np.asarray(r, np.float64) - x) ** 2).reshape(len(x), -1).mean(axis=1)
                out[f"{s}_item_mse"] = Score(float(err.mean()), higher_is_better=False,
                                             headline=True, items=err)
            else:
                out[f"{s}_item_mse"] = Score(float("nan"), higher_is_better=False, headline=True)
        return out


SEED_OFFSETS = {0: 0.0, 1: 0.2, 2: -0.1, 3: 0.1, 4: -0.05, 5: 0.15}
"""PatternModel's error scale per training seed: ``scale * (1 + spread * offset)``."""


class PatternModel(Model):
    """Reconstructs an image plus a fixed, image-dependent pattern of amplitude ``scale``
    (times ``1 + spread * SEED_OFFSETS[seed]``): its per-image squared error is exactly
    proportional to the amplitude squared, so tests can plant a known change on the very
    same images."""

    name = "pattern"
    # A planted code change: tests set it to scale every amplitude without touching the
    # suite (as a change of the model's code would).
    planted: float = 1.0

    def __init__(self, *, scale: float = 1.0, spread: float = 0.0) -> None:
        self.scale = scale
        self.spread = spread

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> PatternModel:
        self.amplitude_ = (0.05 * self.scale * self.planted
                           * (1.0 + self.spread * SEED_OFFSETS.get(seed, 0.0)))
        self.shape_ = tuple(images.shape[1:])
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(images, dtype=np.float64).reshape(len(images), -1)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        x = np.asarray(latents, dtype=np.float64)
        pattern = np.cos(7.0 * x + 3.0 * x.sum(axis=1, keepdims=True))
        return (x + self.amplitude_ * pattern).reshape((len(x), *self.shape_))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"params": self.get_params(),
                                          "amplitude": self.amplitude_,
                                          "shape": list(self.shape_)}))

    @classmethod
    def load(cls, path: Path) -> PatternModel:
        d = json.loads(Path(path).read_text())
        m = cls(**d["params"])
        m.amplitude_ = d["amplitude"]
        m.shape_ = tuple(d["shape"])
        return m


@hookimpl
def zsbench_add_datasets() -> list[type]:
    return [ToyDataset]


@hookimpl
def zsbench_add_models() -> list[type]:
    return [LinearModel, PatternModel]


@hookimpl
def zsbench_add_metrics() -> list[type]:
    return [MSEMetric, ItemMSEMetric]
