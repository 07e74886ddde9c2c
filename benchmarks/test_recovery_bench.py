"""Inverse-rendering benchmarks (pytest-benchmark; not in the default test run). Run with::

    pytest benchmarks/test_recovery_bench.py --benchmark-only
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zsbench_plugins.datasets import GaussianDataset, PolarDataset


def test_recover_polar_5000_at_64(benchmark: Any) -> None:
    """Recovery of 5000 polar 64-px images (target: under 2 s). The grid of exact renders
    is built once before timing: it is cached on the dataset, as in a run."""
    ds = PolarDataset(n_samples=5000, image_size=64)
    factors = ds.space.sample_uniform(5000, rng=np.random.default_rng(1))
    images = ds.render(factors).astype(np.float32) / np.float32(255.0)
    ds.recover(images[:1])  # build the grid
    rec = benchmark.pedantic(ds.recover, args=(images,), rounds=3, iterations=1)
    assert np.abs(rec.factors - factors).mean() < 0.01


def test_build_polar_recovery_grid_at_64(benchmark: Any) -> None:
    """The one-off cost: rendering polar's recovery grid (61 x 81 exact renders)."""
    def build() -> None:
        PolarDataset(image_size=64).recover(np.zeros((1, 1, 64, 64), np.float32))

    benchmark.pedantic(build, rounds=1, iterations=1)


def test_recover_gaussian_2000(benchmark: Any) -> None:
    """Recovery of 2000 Gaussian heatmaps (grid built before timing)."""
    ds = GaussianDataset(sampling="uniform", n_samples=2000)
    factors = ds.factors(seed=0)
    images = ds.render(factors).astype(np.float32) / np.float32(255.0)
    ds.recover(images[:1])
    rec = benchmark.pedantic(ds.recover, args=(images,), rounds=2, iterations=1)
    assert rec.factors.shape == (2000, 3)
