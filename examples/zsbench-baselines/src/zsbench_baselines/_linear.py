"""Shared by the baseline models: weighted PCA, shape checks and safe ``.npz`` checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from zsbench.errors import DataError


def flatten_images(images: np.ndarray, model: str,
                   image_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``images [N, C, H, W]`` as float64 ``[N, C*H*W]``; a :class:`DataError` naming the
    expected shape when ``images`` is not 4-D or (given ``image_shape``) not
    ``[N, *image_shape]``."""
    arr = np.asarray(images)
    if arr.ndim != 4 or (image_shape is not None and tuple(arr.shape[1:]) != tuple(image_shape)):
        want = ("[N, C, H, W]" if image_shape is None
                else "[N, " + ", ".join(str(int(s)) for s in image_shape) + "]")
        raise DataError(f'model "{model}": expected images of shape {want}, got '
                        f"{list(arr.shape)}.")
    return arr.reshape(len(arr), -1).astype(np.float64)


def check_latents(latents: np.ndarray, model: str, dim: int) -> np.ndarray:
    """``latents`` as float64 ``[N, dim]``, or a :class:`DataError` naming the shapes."""
    z = np.asarray(latents)
    if z.ndim != 2 or z.shape[1] != dim:
        raise DataError(f'model "{model}": expected latents of shape [N, {dim}], got '
                        f"{list(z.shape)}.")
    return z.astype(np.float64)


def check_weights(weights: np.ndarray | None, n: int, model: str) -> np.ndarray:
    """Per-sample weights ``[n]`` normalised to mean 1 (ones when ``weights`` is None)."""
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w <= 0).any():
        raise DataError(f'model "{model}": weights must be {n} positive finite numbers [N], '
                        f"got shape {list(w.shape)}.")
    return w / w.mean()


def weighted_pca(x: np.ndarray, weights: np.ndarray, k: int, *, seed: int,
                 model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` leading principal axes of rows ``x [N, P]`` weighted by ``weights [N]``.

    Returns ``(mean [P], components [k, P], explained_variance_ratio [k])``. A randomized
    SVD seeded by ``seed`` keeps large images fast; signs are fixed (the largest entry of
    each axis is positive), so the same seed gives the same axes."""
    n, p = x.shape
    if not 1 <= k <= min(n, p):
        raise DataError(f'model "{model}": latent_dim = {k} needs at least {k} training '
                        f"images of at least {k} pixels; got {n} images of {p} pixels. Fix: "
                        f"lower latent_dim.")
    from sklearn.utils.extmath import randomized_svd  # on use: slow to import

    mean = (weights[:, None] * x).sum(axis=0) / weights.sum()
    xc = (x - mean) * np.sqrt(weights / weights.sum())[:, None]
    _, s, vt = randomized_svd(xc, n_components=k, n_iter=7, random_state=seed,
                              flip_sign=False)
    pivot = np.argmax(np.abs(vt), axis=1)
    vt = vt * np.sign(vt[np.arange(k), pivot])[:, None]
    total = float((xc ** 2).sum())
    ratio = (s ** 2) / total if total > 0 else np.zeros(k)
    return mean, vt, ratio


def save_npz(path: Path, kind: str, params: dict[str, Any], arrays: dict[str, np.ndarray],
             *, compress: bool = False) -> None:
    """Write ``arrays`` and the JSON ``params`` to exactly ``path`` (no pickles)."""
    payload = {"format": np.array(kind), "params": np.array(json.dumps(params)), **arrays}
    with open(path, "wb") as fh:
        (np.savez_compressed if compress else np.savez)(fh, **payload)


def load_npz(path: Path, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read what :func:`save_npz` wrote: ``(params, arrays)``; pickles are refused."""
    with np.load(Path(path), allow_pickle=False) as data:
        found = str(data["format"]) if "format" in data.files else "none"
        if found != kind:
            raise DataError(f"{path}: a {found!r} checkpoint, not {kind!r}.")
        params = json.loads(str(data["params"]))
        arrays = {k: data[k] for k in data.files if k not in ("format", "params")}
    return params, arrays
