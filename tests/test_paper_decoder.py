"""Tests of the options of ``factor_decoder`` that reproduce the decoder of Liang et al.
(ICML 2025, arXiv 2501.18797): the factor codes, the transposed-convolution body, the MSE
loss, AdamW, monitor calls, and the checkpoint format (version 1 files still load)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from zsbench.errors import DataError, PluginParameterError
from zsbench.space import Factor, LatentSpace
from zsbench.training import _make_optimizer
from zsbench_plugins.models import FactorDecoder
from zsbench_plugins.models._conditional import FactorCode, _entry

GRID = 28
SPACE = LatentSpace((Factor("x", 0.0, GRID - 1.0), Factor("y", 0.0, GRID - 1.0)))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():  # noqa: ANN202
    """One torch thread: these small networks gain nothing from more, and lose a lot when
    other processes hold the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _bumps(n: int, seed: int = 0, size: int = GRID) -> tuple[np.ndarray, np.ndarray]:
    """Liang et al.'s data: 1 - a 2-D Gaussian bump (sigma one pixel) at integer (x, y)."""
    f = np.random.default_rng(seed).integers(0, size, (n, 2)).astype(np.float64)
    return f, _bumps_at(f, size)


def _bumps_at(f: np.ndarray, size: int) -> np.ndarray:
    """The bump images ``[N, 1, size, size]`` at positions ``f [N, 2]`` (x, y)."""
    g = np.arange(size)
    xv, yv = np.meshgrid(g, g)
    d2 = (xv[None] - f[:, 0, None, None]) ** 2 + (yv[None] - f[:, 1, None, None]) ** 2
    return (1.0 - np.exp(-d2 / 2.0))[:, None].astype(np.float32)


def _paper(**kw: object) -> FactorDecoder:
    params: dict = dict(architecture="convt", code="population", loss="mse",
                        optimizer="adamw", depth=2, channels=8, epochs=2, batch_size=16,
                        progress=False, device="cpu")
    params.update(kw)
    return FactorDecoder(**params)


# -- the codes ---------------------------------------------------------------------------

def test_population_code_is_liangs_input() -> None:
    """On a 28-pixel axis with 28 units, the code of position p is their input
    exp(-(k - p)^2 / 2), k = 0..27 (sigma = one pixel), x's units then y's."""
    f, x = _bumps(8)
    model = _paper(epochs=0).fit(x, seed=0, factors=f, space=SPACE)
    k = np.arange(GRID)
    for p in ([3.0, 17.0], [12.5, 0.0]):
        want = np.concatenate([np.exp(-(k - p[0]) ** 2 / 2.0), np.exp(-(k - p[1]) ** 2 / 2.0)])
        assert np.allclose(model.factor_code(np.array([p]))[0], want, atol=1e-5)


def test_each_code_gives_the_documented_input() -> None:
    rng = np.random.default_rng(0)
    space = LatentSpace((Factor("a", -1.0, 3.0), Factor("k", values=(2.0, 5.0, 9.0))))
    f = np.stack([rng.uniform(-0.5, 2.0, 16), rng.choice([2.0, 5.0, 9.0], 16)], axis=1)
    x = rng.uniform(0, 1, (16, 1, 8, 8)).astype(np.float32)
    point = np.array([[0.7, 5.0]])

    def code(name: str, space: LatentSpace | None = space, width: int = 6) -> np.ndarray:
        model = FactorDecoder(code=name, code_width=width, epochs=0, progress=False,
                              device="cpu").fit(x, seed=0, factors=f, space=space)
        return model.factor_code(point)[0]

    lo, hi = f.min(0), f.max(0)
    # scaled: the training range, even with a space (today's behaviour)
    assert np.allclose(code("scaled"), (point[0] - lo) / (hi - lo), atol=1e-6)
    assert np.array_equal(code("raw"), point[0].astype(np.float32))
    # population: 6 units per factor over the space's bounds, tuning width = their spacing
    got = code("population")
    assert got.shape == (12,)
    for i, (low, high) in enumerate([(-1.0, 3.0), (2.0, 9.0)]):
        s = (high - low) / 5
        centres = low + s * np.arange(6)
        want = np.exp(-(point[0, i] - centres) ** 2 / (2 * s ** 2))
        assert np.allclose(got[6 * i:6 * i + 6], want, atol=1e-5), i
    # without a space: over the training range
    s = (hi[0] - lo[0]) / 5
    want = np.exp(-(point[0, 0] - (lo[0] + s * np.arange(6))) ** 2 / (2 * s ** 2))
    assert np.allclose(code("population", None)[:6], want, atol=1e-5)
    # onehot: 6 bins of a's range (0.7 lies in bin floor(1.7 / 4 * 6) = 2), k over its values
    assert code("onehot").tolist() == [0, 0, 1, 0, 0, 0, 0, 1, 0]
    # a request outside the range goes to the end bin
    model = FactorDecoder(code="onehot", code_width=6, epochs=0, progress=False,
                          device="cpu").fit(x, seed=0, factors=f, space=space)
    assert model.factor_code(np.array([[7.0, 9.0]]))[0].tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 1]
    assert model.generate(point, seed=0).shape == (1, 1, 8, 8)


