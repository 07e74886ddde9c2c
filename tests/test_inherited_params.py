"""Keyword-only parameters are inherited: a subclass declares only its new ones, and every
consumer of the parameter list (validation, get_params, sweeps, the manifest) sees them all."""

from __future__ import annotations

import inspect
import pickle
from typing import Literal

import pytest

from zsbench.errors import PluginParameterError
from zsbench.plugin import Model
from zsbench.registry import check_params


class Base(Model):
    """A base with two parameters."""

    name = "base"

    def __init__(self, *, latent_dim: int = 3, mode: Literal["a", "b"] = "a") -> None:
        self.latent_dim = latent_dim
        self.mode = mode


class Child(Base):
    """Declares only its new parameter, and changes one default of its base."""

    name = "child"

    def __init__(self, *, beta: float = 4.0, mode: Literal["a", "b"] = "b") -> None:
        self.beta = beta


class GrandChild(Child):
    """Two levels down."""

    name = "grandchild"

    def __init__(self, *, gamma: int | None = None) -> None:
        self.gamma = gamma


class Positional(Base):
    """Not keyword-only: left exactly as written."""

    name = "positional"

    def __init__(self, latent_dim: int = 2) -> None:
        self.latent_dim = latent_dim


def test_a_subclass_accepts_and_stores_its_bases_parameters() -> None:
    c = Child(latent_dim=5, beta=8.0)
    assert c.get_params() == {"latent_dim": 5, "mode": "b", "beta": 8.0}
    assert list(Child.parameters()) == ["latent_dim", "mode", "beta"]
    assert Child.parameters()["mode"].default == "b"
    assert Child(mode="a").mode == "a"
    g = GrandChild(gamma=2, latent_dim=1)
    assert g.get_params() == {"latent_dim": 1, "mode": "b", "beta": 4.0, "gamma": 2}
    assert repr(g) == "GrandChild(latent_dim=1, mode='b', beta=4.0, gamma=2)"
    sig = inspect.signature(GrandChild)
    assert all(p.kind is p.KEYWORD_ONLY for p in sig.parameters.values())
    with pytest.raises(TypeError):
        Child(nope=1)
    assert pickle.loads(pickle.dumps(g)).get_params() == g.get_params()


def test_validation_and_type_hints_cover_inherited_parameters() -> None:
    hints = GrandChild.parameter_hints()
    assert hints["mode"] == Literal["a", "b"] and hints["beta"] is float
    check_params("model", "grandchild", GrandChild, {"latent_dim": 2, "gamma": 3})
    with pytest.raises(PluginParameterError, match='"mode"'):
        check_params("model", "grandchild", GrandChild, {"mode": "c"})
    with pytest.raises(PluginParameterError, match="accepted parameters: latent_dim, mode, "
                                                   "beta, gamma"):
        check_params("model", "grandchild", GrandChild, {"latnt_dim": 2})


def test_a_constructor_that_is_not_keyword_only_is_left_alone() -> None:
    assert list(inspect.signature(Positional.__init__).parameters) == ["self", "latent_dim"]
    assert Positional.parameters() == {}


def test_the_standard_vae_inherits_the_torch_models_parameters() -> None:
    from zsbench_plugins.models import VAE, AutoEncoder

    assert set(VAE.parameters()) == set(AutoEncoder.parameters()) | {
        "kl_weight", "fixed_sigma", "entanglement_weight"}
    vae = VAE(latent_dim=2, epochs=1, kl_weight=0.1)
    assert (vae.latent_dim, vae.epochs, vae.kl_weight, vae.progress) == (2, 1, 0.1, True)


def test_sweeps_expand_over_inherited_parameters(tmp_path) -> None:
    import types

    from zsbench import hookimpl
    from zsbench.registry import Registry
    from zsbench.suite import load_suite

    plugin = types.ModuleType("inherited_plugin")
    plugin.zsbench_add_models = hookimpl(lambda: [GrandChild])
    registry = Registry(extra=[plugin])
    suite_file = tmp_path / "suite.toml"
    suite_file.write_text("""
[suite]
name = "inherited"
[dataset]
plugin = "polar"
[[model]]
plugin = "grandchild"
label = "g"
latent_dim = [2, 4]
mode = "a"
gamma = 1
[[metric]]
plugin = "holdout_reconstruction"
""")
    suite = load_suite(suite_file, registry=registry)
    specs = [m for m in suite.models]
    assert sorted(m.params["latent_dim"] for m in specs) == [2, 4]
    assert all(m.params["mode"] == "a" and m.params["gamma"] == 1 for m in specs)
