"""The periodic (Fourier) factor code and the ``min_steps`` budget of the conditional
generators."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zsbench.errors import DataError, PluginParameterError
from zsbench.space import Factor, LatentSpace
from zsbench_plugins.datasets.sprites import SpritesDataset
from zsbench_plugins.models import FactorDecoder
from zsbench_plugins.models._conditional import FactorCode, code_spec

TURN = 2.0 * np.pi
SPACE = LatentSpace((Factor("shape", values=(0.0, 1.0)), Factor("orientation", 0.0, TURN),
                     Factor("x", 0.0, 1.0)))


def _codes(spec: list[dict], factors: np.ndarray) -> np.ndarray:
    return FactorCode(spec)(torch.as_tensor(factors, dtype=torch.float32)).numpy()


def _factors(angles: list[float]) -> np.ndarray:
    return np.array([[0.0, a, 0.5] for a in angles])


def test_fourier_code_wraps_around_and_sees_a_quarter_turn() -> None:
    train = _factors([0.0, 1.0, 3.0, 6.0])
    spec = code_spec("space", train, SPACE, periodic=("orientation",), harmonics=4)
    assert [s["kind"] for s in spec] == ["values", "fourier", "scaled"]
    assert FactorCode(spec).width == 2 + 8 + 1
    near_zero, near_turn = _codes(spec, _factors([0.01, TURN - 0.01]))
    assert np.abs(near_zero - near_turn).max() < 0.1  # the two ends of the range are close
    plain = _codes(code_spec("space", train, SPACE), _factors([0.01, TURN - 0.01]))
    assert np.abs(plain[0] - plain[1]).max() > 0.99  # the scaled code puts them a unit apart
    a, b = _codes(spec, _factors([0.7, 0.7 + TURN / 4]))
    fourth = slice(2 + 3, 2 + 4), slice(2 + 7, 2 + 8)  # sin 4u and cos 4u
    for part in fourth:  # a quarter turn leaves the 4th harmonic as it was ...
        assert np.allclose(a[part], b[part], atol=1e-5)
    assert not np.allclose(a[2:3], b[2:3], atol=0.1)  # ... and moves the first


def test_periodic_names_are_checked() -> None:
    train = _factors([0.0, 1.0])
    with pytest.raises(DataError, match=r"'angle'.*no factors.*shape, orientation, x"):
        code_spec("space", train, SPACE, periodic=("angle",))
    with pytest.raises(DataError, match='"shape" is discrete'):
        code_spec("space", train, SPACE, periodic=("shape",))
    with pytest.raises(DataError, match="no factor space"):
        code_spec("scaled", train, None, periodic=("orientation",))
    with pytest.raises(PluginParameterError, match="periodic"):
        FactorDecoder(periodic="orientation")
    with pytest.raises(PluginParameterError, match="harmonics"):
        FactorDecoder(harmonics=0)


def test_periodic_factor_decoder_fits_saves_and_loads(tmp_path: Path) -> None:
    ds = SpritesDataset(sampling="uniform", n_samples=48, image_size=16)
    f = ds.factors(seed=0)
    x = ds.render(f).astype(np.float32) / 255.0
    m = FactorDecoder(epochs=1, batch_size=16, progress=False, device="cpu",
                      periodic=["orientation"], harmonics=2)
    with pytest.raises(DataError, match='model "factor_decoder", parameter "periodic"'):
        FactorDecoder(epochs=1, progress=False, device="cpu", periodic=["turn"]).fit(
            x, seed=0, factors=f, space=ds.space)
    m.fit(x, seed=0, factors=f, space=ds.space)
    assert [s["kind"] for s in m.code_spec_][2] == "fourier"
    turned = f.copy()
    turned[:, 2] += TURN  # one whole turn further: the same request
    assert np.allclose(m.factor_code(f), m.factor_code(turned), atol=1e-5)
    m.save(tmp_path / "m.zip")
    back = FactorDecoder.load(tmp_path / "m.zip")
    assert np.array_equal(back.generate(f[:5], seed=1), m.generate(f[:5], seed=1))


@pytest.mark.parametrize(("n", "epochs", "min_steps", "expected"),
                         [(100, 2, 0, 2), (100, 2, 50, 13), (100, 20, 50, 20), (32, 1, 5, 5)])
def test_min_steps_raises_the_epochs(n: int, epochs: int, min_steps: int,
                                     expected: int) -> None:
    assert FactorDecoder(epochs=epochs, min_steps=min_steps, batch_size=32).epochs_for(n) \
        == expected


def test_min_steps_trains_that_many_steps() -> None:
    rng = np.random.default_rng(0)
    f = rng.uniform(0, 1, (40, 1))
    x = np.repeat(f[:, :, None, None], 8, 2).repeat(8, 3).astype(np.float32)
    m = FactorDecoder(epochs=1, min_steps=9, batch_size=16, progress=False,
                      device="cpu").fit(x, seed=0, factors=f)
    assert m.training_["steps"] == 9  # 3 steps an epoch, 3 epochs
    assert m.training_["epochs_run"] == 3
    with pytest.raises(PluginParameterError, match="min_steps"):
        FactorDecoder(min_steps=-1)


def test_the_memoriser_checks_factor_names_as_the_generators_do() -> None:
    """``nearest_training`` and the conditional generators share one check of a parameter
    that names factors, and one message for a name the dataset lacks."""
    from zsbench_plugins.models import NearestTraining

    for key in ("periodic", "categorical"):
        with pytest.raises(PluginParameterError, match=f'"{key}": must be a list of factor'):
            NearestTraining(**{key: "orientation"})
    f = _factors([0.0, 1.0])
    x = np.zeros((2, 1, 8, 8), dtype=np.float32)
    with pytest.raises(DataError, match=r'^model "nearest_training", parameter "periodic": '
                                        r"\['turn'\] are no factors of the dataset; its "
                                        "factors: shape, orientation, x."):
        NearestTraining(periodic=["turn"]).fit(x, seed=0, factors=f, space=SPACE)
    with pytest.raises(DataError, match=r'^model "factor_decoder", parameter "periodic": '
                                        r"\['turn'\] are no factors of the dataset"):
        FactorDecoder(epochs=0, progress=False, device="cpu", periodic=["turn"]).fit(
            x, seed=0, factors=f, space=SPACE)
