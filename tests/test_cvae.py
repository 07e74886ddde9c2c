"""Tests of the ``cvae`` model (the conditional VAE): the conditional-generator contract
(seeded, fresh noise per row, rows independent of the request), learning, monitor calls,
save/load and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from toy_plugins import ToyDataset

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import capable, needs_factors
from zsbench.space import Factor, LatentSpace
from zsbench_plugins.models import ConditionalVAE, zsbench_add_models

SIZE = 12


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # noqa: ANN202
    """One torch thread: these small networks gain nothing from more, and lose a lot when
    other processes hold the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _bumps(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, LatentSpace]:
    """A blob at (a, b) in [0, 1]^2 on a 12x12 canvas: factors, images in [0, 1], space."""
    ds = ToyDataset(n_samples=n, size=SIZE)
    f = ds.factors(seed=seed)
    return f, ds.render(f).astype(np.float32) / 255.0, ds.space


def _model(**kw: object) -> ConditionalVAE:
    params: dict = dict(epochs=2, batch_size=16, lr=1e-2, progress=False, device="cpu")
    params.update(kw)
    return ConditionalVAE(**params)


@pytest.fixture(scope="module")
def fitted() -> tuple[ConditionalVAE, np.ndarray, np.ndarray, LatentSpace]:
    f, x, space = _bumps(96)
    return _model().fit(x, seed=0, factors=f, space=space), f, x, space


def test_registered_and_declares_a_conditional_generator(fitted) -> None:  # noqa: ANN001
    model = fitted[0]
    assert ConditionalVAE in zsbench_add_models() and ConditionalVAE.name == "cvae"
    assert needs_factors(model) and capable(model, "generate")
    for method in ("encode", "decode", "sample", "posterior", "invert"):
        assert not capable(model, method), method


def test_generate_shape_range_seed_and_rows(fitted) -> None:  # noqa: ANN001
    model, f, _, _ = fitted
    req = np.concatenate([f[:70], np.repeat(f[:1], 10, axis=0)])  # 80 rows: past one batch
    out = model.generate(req, seed=3)
    assert out.shape == (80, 1, SIZE, SIZE) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    # seeded by the seed alone; another seed, other draws (the model is stochastic)
    assert np.array_equal(model.generate(req, seed=3), out)
    assert not np.allclose(model.generate(req, seed=4), out, atol=1e-6)
    # fresh noise for every row: ten rows asking for one point are ten different draws
    repeats = out[70:].reshape(10, -1)
    assert all(not np.array_equal(repeats[0], r) for r in repeats[1:])
    # a row does not depend on the other rows: prefixes are bit-exact
    for k in (1, 2, 7, 64, 65):
        assert np.array_equal(model.generate(req[:k], seed=3), out[:k]), k
    assert model.generate(req[:0], seed=3).shape == (0, 1, SIZE, SIZE)


def test_fit_is_deterministic_and_save_load_exact(fitted, tmp_path: Path) -> None:  # noqa: ANN001
    model, f, x, space = fitted
    out = model.generate(f[:20], seed=1)
    again = _model().fit(x, seed=0, factors=f, space=space)
    assert np.array_equal(again.generate(f[:20], seed=1), out)
    other = _model().fit(x, seed=1, factors=f, space=space)
    assert not np.array_equal(other.generate(f[:20], seed=1), out)
    model.save(tmp_path / "m.pt")
    loaded = ConditionalVAE.load(tmp_path / "m.pt")
    assert loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.generate(f[:20], seed=1), out)
    assert loaded.training_summary() == model.training_summary()
    assert loaded.history_ == model.history_


def test_learns_to_follow_the_request() -> None:
    """Trained a little, a draw for a request is much closer to the request's true image
    than to another request's; an untrained model's draws do not tell them apart."""
    f, x, space = _bumps(256)
    ft, xt, _ = _bumps(64, seed=5)
    shuffled = xt[::-1]

    def ratio(model: ConditionalVAE) -> float:
        g = model.generate(ft, seed=1)
        return float(np.mean((g - xt) ** 2) / np.mean((g - shuffled) ** 2))

    untrained = _model(epochs=0).fit(x, seed=0, factors=f, space=space)
    trained = _model(epochs=20).fit(x, seed=0, factors=f, space=space)
    assert ratio(untrained) > 0.95
    assert ratio(trained) < 0.7
    assert trained.history_[-1]["train_loss"] < trained.history_[0]["train_loss"]


