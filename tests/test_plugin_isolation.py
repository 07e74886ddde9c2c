"""Isolation: broken third-party distributions, found through real entry points, never break
`zsbench plugins` or a run that does not use them."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TOY_SUITE
from zsbench.cli import main
from zsbench.registry import Registry

# name -> (distribution, version, module source); each is an installed distribution with an
# entry point in the zsbench group, as pip would leave it (a .dist-info folder on sys.path)
BROKEN: dict[str, tuple[str, str, str]] = {
    "broken-import": ("zsbench-broken-import", "0.3", '''
raise ImportError("needs tensorflow, which is not installed")
'''),
    "broken-hook": ("zsbench-broken-hook", "1.2", '''
from zsbench import hookimpl

@hookimpl
def zsbench_add_models():
    raise RuntimeError("model registry offline")
'''),
    "bad-return": ("zsbench-bad-return", "0.1", '''
from zsbench import hookimpl

@hookimpl
def zsbench_add_metrics():
    return ["not a class"]
'''),
    "bad-signature": ("zsbench-bad-signature", "2.0", '''
from zsbench import hookimpl

@hookimpl
def zsbench_result_recorded(outcome):
    pass
'''),
    "noisy-observer": ("zsbench-noisy-observer", "0.9", '''
from zsbench import hookimpl

@hookimpl
def zsbench_result_recorded(result):
    raise ConnectionError("tracker unreachable")
'''),
}
TYPO = {"typo-hook": ("zsbench-typo-hook", "0.5", '''
from zsbench import hookimpl

@hookimpl
def zsbench_add_model():
    return []
''')}


def _module(ep: str) -> str:
    return "zsbench_isolation_" + ep.replace("-", "_")


def _install_fake(site: Path, plugins: dict[str, tuple[str, str, str]]) -> None:
    """Write each plugin as an installed distribution: a module plus a .dist-info folder."""
    for ep, (dist, version, source) in plugins.items():
        (site / f"{_module(ep)}.py").write_text(source)
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[zsbench]\n{ep} = {_module(ep)}\n")


@pytest.fixture
def broken_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site-packages"
    site.mkdir()
    _install_fake(site, BROKEN)
    for name in list(os.environ):
        if name.startswith("ZSBENCH_"):
            monkeypatch.delenv(name)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for ep in [*BROKEN, *TYPO]:
        sys.modules.pop(_module(ep), None)


def test_registry_reports_each_broken_distribution(broken_site: Path) -> None:
    registry = Registry()
    broken = {b.source: b for b in registry.broken}
    assert set(BROKEN) - {"noisy-observer"} <= set(broken)
    assert "noisy-observer" not in broken  # it loads; it fails only when called
    for ep in ("broken-import", "broken-hook", "bad-return", "bad-signature"):
        dist, version, _ = BROKEN[ep]
        assert (broken[ep].distribution, broken[ep].version) == (dist, version)
    assert "ImportError: needs tensorflow" in broken["broken-import"].error
    assert "RuntimeError: model registry offline" in broken["broken-hook"].error
    assert "not a subclass of zsbench.plugin.Metric" in broken["bad-return"].error
    assert "outcome" in broken["bad-signature"].error
    assert "Traceback" in broken["broken-import"].detail
    assert {"polar", "gaussian", "digits"} <= set(registry.names("dataset"))
    assert {"holdout_reconstruction", "probe"} <= set(registry.names("metric"))


def test_zsbench_plugins_lists_the_broken_ones_and_everything_else(
        broken_site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    listed, _, broken = out.partition("broken plugins (not loaded):")
    assert "polar" in listed and "holdout_reconstruction" in listed
    for ep in ("broken-import", "broken-hook", "bad-return", "bad-signature"):
        dist, version, _ = BROKEN[ep]
        assert f"{ep} from {dist} {version}: " in broken, broken
    assert "needs tensorflow" in broken and "model registry offline" in broken


def test_a_run_that_does_not_use_them_succeeds(broken_site: Path, write_suite,  # noqa: ANN001
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    monkeypatch.setenv("ZSBENCH_CACHE_DIR", str(tmp_path / "cache"))  # not the user's cache
    run_dir = tmp_path / "run"
    assert main(["run", str(write_suite()), "--profile", "smoke", "--out", str(run_dir)]) == 0
    err = capsys.readouterr().err
    # the observer that raises is reported, with its distribution, and the run goes on
    assert "noisy-observer (zsbench-noisy-observer) raised ConnectionError" in err
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert all(j["status"] == "ok" for j in manifest["jobs"])
    for p in manifest["plugins"]:  # each plugin used, with its distribution and version
        assert set(p) >= {"kind", "name", "distribution", "version"}
    assert {p["name"] for p in manifest["plugins"]} == {"toy", "linear", "mse"}
    assert not {p["distribution"] for p in manifest["plugins"]} & {
        d for d, _, _ in BROKEN.values()}


def test_a_suite_naming_a_plugin_that_failed_to_load_is_a_clear_error(
        broken_site: Path, write_suite, capsys: pytest.CaptureFixture[str],  # noqa: ANN001
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    path = write_suite(TOY_SUITE + '\n[[model]]\nplugin = "tf_gan"\n')
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert 'unknown model plugin "tf_gan"' in err and "(see: zsbench plugins)" in err


def test_disabling_a_broken_entry_point_or_autoload(broken_site: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZSBENCH_DISABLE_PLUGINS", "broken-import,broken-hook")
    sources = {b.source for b in Registry().broken}
    assert not sources & {"broken-import", "broken-hook"} and "bad-return" in sources
    monkeypatch.delenv("ZSBENCH_DISABLE_PLUGINS")
    monkeypatch.setenv("ZSBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = Registry()
    assert registry.broken == []
    assert "polar" in registry.names("dataset")
    assert {p.distribution for p in registry.all()} == {"zsbench"}


def test_a_misspelt_hook_is_reported_not_fatal(broken_site: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _install_fake(broken_site, TYPO)
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "typo-hook from zsbench-typo-hook 0.5: " in out
    assert "zsbench_add_model" in out and "polar" in out
