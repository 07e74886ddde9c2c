"""Plugin discovery, lookup errors, duplicates and broken plugins."""

from __future__ import annotations

import subprocess
import sys

import pytest

import toy_plugins
from zsbench import hookimpl
from zsbench.errors import DuplicatePluginError, PluginParameterError, UnknownPluginError
from zsbench.registry import Registry


def test_unknown_name_suggests_and_lists(toy_registry) -> None:
    with pytest.raises(UnknownPluginError) as info:
        toy_registry.get("model", "linaer")
    msg = str(info.value)
    assert msg.startswith('unknown model plugin "linaer"; did you mean "linear"? available: ')
    assert "linear" in msg.split("available:")[1]
    assert msg.endswith("(see: zsbench plugins)")


def test_standard_plugins_come_through_entry_points() -> None:
    registry = Registry()
    names = {(p.kind, p.name): p for p in registry.all()}
    if ("model", "vae") not in names:
        pytest.skip("standard plugins not installed")
    for key in [("dataset", "polar"), ("model", "vae"), ("model", "ae"),
                ("metric", "probe"), ("output", "transect_strips")]:
        assert names[key].distribution == "zsbench"
        assert names[key].source.startswith("standard-")
        assert names[key].summary


class Twin:
    """Another plugin object contributing a dataset named "toy"."""

    @hookimpl
    def zsbench_add_datasets(self) -> list[type]:
        class Other(toy_plugins.ToyDataset):
            name = "toy"

        return [Other]


def test_two_plugins_with_one_name_are_rejected_naming_both() -> None:
    with pytest.raises(DuplicatePluginError) as info:
        Registry(autoload=False, extra=[toy_plugins, Twin()])
    msg = str(info.value)
    assert 'two dataset plugins are named "toy"' in msg
    assert "toy_plugins" in msg and "extra-1" in msg


class Raising:
    @hookimpl
    def zsbench_add_models(self) -> list[type]:
        raise ImportError("needs tensorflow")


def test_a_broken_plugin_does_not_break_the_others(monkeypatch) -> None:
    monkeypatch.setenv("ZSBENCH_PLUGINS", "no_such_plugin_module")
    registry = Registry(extra=[toy_plugins, Raising()])
    assert "linear" in registry.names("model")
    errors = {b.source: b.error for b in registry.broken}
    assert "ModuleNotFoundError" in errors["no_such_plugin_module"]
    assert any("needs tensorflow" in e for e in errors.values())


def test_autoload_off_keeps_only_zsbench_and_named_plugins(monkeypatch) -> None:
    monkeypatch.setenv("ZSBENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("ZSBENCH_PLUGINS", "toy_plugins")
    registry = Registry()
    assert registry.autoload is False
    assert "toy" in registry.names("dataset")
    assert {p.distribution for p in registry.all()} <= {"zsbench", "(ZSBENCH_PLUGINS)"}


def test_create_validates_parameters(toy_registry) -> None:
    model = toy_registry.create("model", "linear", {"latent_dim": 3})
    assert model.latent_dim == 3
    assert model.get_params() == {"latent_dim": 3, "mode": "ok", "sleep": 0.0}
    with pytest.raises(PluginParameterError, match='did you mean "latent_dim"'):
        toy_registry.create("model", "linear", {"latentdim": 3})
    with pytest.raises(PluginParameterError, match="give int"):
        toy_registry.create("model", "linear", {"latent_dim": 2.5})


def test_loading_the_plugins_leaves_the_slow_libraries_unimported() -> None:
    """Every command and worker imports every plugin module: the standard ones import
    scikit-learn, scipy and matplotlib only where they use them (seconds per process)."""
    code = ("import sys; from zsbench.registry import Registry; Registry(); "
            "print(sorted(m for m in ('sklearn', 'scipy', 'matplotlib') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