# -- the transposed-convolution body -------------------------------------------------------

@pytest.mark.parametrize("depth", [2, 8])
def test_convt_body_layers_and_shape(depth: int) -> None:
    f, x = _bumps(4)
    model = _paper(epochs=0, depth=depth, channels=64).fit(x, seed=0, factors=f, space=SPACE)
    layers = list(model.module_.decoder)
    convs = [m for m in layers if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs) == depth + 2
    assert convs[0].in_channels == 2 * 28 and convs[0].kernel_size == (7, 7)
    assert [c.stride for c in convs].count((2, 2)) == 2
    assert convs[1].stride == convs[2].stride == (2, 2)  # the upsamplings come first
    assert all(c.out_channels == 64 for c in convs[:-1]) and convs[-1].out_channels == 1
    assert sum(isinstance(m, nn.ReLU) for m in layers) == depth + 1
    assert isinstance(layers[-1], nn.ConvTranspose2d)  # linear output
    with torch.no_grad():
        out = model.module_(torch.tensor(f, dtype=torch.float32))
    assert out.shape == (4, 1, 28, 28)
    images = model.generate(f, seed=0)
    assert images.shape == (4, 1, 28, 28) and 0.0 <= images.min() and images.max() <= 1.0


def test_convt_refuses_sides_that_are_no_multiple_of_four() -> None:
    model = _paper()
    model.check_image_shape((1, 28, 28))
    model.check_image_shape((3, 32, 16))
    with pytest.raises(PluginParameterError, match="multiples of 4"):
        model.check_image_shape((1, 30, 30))
    f, x = _bumps(4, size=30)
    with pytest.raises(PluginParameterError, match="multiples of 4"):
        model.fit(x, seed=0, factors=f)


def test_convt_start_is_the_scaling_studys_network() -> None:
    """scaling_exps/bump.py: a 7x7 start, x2 upsamplings while smaller than N, a nearest
    resize to N x N; at N = 28 the very network of the depth study."""
    from zsbench_plugins.models.factor_decoder import convt_decoder

    for n, ups in ((24, 2), (28, 2), (32, 3), (40, 3)):
        net = convt_decoder((1, n, n), 2 * n, depth=8, channels=4, start=7)
        convs = [m for m in net if isinstance(m, nn.ConvTranspose2d)]
        assert convs[0].kernel_size == (7, 7)
        assert [c.stride for c in convs].count((2, 2)) == ups
        with torch.no_grad():
            assert net(torch.zeros(2, 2 * n)).shape == (2, 1, n, n)
        assert isinstance(net[-1], nn.Upsample) == (n != 28)
    torch.manual_seed(0)
    a = convt_decoder((1, 28, 28), 56, depth=4, channels=4, start=7)
    torch.manual_seed(0)
    b = convt_decoder((1, 28, 28), 56, depth=4, channels=4)
    code = torch.rand(3, 56)
    with torch.no_grad():
        assert torch.equal(a(code), b(code))
    _paper(convt_start=7).check_image_shape((1, 30, 30))  # any size with a start
    with pytest.raises(PluginParameterError, match="convt_start"):
        _paper(convt_start=-1)
    with pytest.raises(PluginParameterError, match="architecture"):  # 0: H/4, as left out
        _paper(convt_start=0).check_image_shape((1, 30, 30))
    code = FactorCode([_entry("scaled")] * 2)  # 0 builds the network that left out builds
    assert str(_paper(convt_start=0)._network((1, 28, 28), code)) == str(
        _paper()._network((1, 28, 28), code))


# -- the loss and the optimiser ------------------------------------------------------------

