"""Declared parameter constraints (zsbench.configurable): one validator builds the error,
the standard models declare theirs, and the kit's check_parameter_constraints catches a
constructor that does not validate what it declares."""
from __future__ import annotations

from typing import Any, ClassVar

import pytest

from zsbench.configurable import Interval, Items, Options
from zsbench.errors import PluginParameterError
from zsbench.plugin import Model
from zsbench.testing import ConformanceError, check_parameter_constraints
from zsbench.testing.models import ModelHarness
from zsbench_plugins.models.ae import AutoEncoder
from zsbench_plugins.models.beta_tcvae import BetaTCVAE
from zsbench_plugins.models.cvae import ConditionalVAE
from zsbench_plugins.models.diffusion import Diffusion
from zsbench_plugins.models.factor_decoder import FactorDecoder
from zsbench_plugins.models.vae import VAE

STANDARD = [AutoEncoder, VAE, BetaTCVAE, ConditionalVAE, Diffusion, FactorDecoder]


def test_interval_options_and_items_describe_and_accept() -> None:
    assert Interval(int, 1).describe() == "an integer >= 1"
    assert Interval(float, 0, 1, closed="left").describe() == "a number in [0, 1)"
    assert Interval(int, 1, 16).describe() == "an integer from 1 to 16"
    assert Interval(float, 0, closed="neither").describe() == "a number > 0"
    assert Interval(int, 1).accepts(3) and not Interval(int, 1).accepts(True)
    assert not Interval(int, 1).accepts(2.0) and Interval(float, 0).accepts(2)
    assert not Interval(float, 0).accepts(float("inf"))
    assert Options(("a", "b")).accepts("a") and not Options(("a", "b")).accepts("c")
    items = Items(Interval(int, 1, 16), 1, 4)
    assert items.accepts([1, 2]) and not items.accepts([]) and not items.accepts("ab")


def test_one_validator_builds_the_paragraph() -> None:
    with pytest.raises(PluginParameterError) as info:
        Diffusion(ema=1.5)
    err = info.value
    assert (err.kind, err.plugin, err.key) == ("model", "diffusion", "ema")
    assert "must be a number in [0, 1); got 1.5." in err.problem
    assert "give a number in [0, 1)" in err.fix and "0 turns the average off" in err.fix
    with pytest.raises(PluginParameterError, match='parameter "convt_start": must be absent '
                       "or an integer >= 0; got -1"):
        FactorDecoder(convt_start=-1)
    with pytest.raises(PluginParameterError, match='"lr_decay".*1 means no decay'):
        AutoEncoder(lr_decay=0.0)


@pytest.mark.parametrize("cls", STANDARD, ids=lambda c: c.name)
def test_the_standard_models_validate_every_declared_parameter(cls: type[Model]) -> None:
    declared = cls.parameter_constraints()
    assert declared, f"{cls.name} declares no constraints"
    check_parameter_constraints(ModelHarness(cls))


def test_the_conditional_models_share_their_training_parameters() -> None:
    shared = ("epochs", "batch_size", "optimizer", "lr", "lr_decay", "weight_decay",
              "precision", "device", "progress", "eval_every", "sample_batch")
    for cls in (ConditionalVAE, Diffusion, FactorDecoder):
        params = cls.parameters()
        for key in shared:
            assert key in params, (cls.name, key)
        defaults = {k: params[k].default for k in shared}
        assert defaults == {k: Diffusion.parameters()[k].default for k in shared}
        assert cls.parameter_constraints()["optimizer"] == \
            Diffusion.parameter_constraints()["optimizer"]


class Unchecked(Model):
    """A model that declares a constraint and never validates it."""

    name = "unchecked"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"width": [Interval(int, 1)]}

    def __init__(self, *, width: int = 4) -> None:
        self.width = width


class Typo(Model):
    """A model whose declared constraint names no parameter."""

    name = "typo"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"widht": [Interval(int, 1)]}

    def __init__(self, *, width: int = 4) -> None:
        self.width = width
        self.validate_parameters()


class Checked(Unchecked):
    """The same, validated."""

    name = "checked"

    def __init__(self, *, width: int = 4) -> None:
        self.width = width
        self.validate_parameters()


def test_the_kit_catches_a_declared_parameter_left_unvalidated() -> None:
    with pytest.raises(ConformanceError, match="width = .* accepted it"):
        check_parameter_constraints(ModelHarness(Unchecked))
    with pytest.raises(ConformanceError, match="widht"):
        check_parameter_constraints(ModelHarness(Typo))
    check_parameter_constraints(ModelHarness(Checked))
    with pytest.raises(PluginParameterError, match='model plugin "checked", parameter "width"'):
        Checked(width=0)
