"""Shared, fixed inputs of the performance benchmarks (pytest-benchmark; kept out of the
default test run: ``testpaths = ["tests"]``). See benchmarks/README.md."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
N_TRAIN = 512      # the fixed training set of the training benchmarks
IMAGE_SIZE = 64
BATCH_SIZE = 8
N_EVAL = 5000      # points of the metric benchmark (polar_hole's full dataset)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--torch-threads", type=int, default=1,
                     help="torch intra-op threads for the benchmarks (default 1: the most "
                          "stable figures; 0: torch's default)")


def pytest_configure(config: pytest.Config) -> None:
    threads = config.getoption("--torch-threads")
    if threads and threads > 0:
        import torch

        torch.set_num_threads(threads)


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    import torch

    machine_info["torch"] = torch.__version__
    machine_info["torch_threads"] = torch.get_num_threads()


@pytest.fixture(scope="session")
def polar_512() -> np.ndarray:
    """512 polar images at 64x64, float32 [512, 1, 64, 64] in [0, 1], from data seed 0."""
    from zsbench.plugin import to_float
    from zsbench_plugins.datasets import PolarDataset

    ds = PolarDataset(n_samples=N_TRAIN, image_size=IMAGE_SIZE)
    _, images = ds.load(seed=0)
    return to_float(images)


@pytest.fixture(scope="session")
def registry():  # noqa: ANN201
    from zsbench.registry import Registry

    return Registry(autoload=False)  # zsbench's own (standard) plugins only


@pytest.fixture(scope="session")
def eval_context(registry):  # noqa: ANN001, ANN201
    """An EvalContext of suites/polar_hole.toml (5000 points: train, test, hole, three
    transects) with synthetic latents and reconstructions: latents are a smooth function of
    the factors plus noise, reconstructions the images blurred toward grey plus noise."""
    from zsbench.plugin import EvalContext, TransectEval
    from zsbench.runner import prepare_data
    from zsbench.suite import load_suite

    suite = load_suite(REPO / "suites" / "polar_hole.toml", registry=registry)
    assert suite.config["dataset"]["n_samples"] == N_EVAL
    data = prepare_data(suite, registry)
    rng = np.random.default_rng(0)

    def latents(f: np.ndarray) -> np.ndarray:
        a, b = f[:, 0], f[:, 1]
        z = np.stack([a - 1.25, b - 1.0, 0.3 * a * b], axis=1)
        return (z + rng.normal(0, 0.05, size=z.shape)).astype(np.float32)

    def recon(x: np.ndarray) -> np.ndarray:
        r = 0.8 * x + 0.1 + rng.normal(0, 0.02, size=x.shape)
        return np.clip(r, 0, 1).astype(np.float32)

    z = {name: latents(s.factors) for name, s in data.splits.items()}
    r = {name: recon(s.images) for name, s in data.splits.items()}
    transects = [TransectEval(name=t.name, t=t.t, factors=t.factors, images=t.images,
                              reconstructions=recon(t.images), latents=latents(t.factors),
                              in_hole=t.in_hole) for t in data.transects]
    ctx = EvalContext(dataset=data.dataset, space=data.dataset.space, model=None, label="synthetic",
                      seed=0, splits=data.splits, latents=z, reconstructions=r,
                      transects=transects, holdout=suite.holdout)
    assert sum(len(v) for v in z.values()) == N_EVAL
    return ctx
