"""Render-speed benchmarks of the procedural datasets (pytest-benchmark; not in the default
test run). Run with::

    pytest benchmarks/test_render_bench.py --benchmark-only
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zsbench_plugins.datasets import GaussianDataset, GaussianTDataset, PolarDataset, SpritesDataset


def test_render_polar_5000_at_64(benchmark: Any) -> None:
    """E1's dataset: 5000 uniform points, 64x64 (target: well under 2 s on 2 cores)."""
    ds = PolarDataset(n_samples=5000, image_size=64)
    factors = ds.factors(seed=0)
    images = benchmark(ds.render, factors)
    assert images.shape == (5000, 1, 64, 64) and images.dtype == np.uint8


def test_render_polar_200_at_256(benchmark: Any) -> None:
    """Large images: 200 points at 256x256."""
    ds = PolarDataset(n_samples=200, image_size=256)
    factors = ds.factors(seed=0)
    images = benchmark(ds.render, factors)
    assert images.shape == (200, 1, 256, 256)


def test_render_gaussian_grid_11875(benchmark: Any) -> None:
    """E3's dataset: the full 11875-point grid at 36x36 (target: under 1 s)."""
    ds = GaussianDataset()
    factors = ds.factors(seed=0)
    images = benchmark(ds.render, factors)
    assert images.shape == (11875, 1, 36, 36) and images.dtype == np.uint8


def test_render_gaussian_t_grid_11875(benchmark: Any) -> None:
    """E4's dataset: the full grid with df in {2, 200}."""
    ds = GaussianTDataset()
    factors = ds.factors(seed=0)
    images = benchmark(ds.render, factors)
    assert images.shape == (11875, 1, 36, 36)


def test_render_sprites_100000_at_64(benchmark: Any) -> None:
    """Procedural dSprites: 100 000 uniform points at 64x64 (target: under 5 s)."""
    ds = SpritesDataset(sampling="uniform", n_samples=100_000)
    factors = ds.factors(seed=0)
    images = benchmark.pedantic(ds.render, args=(factors,), rounds=3, iterations=1)
    assert images.shape == (100_000, 1, 64, 64) and images.dtype == np.uint8
