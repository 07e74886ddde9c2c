"""Recorded dependencies: a plugin declares the distributions it wraps; their versions go
into the manifest, the cache key and baselines, every plugin's distribution and version
goes into baselines, and ``compare`` names version differences."""

from __future__ import annotations

import json
import types
from pathlib import Path

import numpy as np
import pytest
import toy_plugins
from conftest import TOY_SUITE

from zsbench import hookimpl
from zsbench.compare import check_run, compare_runs, format_comparison, write_baseline
from zsbench.jobs import Job
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.runner import model_key
from zsbench.suite import load_suite


class WrappingModel(toy_plugins.LinearModel):
    """A linear model standing in for one that wraps another library."""

    name = "wrapping"
    depends_on = ("numpy", "zsbench-no-such-distribution")


PLUGIN = types.ModuleType("wrapping_plugin")
PLUGIN.zsbench_add_models = hookimpl(lambda: [WrappingModel])  # type: ignore[attr-defined]
SUITE = TOY_SUITE.replace('plugin = "linear"\nlabel = "pca2"', 'plugin = "wrapping"\nlabel = "w"')


@pytest.fixture
def registry() -> Registry:
    return Registry(extra=[toy_plugins, PLUGIN])


def _run(registry: Registry, where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "suite.toml").write_text(SUITE)
    suite = load_suite(where / "suite.toml", registry=registry)
    return run_suite(suite, registry=registry, run_dir=where / "run").run_dir


def test_declared_versions_reach_the_manifest_and_the_baseline(registry, tmp_path) -> None:
    assert WrappingModel.dependencies() == {"numpy": np.__version__,
                                            "zsbench-no-such-distribution": "not installed"}
    run_dir = _run(registry, tmp_path / "a")
    plugins = json.loads((run_dir / "manifest.json").read_text())["plugins"]
    wrapping = next(p for p in plugins if p["name"] == "wrapping")
    assert wrapping["dependencies"]["numpy"] == np.__version__
    assert all({"distribution", "version"} <= set(p) for p in plugins)
    data = write_baseline(run_dir, tmp_path / "base.json")
    assert set(data["plugins"]) == {"dataset toy", "model wrapping", "model linear",
                                    "metric mse"}
    assert data["plugins"]["model wrapping"]["dependencies"] == [
        f"numpy=={np.__version__}", "zsbench-no-such-distribution==not installed"]
    linear = data["plugins"]["model linear"]
    assert linear["dependencies"] == [] and {"distribution", "version"} <= set(linear)
    assert check_run(run_dir, tmp_path / "base.json").plugin_differences == []


def test_a_dependency_version_is_part_of_the_cache_key(registry, tmp_path, monkeypatch) -> None:
    (tmp_path / "suite.toml").write_text(SUITE)
    suite = load_suite(tmp_path / "suite.toml", registry=registry)
    job = Job(label="w", plugin="wrapping", params={}, weighting=None, seed=0)
    before = model_key(suite, registry, job)
    monkeypatch.setattr(WrappingModel, "dependencies", classmethod(lambda cls: {"numpy": "0.1"}))
    assert model_key(suite, registry, job) != before
    plain = Job(label="pca1-weighted", plugin="linear", params={"latent_dim": 1},
                weighting="low_b", seed=0)
    monkeypatch.undo()
    key = model_key(suite, registry, plain)
    monkeypatch.setattr(WrappingModel, "dependencies", classmethod(lambda cls: {"numpy": "0.1"}))
    assert model_key(suite, registry, plain) == key  # other plugins' keys are untouched


def test_compare_names_plugin_and_dependency_version_differences(registry, tmp_path,
                                                                 monkeypatch) -> None:
    run_a = _run(registry, tmp_path / "a")
    write_baseline(run_a, tmp_path / "base.json")
    monkeypatch.setattr(WrappingModel, "dependencies",
                        classmethod(lambda cls: {"numpy": "0.0.1"}))
    run_b = _run(registry, tmp_path / "b")
    manifest = json.loads((run_b / "manifest.json").read_text())
    for p in manifest["plugins"]:
        if p["name"] == "mse":
            p["version"] = "9.9"
    (run_b / "manifest.json").write_text(json.dumps(manifest))
    for cmp in (compare_runs(run_a, run_b), check_run(run_b, tmp_path / "base.json")):
        assert (f'model "wrapping" depends on numpy {np.__version__} vs 0.0.1'
                in cmp.plugin_differences)
        assert any(d.startswith('metric "mse": ') and d.endswith(" 9.9")
                   for d in cmp.plugin_differences), cmp.plugin_differences
        assert 'zsbench-no-such-distribution not installed vs (not recorded)' in " ".join(
            cmp.plugin_differences)
        text = format_comparison(cmp)
        assert "plugin versions differ:" in text and "numpy" in text


def test_zsbench_plugins_lists_declared_dependencies(registry, monkeypatch, capsys) -> None:
    from zsbench import cli

    monkeypatch.setattr(cli, "_registry", lambda: registry)
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "depends on" in out.splitlines()[0]
    line = next(s for s in out.splitlines() if s.split()[:2] == ["model", "wrapping"])
    assert f"numpy {np.__version__}, zsbench-no-such-distribution not installed" in line
    plain = next(s for s in out.splitlines() if s.split()[:2] == ["model", "linear"])
    assert plain.split()[4] == "-"