@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_loss_is_the_documented_one(loss: str) -> None:
    """With a vanishing learning rate the first epoch's loss is the untrained network's:
    the per-pixel MSE of the linear output ("mse"), or the BCE of its sigmoid ("bce")."""
    f, x = _bumps(32)
    model = _paper(epochs=1, lr=1e-12, loss=loss, batch_size=32).fit(x, seed=0, factors=f,
                                                                      space=SPACE)
    with torch.no_grad():
        out = model.module_(torch.tensor(f, dtype=torch.float32))
        t = torch.from_numpy(x)
        want = (((out - t) ** 2).mean() if loss == "mse" else
                torch.nn.functional.binary_cross_entropy_with_logits(out, t))
    assert model.history_[0]["train_loss"] == pytest.approx(float(want), rel=1e-4)


def test_mse_trains_and_is_deterministic(tmp_path: Path) -> None:
    f, x = _bumps(64)
    untrained = _paper(epochs=0).fit(x, seed=0, factors=f, space=SPACE)
    model = _paper(epochs=6, lr=3e-3).fit(x, seed=0, factors=f, space=SPACE)
    losses = [h["train_loss"] for h in model.history_]
    assert losses[-1] < 0.5 * losses[0]
    out = model.generate(f, seed=0)
    assert out.dtype == np.float32 and 0.0 <= out.min() and out.max() <= 1.0
    assert np.mean((out - x) ** 2) < 0.5 * np.mean((untrained.generate(f, seed=0) - x) ** 2)
    # deterministic: the seed of generate changes nothing, refitting gives the same model,
    # rows do not depend on the other rows, and save/load is exact
    assert np.array_equal(model.generate(f, seed=7), out)
    assert np.array_equal(_paper(epochs=6, lr=3e-3).fit(x, seed=0, factors=f, space=SPACE)
                          .generate(f, seed=0), out)
    assert not np.array_equal(_paper(epochs=6, lr=3e-3).fit(x, seed=1, factors=f, space=SPACE)
                              .generate(f, seed=0), out)
    for k in (1, 3, 63):
        assert np.array_equal(model.generate(f[:k], seed=0), out[:k])
    model.save(tmp_path / "m.pt")
    loaded = FactorDecoder.load(tmp_path / "m.pt")
    assert loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.generate(f, seed=0), out)
    assert np.array_equal(loaded.factor_code(f), model.factor_code(f))


def test_adamw_in_the_shared_loop() -> None:
    params = [nn.Parameter(torch.zeros(3))]
    opt = _make_optimizer("adamw", iter(params), 1e-3)
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["weight_decay"] == 0.01


# -- monitor, checkpoints, errors ---------------------------------------------------------

def test_monitor_called_every_eval_every_steps() -> None:
    f, x = _bumps(40)
    seen: list[tuple[int, np.ndarray]] = []

    def monitor(step: int, model: FactorDecoder) -> None:
        seen.append((step, model.generate(f[:2], seed=0)))

    # 40 images in batches of 16: 3 steps an epoch, 9 in all. (BCE: the sigmoid's images
    # change at every step; the MSE's clipped linear output starts out all black.)
    model = _paper(epochs=3, eval_every=4, loss="bce").fit(x, seed=0, factors=f, space=SPACE,
                                                            monitor=monitor)
    assert [s for s, _ in seen] == [4, 8]
    assert not np.array_equal(seen[0][1], seen[1][1])  # mid-fit: the current weights
    plain = _paper(epochs=3, eval_every=4, loss="bce").fit(x, seed=0, factors=f, space=SPACE)
    assert np.array_equal(plain.generate(f, seed=0), model.generate(f, seed=0))


def test_version_1_files_still_load(tmp_path: Path) -> None:
    """A version-1 file (the scaled code, its buffers ``low``/``span`` at the top level, no
    saved code) loads and generates exactly what it did."""
    f, x = _bumps(16, size=8)
    model = FactorDecoder(epochs=1, batch_size=8, progress=False, device="cpu").fit(
        x, seed=0, factors=f)
    state = {k: v for k, v in model.module_.state_dict().items()}
    state["low"], state["span"] = state.pop("code.low"), state.pop("code.span")
    params = {k: v for k, v in model.get_params().items()
              if k in ("architecture", "epochs", "batch_size", "optimizer", "lr", "lr_decay",
                       "device", "progress", "reconstruction")}
    torch.save({"format": "zsbench.factor_decoder", "format_version": 1,
                "plugin": "factor_decoder", "params": params, "image_shape": [1, 8, 8],
                "n_factors": 2, "state_dict": state, "training": model.training_summary(),
                "history": model.history_}, tmp_path / "v1.pt")
    loaded = FactorDecoder.load(tmp_path / "v1.pt")
    assert loaded.code == "scaled" and FactorDecoder.checkpoint_versions == (1, 2)
    assert np.array_equal(loaded.generate(f, seed=0), model.generate(f, seed=0))
    torch.save({"format": "zsbench.factor_decoder", "format_version": 9}, tmp_path / "v9.pt")
    with pytest.raises(DataError, match="version 9"):
        FactorDecoder.load(tmp_path / "v9.pt")


