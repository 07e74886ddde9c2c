from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import toy_plugins  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):  # -n auto: one worker per core, one thread each
    import torch

    torch.set_num_threads(1)

from zsbench.registry import Registry  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

TOY_SUITE = """
[suite]
name = "toy"
seeds = [0, 1]

[dataset]
plugin = "toy"
n_samples = 300

[[holdout]]
shape = "ball"
center = { a = 0.5, b = 0.5 }
radius = 0.2

[[transect]]
name = "T"
start = { a = 0.0, b = 0.5 }
end = { a = 1.0, b = 0.5 }
points = 9

[[model]]
plugin = "linear"
label = "pca2"

[[model]]
plugin = "linear"
label = "pca1-weighted"
latent_dim = 1
weighting = "low_b"

[[metric]]
plugin = "mse"

[profiles.smoke]
dataset.n_samples = 120
model.latent_dim = 1
"""


def report_checker():  # noqa: ANN201
    """``benchmarks/check_report.py`` as a module: the headless-browser check of a page."""
    if "check_report" in sys.modules:
        return sys.modules["check_report"]
    spec = importlib.util.spec_from_file_location("check_report",
                                                  REPO / "benchmarks" / "check_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_report"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep every test's dataset and model cache out of the user's home."""
    import os

    os.environ["ZSBENCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("zsbench-cache"))


@pytest.fixture(scope="session")
def toy_registry() -> Registry:
    return Registry(extra=[toy_plugins])


@pytest.fixture
def write_suite(tmp_path: Path):  # noqa: ANN201
    def write(text: str = TOY_SUITE, name: str = "suite.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
