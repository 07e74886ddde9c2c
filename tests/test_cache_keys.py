"""Cache keys cover all the code that decides a result: a plugin's helper modules, zsbench's
training loop and the standard networks, a dataset's render code. A stale model served from
the cache would turn a regression check into a false pass."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from conftest import TOY_SUITE

from zsbench.cache import Cache, code_hash, source_files
from zsbench.compare import check_run, write_baseline
from zsbench.jobs import Job
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.runner import dataset_key, model_key
from zsbench.suite import load_suite

INIT = '''
from zsbench import hookimpl
import toy_plugins
from {pkg}._helper import shrink
from {pkg}._render import brighten


class HelperModel(toy_plugins.LinearModel):
    name = "helper_linear"

    def fit(self, images, *, seed, weights=None, validation=None):
        super().fit(images, seed=seed, weights=weights, validation=validation)
        self.mean_ = self.mean_ * shrink()
        return self


class HelperDataset(toy_plugins.ToyDataset):
    name = "helper_toy"

    def render(self, factors):
        return brighten(super().render(factors))


@hookimpl
def zsbench_add_models():
    return [HelperModel]


@hookimpl
def zsbench_add_datasets():
    return [HelperDataset]
'''


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """A third-party plugin package whose model's fit and dataset's render each call a
    helper module of their own; returns a function that (re)imports it."""
    pkg = f"tp_{tmp_path.name.replace('-', '_')}"
    root = tmp_path / "src" / pkg
    root.mkdir(parents=True)
    (root / "__init__.py").write_text(INIT.format(pkg=pkg))
    (root / "_helper.py").write_text("def shrink():\n    return 1.0\n")
    (root / "_render.py").write_text("def brighten(images):\n    return images\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)

    def load():  # noqa: ANN202
        for name in [n for n in sys.modules if n == pkg or n.startswith(pkg + ".")]:
            del sys.modules[name]
        importlib.invalidate_caches()
        return importlib.import_module(pkg), root

    yield load
    for name in [n for n in sys.modules if n == pkg or n.startswith(pkg + ".")]:
        del sys.modules[name]


def _suite(tmp_path: Path, registry: Registry, dataset: str = "toy"):  # noqa: ANN202
    text = TOY_SUITE.replace('plugin = "linear"\nlabel = "pca2"',
                             'plugin = "helper_linear"\nlabel = "h"')
    text = text.replace('plugin = "toy"', f'plugin = "{dataset}"').replace("[0, 1]", "[0]")
    (tmp_path / "suite.toml").write_text(text)
    return load_suite(tmp_path / "suite.toml", registry=registry)


def _registry(module: object) -> Registry:
    import toy_plugins

    return Registry(extra=[toy_plugins, module])


def test_editing_a_helper_module_of_a_model_changes_its_key(third_party, tmp_path) -> None:
    module, root = third_party()
    registry = _registry(module)
    suite = _suite(tmp_path, registry)
    job = Job(label="h", plugin="helper_linear", params={}, weighting=None, seed=0)
    helper = root / "_helper.py"
    assert helper in source_files(module.HelperModel)
    before = model_key(suite, registry, job)
    helper.write_text("def shrink():\n    return 0.01\n")
    assert model_key(suite, registry, job) != before
    # the plain toy model, defined elsewhere, is not retrained for it
    plain = Job(label="pca1-weighted", plugin="linear", params={"latent_dim": 1},
                weighting="low_b", seed=0)
    key = model_key(suite, registry, plain)
    helper.write_text("def shrink():\n    return 0.5\n")
    assert model_key(suite, registry, plain) == key


def test_editing_a_datasets_render_code_changes_its_key(third_party, tmp_path) -> None:
    module, root = third_party()
    registry = _registry(module)
    suite = _suite(tmp_path, registry, dataset="helper_toy")
    before = dataset_key(suite, registry)
    (root / "_render.py").write_text("def brighten(images):\n    return images // 2\n")
    assert dataset_key(suite, registry) != before


def test_zsbench_training_loop_and_standard_networks_are_in_every_key(monkeypatch) -> None:
    registry = Registry()
    vae = registry.get("model", "vae").cls
    files = {(p.parent.name, p.name) for p in source_files(vae)}
    assert {("zsbench", "training.py"), ("models", "nets.py")} <= files
    polar = registry.get("dataset", "polar").cls
    before_model, before_data = code_hash(vae), code_hash(polar)
    read = Path.read_bytes

    def edited(path: Path) -> bytes:
        data = read(path)
        return data + b"\n# edited\n" if path.name == "training.py" else data

    monkeypatch.setattr(Path, "read_bytes", edited)
    assert code_hash(vae) != before_model
    assert code_hash(polar) != before_data


def test_a_key_does_not_depend_on_where_the_checkout_lies(third_party, tmp_path) -> None:
    module, root = third_party()
    before = code_hash(module.HelperModel)
    moved = tmp_path / "elsewhere"
    (tmp_path / "src").rename(moved)
    sys.path.insert(0, str(moved))
    try:
        for name in [n for n in sys.modules if n.startswith(module.__name__)]:
            del sys.modules[name]
        again = importlib.import_module(module.__name__)
        assert code_hash(again.HelperModel) == before
    finally:
        sys.path.remove(str(moved))


def test_a_planted_regression_in_a_helper_is_caught_by_check_after_a_cached_run(
        third_party, tmp_path) -> None:
    cache = Cache(tmp_path / "cache")
    module, root = third_party()
    registry = _registry(module)
    first = run_suite(_suite(tmp_path, registry), registry=registry, run_dir=tmp_path / "a",
                      cache=cache, executor=registry.create("executor", "local", {}))
    write_baseline(first.run_dir, tmp_path / "base.json")
    assert check_run(first.run_dir, tmp_path / "base.json").exit_code == 0

    (root / "_helper.py").write_text("def shrink():\n    return 0.01\n")  # the regression
    module, _ = third_party()
    registry = _registry(module)
    second = run_suite(_suite(tmp_path, registry), registry=registry, run_dir=tmp_path / "b",
                       cache=cache, executor=registry.create("executor", "local", {}))
    job = next(j for j in second.manifest["jobs"] if j["label"] == "h")
    assert job["trained"] and not job["training"]["from_cache"]
    untouched = next(j for j in second.manifest["jobs"] if j["label"] == "pca1-weighted")
    assert untouched["training"]["from_cache"]
    cmp = check_run(second.run_dir, tmp_path / "base.json")
    assert cmp.exit_code == 1
    assert {r.model for r in cmp.regressions} == {"h"}


def test_code_hash_is_cheap_enough_for_every_run() -> None:
    registry = Registry()
    files = source_files(registry.get("model", "vae").cls)
    # the zsbench distribution and nothing of torch, numpy or the standard library
    assert all("site-packages" not in str(p) for p in files)
    assert 10 < len(files) < 400
