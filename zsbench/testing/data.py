"""Tiny generated data for the kit and for plugin authors' own tests: blob images, the
:class:`BlobsDataset` and synthetic evaluation contexts (:func:`make_eval_context`)."""

from __future__ import annotations

import numpy as np

from zsbench.plugin import Dataset, EvalContext, Model, Recovery, Split, TransectEval
from zsbench.regions import Ball, Transect, rim_points
from zsbench.space import Factor, LatentSpace
from zsbench.splits import split_indices

DEFAULT_IMAGE_SHAPE: tuple[int, int, int] = (1, 16, 16)
DEFAULT_N_IMAGES: int = 32


def _render_blobs(factors: np.ndarray, image_shape: tuple[int, int, int],
                  width: float) -> np.ndarray:
    """Gaussian blobs centred at ``factors [N, 2]`` (x, y in [0, 1]): uint8 ``[N, C, H, W]``;
    channel ``c`` is the blob scaled by ``1 / (1 + c)``."""
    c, h, w = image_shape
    f = np.asarray(factors, dtype=np.float64)
    ys = np.linspace(0.0, 1.0, h)[None, :, None]
    xs = np.linspace(0.0, 1.0, w)[None, None, :]
    d2 = (xs - f[:, 0, None, None]) ** 2 + (ys - f[:, 1, None, None]) ** 2
    blob = np.exp(-d2 / (2.0 * width ** 2))
    scale = 1.0 / (1.0 + np.arange(c, dtype=np.float64))
    img = blob[:, None] * scale[None, :, None, None]
    return np.round(255.0 * img).astype(np.uint8)


class BlobsDataset(Dataset):
    """Gaussian blobs at (x, y) on a small square canvas: the kit's tiny procedural data.

    Factors ``x`` and ``y`` in [0, 1] place the blob; images are ``uint8 [N, channels,
    size, size]``. Not registered as a plugin: the kit uses it to make training data and
    evaluation contexts, and its own tests run the dataset checks on it.
    """

    name = "blobs"

    def __init__(self, *, n_samples: int = 32, size: int = 16, channels: int = 1,
                 width: float = 0.12) -> None:
        self.n_samples = n_samples
        self.size = size
        self.channels = channels
        self.width = width

    @property
    def space(self) -> LatentSpace:
        return LatentSpace((Factor("x", 0.0, 1.0, description="blob centre, left to right"),
                            Factor("y", 0.0, 1.0, description="blob centre, top to bottom")))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def factors(self, *, seed: int) -> np.ndarray:
        return self.space.sample_uniform(self.n_samples, rng=np.random.default_rng(seed))

    def render(self, factors: np.ndarray) -> np.ndarray:
        f = self.space.check(factors)
        return _render_blobs(f, self.image_shape, self.width)

    def recover(self, images: np.ndarray) -> Recovery:
        """Blob centres of ``images [N, C, size, size]`` by inverse rendering (a 41 x 41
        grid of exact renders, refined)."""
        if getattr(self, "_grid_", None) is None:
            from zsbench.recovery import GridRecovery

            axes = [np.linspace(0.0, 1.0, 41)] * 2
            self._grid_ = GridRecovery(self.space, self.render, axes)
        return self._grid_.recover(images)


def make_blob_factors(n: int = DEFAULT_N_IMAGES, *, seed: int = 0) -> np.ndarray:
    """The blob centres ``float64 [n, 2]`` (x, y in [0, 1], :class:`BlobsDataset`'s space)
    of :func:`make_blob_images` with the same ``n`` and ``seed``."""
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=(n, 2))


def make_blob_images(n: int = DEFAULT_N_IMAGES,
                     image_shape: tuple[int, int, int] = DEFAULT_IMAGE_SHAPE, *,
                     seed: int = 0) -> np.ndarray:
    """``n`` blob images as a model sees them: float32 ``[n, C, H, W]`` in [0, 1], centred
    at :func:`make_blob_factors` of the same ``n`` and ``seed``."""
    factors = make_blob_factors(n, seed=seed)
    return (_render_blobs(factors, tuple(image_shape), 0.12).astype(np.float32)
            / np.float32(255.0))


class _LinearMaps(Model):
    """Least-squares linear encoder and decoder: the stand-in model of synthetic contexts."""

    name = "kit_linear"

    def __init__(self) -> None:
        pass

    def fit_pairs(self, images: np.ndarray, latents: np.ndarray) -> _LinearMaps:
        x = images.reshape(len(images), -1).astype(np.float64)
        z = np.hstack([latents, np.ones((len(latents), 1))])
        xa = np.hstack([x, np.ones((len(x), 1))])
        self.enc_ = np.linalg.lstsq(xa, latents, rcond=None)[0]
        self.dec_ = np.linalg.lstsq(z, x, rcond=None)[0]
        self.shape_ = images.shape[1:]
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        return np.hstack([x, np.ones((len(x), 1))]) @ self.enc_

    def decode(self, latents: np.ndarray) -> np.ndarray:
        z = np.hstack([np.asarray(latents, dtype=np.float64), np.ones((len(latents), 1))])
        out = np.clip(z @ self.dec_, 0.0, 1.0)
        return out.reshape((len(latents), *self.shape_)).astype(np.float32)