def test_monitor_called_every_eval_every_steps() -> None:
    f, x, space = _bumps(40)
    probe = f[:4]
    calls: list[tuple[int, np.ndarray]] = []

    def monitor(step: int, model: ConditionalVAE) -> None:
        calls.append((step, model.generate(probe, seed=0)))

    # 40 images in batches of 8: 5 steps an epoch, 10 in all
    model = _model(epochs=2, batch_size=8, eval_every=3).fit(x, seed=0, factors=f,
                                                             space=space, monitor=monitor)
    assert [c[0] for c in calls] == [3, 6, 9]
    assert not np.array_equal(calls[0][1], calls[1][1])  # mid-fit: the current weights
    assert model.module_.training is False
    # the monitor changes nothing about training: same weights as without it
    plain = _model(epochs=2, batch_size=8, eval_every=3).fit(x, seed=0, factors=f, space=space)
    assert np.array_equal(plain.generate(probe, seed=0), model.generate(probe, seed=0))
    calls.clear()
    _model(epochs=1, batch_size=8).fit(x, seed=0, factors=f, space=space, monitor=monitor)
    assert calls == []  # eval_every = 0: never


def test_embedding_scales_continuous_and_one_hots_discrete() -> None:
    f, x, _ = _bumps(24)
    f = np.concatenate([f, np.tile([[2.0], [5.0], [9.0]], (8, 1))], axis=1)
    space = LatentSpace((Factor("a", -1.0, 1.0), Factor("b", 0.0, 2.0),
                         Factor("k", values=(2.0, 5.0, 9.0))))
    model = _model(epochs=1).fit(x, seed=0, factors=f, space=space)
    code = model.module_.code
    assert code.width == 5
    got = code(torch.tensor([[0.0, 1.0, 5.0], [1.0, 0.5, 9.0]])).numpy()
    assert np.allclose(got, [[0.5, 0.5, 0, 1, 0], [1.0, 0.25, 0, 0, 1]])
    # without a space: every factor scaled by the training range
    bare = _model(epochs=0).fit(x, seed=0, factors=f)
    lo, hi = f.min(0), f.max(0)
    assert np.allclose(bare.module_.code(torch.tensor(f[:3], dtype=torch.float32)).numpy(),
                       (f[:3] - lo) / (hi - lo), atol=1e-6)
    assert bare.generate(f[:2], seed=0).shape == (2, 1, SIZE, SIZE)


def test_clear_errors(fitted, tmp_path: Path) -> None:  # noqa: ANN001
    model, f, x, space = fitted
    with pytest.raises(DataError, match="factors"):
        _model().fit(x, seed=0)
    with pytest.raises(DataError, match=r"\[96, F\]"):
        _model().fit(x, seed=0, factors=f[:5])
    with pytest.raises(DataError, match="space"):
        _model().fit(x, seed=0, factors=f,
                     space=LatentSpace((Factor("a"),)))
    with pytest.raises(DataError, match=r"\[N, 2\]"):
        model.generate(f[:, :1], seed=0)
    with pytest.raises(DataError, match="finite"):
        model.generate(np.array([[np.nan, 0.5]]), seed=0)
    with pytest.raises(DataError, match="not fitted"):
        _model().generate(f, seed=0)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        _model().fit(x * 2 + 1, seed=0, factors=f)
    bad_params = {"latent_dim": 0, "kl_weight": -1.0, "architecture": "resnet",
                  "optimizer": "sgd", "reconstruction": "mse", "eval_every": -1,
                  "batch_size": 0, "lr": 0.0, "device": "tpu", "epochs": 1.5}
    for key, value in bad_params.items():
        with pytest.raises(PluginParameterError, match=key):
            ConditionalVAE(**{key: value})
    with pytest.raises(PluginParameterError, match="architecture"):
        ConditionalVAE(architecture="e3").check_image_shape((1, SIZE, SIZE))
    ConditionalVAE(architecture="e3").check_image_shape((1, 36, 36))
    bad = tmp_path / "bad.pt"
    torch.save({"format": "zsbench.factor_decoder"}, bad)
    with pytest.raises(DataError, match="cvae"):
        ConditionalVAE.load(bad)
    bad.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="cannot load"):
        ConditionalVAE.load(bad)