def test_clear_errors() -> None:
    bad = {"code": "bump", "code_width": 1, "depth": 1, "channels": 0, "loss": "l1",
           "optimizer": "sgd", "eval_every": -2, "architecture": "unet"}
    for key, value in bad.items():
        with pytest.raises(PluginParameterError, match=key):
            FactorDecoder(**{key: value})
    f, x = _bumps(4)
    with pytest.raises(DataError, match="space"):
        _paper().fit(x, seed=0, factors=f, space=LatentSpace((Factor("x"),)))
    model = _paper(epochs=0).fit(x, seed=0, factors=f, space=SPACE)
    with pytest.raises(DataError, match=r"\[N, 2\]"):
        model.factor_code(f[:, :1])


def test_tapered_body_halves_its_width_as_it_upsamples() -> None:
    """``architecture = "tapered"``: dense 256, a ``channels`` x H/4 x W/4 map, two x2
    transposed convolutions at half and a quarter of the width, a 3x3 output convolution;
    sides that are no multiple of 4, or fewer than 4 channels, are refused by name."""
    from zsbench_plugins.models.factor_decoder import TAPERED_HIDDEN, tapered_decoder

    net = tapered_decoder((3, 32, 24), 5, channels=32)
    dense = [m for m in net if isinstance(m, nn.Linear)]
    assert [d.out_features for d in dense] == [TAPERED_HIDDEN, 32 * 8 * 6]
    ups = [m for m in net if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.in_channels, u.out_channels, u.stride) for u in ups] == [(32, 16, (2, 2)),
                                                                        (16, 8, (2, 2))]
    assert isinstance(net[-1], nn.Conv2d) and net[-1].out_channels == 3  # linear output
    with torch.no_grad():
        assert net(torch.zeros(2, 5)).shape == (2, 3, 32, 24)
    model = FactorDecoder(architecture="tapered", channels=8, epochs=1, batch_size=16,
                          progress=False)
    with pytest.raises(PluginParameterError, match='"tapered" needs images.*multiples of 4'):
        model.check_image_shape((1, 30, 30))
    with pytest.raises(PluginParameterError, match="channels >= 4"):
        FactorDecoder(architecture="tapered", channels=2).check_image_shape((1, 28, 28))


def test_tapered_decoder_learns_a_bump(tmp_path: Path) -> None:
    """Trained from the factors, the tapered body draws Liang et al.'s bump where it is
    asked (brighter pixels away from it: the minimum within a pixel of the request), and its
    draws are bit-equal after a save and load."""
    f, x = _bumps(512, size=16)
    space = LatentSpace((Factor("x", 0.0, 15.0), Factor("y", 0.0, 15.0)))
    params = dict(architecture="tapered", channels=16, code="population", code_width=16,
                  loss="mse", batch_size=32, lr=3e-3, progress=False)
    ask = np.array([[3.0, 4.0], [12.0, 9.0], [7.0, 14.0]])
    want = _bumps_at(ask, 16)
    untrained = FactorDecoder(**params, epochs=0).fit(x, seed=0, factors=f, space=space)
    model = FactorDecoder(**params, epochs=30).fit(x, seed=0, factors=f, space=space)
    images = model.generate(ask, seed=0)
    assert images.shape == (3, 1, 16, 16)
    untrained_mse = float(np.mean((untrained.generate(ask, seed=0) - want) ** 2))
    assert float(np.mean((images - want) ** 2)) < 0.2 * untrained_mse
    for image, (ax, ay) in zip(images[:, 0], ask):
        iy, ix = np.unravel_index(np.argmin(image), image.shape)
        assert abs(ix - ax) <= 1 and abs(iy - ay) <= 1
    model.save(tmp_path / "tapered.pt")
    assert np.array_equal(FactorDecoder.load(tmp_path / "tapered.pt").generate(ask, seed=0),
                          images)