def _degrade(images: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Move each image ``[N, C, H, W]`` towards its negative by ``alpha [N]`` in [0, 1):
    every pixel's error grows with ``alpha`` (no pixel is 0.5 exactly in blob images)."""
    a = np.asarray(alpha, dtype=np.float32).reshape(-1, 1, 1, 1)
    return ((1.0 - a) * images + a * (1.0 - images)).astype(np.float32)


def make_eval_context(*, hole: bool = True, seed: int = 0, image_size: int = 16,
                      latent_dim: int = 3, n_samples: int = 240, degrade_hole: float = 0.0,
                      degrade_outside: float = 0.0) -> EvalContext:
    """A synthetic :class:`EvalContext` on blob images for testing metrics and outputs.

    ``n_samples`` points uniform over ``x, y`` in [0, 1]; with ``hole`` a disk of radius
    0.25 at (0.5, 0.5) is held out (the "hole" split, about 20 %), and of the rest a quarter
    is "test", the remainder "train". One transect "T1" crosses the space through the hole
    (11 points); with ``hole`` a "rim" split of as many fresh points just outside the hole
    (:func:`zsbench.regions.rim_points`), reconstructed like the outside. Latents
    ``[N, latent_dim]`` are the factors scaled to [-1, 1] plus small
    noise, then noise columns. Reconstructions are the images, degraded inside the hole by
    up to ``degrade_hole`` (growing with depth into the hole) and outside it by
    ``degrade_outside`` (0 = perfect, towards 1 = the negative image). Everything is
    drawn from ``seed``; latents do not depend on the degradation.
    """
    if not 0.0 <= degrade_hole < 1.0 or not 0.0 <= degrade_outside < 1.0:
        raise ValueError("degrade_hole and degrade_outside must lie in [0, 1).")
    dataset = BlobsDataset(n_samples=n_samples, size=image_size)
    space = dataset.space
    factors = dataset.factors(seed=seed)
    holdout = Ball(center={"x": 0.5, "y": 0.5}, radius=0.25) if hole else None
    cut = split_indices(factors, holdout, space, test_fraction=0.25, validation_fraction=0.0,
                        seed=seed)
    depth_all = cut.depth
    in_hole = (holdout.contains(factors, space) if holdout is not None
               else np.zeros(len(factors), dtype=bool))
    index = {name: idx for name, idx in cut.index.items() if name != "validation"}
    images = dataset.render(factors).astype(np.float32) / np.float32(255.0)
    max_depth = float(depth_all[in_hole].max()) if hole and in_hole.any() else 1.0

    def alpha(depth: np.ndarray | None, inside: np.ndarray) -> np.ndarray:
        out = np.full(len(inside), float(degrade_outside))
        if depth is not None and inside.any():
            rel = np.clip(depth[inside] / max(max_depth, 1e-12), 0.0, 1.0)
            out[inside] = degrade_hole * (0.25 + 0.75 * rel)
        return out

    noise = np.random.default_rng(seed + 1)
    latents_all = np.hstack([2.0 * factors - 1.0 + noise.normal(0, 0.02, factors.shape),
                             noise.normal(0, 0.1, (len(factors), max(latent_dim - 2, 0)))])
    latents_all = latents_all[:, :latent_dim]
    splits, latents, recons = {}, {}, {}
    for name, idx in index.items():
        d = None if depth_all is None else depth_all[idx]
        splits[name] = Split(factors=factors[idx], images=images[idx], depth=d)
        latents[name] = latents_all[idx]
        recons[name] = _degrade(images[idx], alpha(d, in_hole[idx]))
    model = _LinearMaps().fit_pairs(splits["train"].images, latents["train"])
    line = Transect.between("T1", np.array([0.0, 0.5]), np.array([1.0, 0.5]), 11)
    if hole and in_hole.any():
        rng = np.random.default_rng(seed)
        rng.permutation(int((~in_hole).sum()))  # the split's shuffle; the rim continues it
        rim = rim_points(holdout, space, depth_all[in_hole], rng=rng)
        rim_depth = holdout.depth(rim, space)
        rim_images = dataset.render(rim).astype(np.float32) / np.float32(255.0)
        splits["rim"] = Split(factors=rim, images=rim_images, depth=rim_depth)
        latents["rim"] = np.hstack([2.0 * rim - 1.0, noise.normal(
            0, 0.1, (len(rim), max(latent_dim - 2, 0)))])[:, :latent_dim]
        recons["rim"] = _degrade(rim_images, alpha(rim_depth, np.zeros(len(rim), bool)))
    t_images = dataset.render(line.points).astype(np.float32) / np.float32(255.0)
    t_depth = holdout.depth(line.points, space) if holdout is not None else None
    t_in = (holdout.contains(line.points, space) if holdout is not None
            else np.zeros(len(line.points), dtype=bool))
    t_latents = np.hstack([2.0 * line.points - 1.0,
                           np.zeros((len(line.points), max(latent_dim - 2, 0)))])[:, :latent_dim]
    transect = TransectEval(name="T1", t=line.t, factors=line.points, images=t_images,
                            reconstructions=_degrade(t_images, alpha(t_depth, t_in)),
                            latents=t_latents, in_hole=t_in)
    return EvalContext(dataset=dataset, space=space, model=model, label="kit", seed=seed,
                       splits=splits, latents=latents, reconstructions=recons,
                       transects=[transect], holdout=holdout)
