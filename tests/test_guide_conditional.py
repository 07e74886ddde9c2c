"""docs/plugins.md's conditional generator ("A conditional generator"), straight from the
page: it trains through zsbench.training.train on (images, factors) batches, passes the
conformance kit, and runs in a suite with the conditional_generation metric."""
from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from zsbench.testing import check_model

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
QUICK = {"epochs": 2, "hidden": 32, "progress": False, "device": "cpu"}


def _guide_module(path: str) -> Any:
    """docs/plugins.md's ``# <path>`` code block, executed as a module."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)
    code = next(b for b in blocks if b.startswith(f"# {path}\n"))
    name = path.removesuffix(".py").replace("/", "_")
    module = types.ModuleType(name)
    sys.modules[name] = module  # picklable classes, as an installed module's are
    exec(compile(code, f"{GUIDE}:{path}", "exec"), module.__dict__)  # noqa: S102
    return module


@pytest.fixture(scope="module")
def tinycvae() -> Any:
    return _guide_module("mypkg/tinycvae.py")


def test_the_guides_conditional_generator_passes_the_kit(tinycvae: Any) -> None:
    (cls,) = tinycvae.zsbench_add_models()
    assert cls.name == "tinycvae"
    names = []
    for check in check_model(cls(**QUICK)):
        names.append(check.name if hasattr(check, "name") else str(check))
        check()
    assert any("generate" in n for n in names)  # the generator checks ran
    with pytest.raises(Exception, match='parameter "latent_dim"'):
        cls(latent_dim=0)


def test_the_guides_conditional_generator_trains_on_both_arrays(tinycvae: Any) -> None:
    """The loss sees images and factors of the same rows: a model trained on shuffled
    factors learns a different decoder (the factors reach the loss)."""
    rng = np.random.default_rng(0)
    f = rng.uniform(0, 1, (64, 2))
    x = np.clip(f[:, :1, None, None] * np.ones((64, 1, 6, 6)), 0, 1).astype(np.float32)
    a = tinycvae.TinyCVAE(**QUICK).fit(x, seed=0, factors=f)
    b = tinycvae.TinyCVAE(**QUICK).fit(x, seed=0, factors=f[::-1].copy())
    req = np.array([[0.1, 0.5], [0.9, 0.5]])
    assert not np.array_equal(a.generate(req, seed=1), b.generate(req, seed=1))
    assert a.training_summary()["epochs_run"] == 2
    calls: list[int] = []
    tinycvae.TinyCVAE(**{**QUICK, "eval_every": 2}).fit(
        x, seed=0, factors=f, monitor=lambda step, m: calls.append(step))
    assert calls == [2, 4]  # 2 epochs of 2 steps of 32 rows: the monitor every 2 steps


def test_the_guides_conditional_generator_runs_in_a_suite(tinycvae: Any, tmp_path: Path) -> None:
    from zsbench.registry import Registry
    from zsbench.run import run_suite
    from zsbench.suite import load_suite

    suite_file = tmp_path / "suite.toml"
    suite_file.write_text("""
[suite]
name = "guide-conditional"
[dataset]
plugin = "bumps"
image_size = 12
n_samples = 300
[[holdout]]
shape = "box"
low = { x = 4.5, y = 4.5 }
high = { x = 7.5, y = 7.5 }
[[model]]
plugin = "tinycvae"
label = "tiny"
epochs = 2
hidden = 32
progress = false
device = "cpu"
[[metric]]
plugin = "conditional_generation"
max_requests = 16
samples = 2
""")
    registry = Registry(extra=[tinycvae])
    suite = load_suite(suite_file, registry=registry)
    out = run_suite(suite, registry=registry, run_dir=tmp_path / "run")
    (result,) = out.results
    assert result.status == "ok", result.error
    assert 0.0 <= result.scores["hole_gen_fail_rate"]["value"] <= 1.0
    assert result.training["epochs_run"] == 2
