"""Tests of the ``diffusion`` model (conditional DDPM / rectified flow) and its U-Net.

Everything runs on the CPU with tiny networks and 8x8 images; the one learning check trains a
flow model for ~200 steps on bumps whose x position is the factor."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import capable, needs_factors
from zsbench.space import Factor, LatentSpace
from zsbench_plugins.models import zsbench_add_models
from zsbench_plugins.models._conditional import ConditionalGenerator, FactorCode
from zsbench_plugins.models.diffusion import Diffusion, _alpha_bar
from zsbench_plugins.models.unet import CondUNet

RAW3 = FactorCode([{"kind": "raw", "low": 0.0, "span": 1.0, "width": 1, "values": None}] * 3)
"""Three factors as given (the U-Net's condition input in its own tests)."""

TINY: dict[str, Any] = dict(channels=8, channel_mults=(1, 2), patch_size=1, sample_steps=6,
                            batch_size=16, progress=False, device="cpu")
SPACE = LatentSpace((Factor("x", 1.0, 6.0),))


def bumps(xpos: np.ndarray, size: int = 8) -> np.ndarray:
    """``[N, 1, size, size]`` float32 Gaussian bumps at column ``xpos``, row 3.5."""
    g = np.arange(size)
    img = np.exp(-((g[None, None, :] - xpos[:, None, None]) ** 2
                   + (g[None, :, None] - 3.5) ** 2) / (2 * 0.8 ** 2))
    return img[:, None].astype(np.float32)


def centroid(images: np.ndarray) -> np.ndarray:
    """The intensity-weighted mean column of each image ``[N, 1, H, W]``."""
    w = images[:, 0].sum(axis=1)
    return (w * np.arange(images.shape[-1])).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-6)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Any:
    """One torch thread: these networks are far too small to gain from a second one, and on
    a shared machine two spinning threads per process slow everything down many times."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def toy() -> tuple[np.ndarray, np.ndarray]:
    f = np.random.default_rng(0).uniform(1.0, 6.0, size=(128, 1))
    return bumps(f[:, 0]), f


@pytest.fixture(scope="module")
def trained(toy: tuple[np.ndarray, np.ndarray]) -> Diffusion:
    """A flow model trained for 15 epochs x 16 steps on the bump toy."""
    x, f = toy
    return Diffusion(**{**TINY, "batch_size": 8, "sample_steps": 10}, epochs=15).fit(
        x, seed=0, factors=f, space=SPACE)


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, np.ndarray]:
    """32 random 1x8x8 images with 2 factors in [0, 1]."""
    rng = np.random.default_rng(1)
    return rng.uniform(size=(32, 1, 8, 8)).astype(np.float32), rng.uniform(size=(32, 2))


def quick(small: tuple[np.ndarray, np.ndarray], seed: int = 0, **params: Any) -> Diffusion:
    x, f = small
    return Diffusion(**{**TINY, "epochs": 1, **params}).fit(x, seed=seed, factors=f)


REQ = np.random.default_rng(2).uniform(size=(10, 2))


# -- the plugin ----------------------------------------------------------------------------

def test_registered_as_a_generator_without_encoder() -> None:
    assert Diffusion in zsbench_add_models()
    m = Diffusion()
    assert m.name == "diffusion" and needs_factors(m)
    assert capable(m, "generate")
    for method in ("encode", "decode", "sample", "invert", "posterior"):
        assert not capable(m, method), method
    assert Diffusion.summary() and "\n" not in Diffusion.summary()
    doc = (Diffusion.__doc__ or "") + (ConditionalGenerator.__doc__ or "")
    for key in Diffusion.parameters():
        assert f"{key}:" in doc, f"parameter {key} is not documented"
    assert m.get_params()["objective"] == "flow"
    assert Diffusion(**m.get_params()).get_params() == m.get_params()


@pytest.mark.parametrize("key, value", [
    ("objective", "ddpm"), ("schedule", "quadratic"), ("timesteps", 1), ("timesteps", 2.5),
    ("sample_steps", 0), ("sampler", "rk4"), ("guidance", -1.0), ("guidance", float("nan")),
    ("cond_dropout", 1.0), ("cond_dropout", -0.1), ("ema", 1.0), ("channels", 2),
    ("channel_mults", []), ("channel_mults", [1, 0]), ("channel_mults", [1, 2, 2, 2, 2]),
    ("patch_size", 0), ("epochs", -1), ("batch_size", 0), ("optimizer", "sgd"), ("lr", 0.0),
    ("lr_decay", -1.0), ("device", "tpu"), ("progress", "yes"), ("eval_every", -1),
    ("precision", "fp16"), ("sample_batch", 0),
])
def test_bad_parameters_are_named(key: str, value: Any) -> None:
    with pytest.raises(PluginParameterError) as err:
        Diffusion(**{key: value})
    assert err.value.key == key and repr(value) in str(err.value) and "Fix:" in str(err.value)


def test_parameter_combinations_checked() -> None:
    with pytest.raises(PluginParameterError, match="cond_dropout") as err:
        Diffusion(guidance=2.0, cond_dropout=0.0)
    assert err.value.key == "guidance"
    with pytest.raises(PluginParameterError) as err:
        Diffusion(objective="eps", timesteps=10, sample_steps=20)
    assert err.value.key == "sample_steps"
    Diffusion(objective="flow", timesteps=10, sample_steps=20)  # timesteps unused by flow


def test_image_shapes_checked() -> None:
    Diffusion().check_image_shape((3, 28, 28))
    Diffusion().check_image_shape((1, 8, 9))
    with pytest.raises(PluginParameterError, match="6x6"):
        Diffusion().check_image_shape((1, 6, 6))
    with pytest.raises(PluginParameterError, match="patch_size"):
        Diffusion(patch_size=4, channel_mults=(1, 2, 2)).check_image_shape((1, 8, 8))


# -- the network ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape, mults, patch", [
    ((3, 28, 28), (1, 2, 2), 2), ((1, 9, 13), (1, 2, 2), 2), ((2, 8, 8), (1, 2), 1),
    ((1, 7, 11), (1,), 3),
])
def test_unet_keeps_any_size(shape: tuple[int, int, int], mults: tuple[int, ...],
                             patch: int) -> None:
    net = CondUNet(shape[0], RAW3, channels=8, channel_mults=mults, patch_size=patch)
    x = torch.randn(2, *shape)
    out = net(x, torch.rand(2), torch.randn(2, 3), torch.tensor([True, False]))
    assert out.shape == x.shape
    out.sum().backward()  # differentiable through padding, folding and cropping


def test_unet_null_condition_and_time_matter() -> None:
    torch.manual_seed(0)
    net = CondUNet(1, FactorCode(RAW3.spec[:2]), channels=8, channel_mults=(1, 2), patch_size=1)
    for p in net.parameters():  # the zero-initialised layers would hide every input
        torch.nn.init.normal_(p, std=0.2)
    x, c = torch.randn(2, 1, 8, 8), torch.randn(2, 2)
    t = torch.full((2,), 0.3)
    base = net(x, t, c)
    assert not torch.allclose(base, net(x, t, c + 1.0))
    assert not torch.allclose(base, net(x, t + 0.2, c))
    dropped = net(x, t, c, torch.tensor([True, True]))
    other = net(x, t, c + 5.0, torch.tensor([True, True]))
    assert torch.equal(dropped, other)  # dropped rows ignore their condition
    assert not torch.allclose(dropped, base)


# -- generate ------------------------------------------------------------------------------

def test_generate_shape_dtype_range_and_seeding(small: tuple[np.ndarray, np.ndarray]) -> None:
    m = quick(small)
    a = m.generate(REQ, seed=3)
    assert a.shape == (10, 1, 8, 8) and a.dtype == np.float32
    assert np.isfinite(a).all() and a.min() >= 0.0 and a.max() <= 1.0
    assert np.array_equal(a, m.generate(REQ.copy(), seed=3))
    assert not np.array_equal(a, m.generate(REQ, seed=4))
    rows = m.generate(np.repeat(REQ[:1], 3, axis=0), seed=3)  # fresh noise per row
    assert not np.array_equal(rows[0], rows[1]) and not np.array_equal(rows[1], rows[2])
    assert np.array_equal(rows[0], a[0])
    assert m.generate(REQ[:0], seed=0).shape == (0, 1, 8, 8)
    far = m.generate(np.array([[-3.0, 7.0], [0.5, 50.0]]), seed=0)  # beyond the training range
    assert np.isfinite(far).all() and far.min() >= 0.0 and far.max() <= 1.0


@pytest.mark.parametrize("params", [
    dict(objective="flow"), dict(objective="eps"), dict(guidance=2.5, sampler="heun"),
])
def test_rows_do_not_depend_on_the_rest_of_the_request(
        small: tuple[np.ndarray, np.ndarray], params: dict[str, Any]) -> None:
    m = quick(small, sample_batch=4, **params)  # 10 rows = 3 chunks, the last padded
    full = m.generate(REQ, seed=5)
    for k in (1, 3, 4, 7):
        assert np.array_equal(m.generate(REQ[:k], seed=5), full[:k]), k
    changed = REQ.copy()
    changed[6] = [0.9, 0.05]
    other = m.generate(changed, seed=5)
    keep = np.arange(10) != 6
    assert np.array_equal(other[keep], full[keep])
    assert not np.array_equal(other[6], full[6])


def test_generate_follows_the_request(trained: Diffusion) -> None:
    left, right = trained.generate(np.array([[1.5], [5.5]]), seed=0)
    assert np.abs(left - right).max() > 0.3
    assert centroid(left[None])[0] + 1.5 < centroid(right[None])[0]


@pytest.mark.parametrize("objective", ["flow", "eps"])
def test_learns_the_condition(toy: tuple[np.ndarray, np.ndarray], trained: Diffusion,
                              objective: str) -> None:
    """The bump lands where it is asked for, far better than before training (flow); eps
    learns the same steps more slowly: its bumps follow the request, less closely."""
    x, f = toy
    req = np.repeat(np.linspace(1.0, 6.0, 6), 4)[:, None]
    params = {**TINY, "batch_size": 8, "sample_steps": 10, "objective": objective}
    model = trained if objective == "flow" else Diffusion(**params, epochs=15).fit(
        x, seed=0, factors=f, space=SPACE)
    untrained = Diffusion(**params, epochs=0).fit(x, seed=0, factors=f, space=SPACE)
    found = centroid(model.generate(req, seed=1))
    err = np.abs(found - req[:, 0]).mean()
    err0 = np.abs(centroid(untrained.generate(req, seed=1)) - req[:, 0]).mean()
    corr = np.corrcoef(found, req[:, 0])[0, 1]
    if objective == "flow":  # measured: err 0.72 against 1.46 untrained, corr 0.90
        assert err < 0.75 * err0 and err < 1.0 and corr > 0.75, (err, err0, corr)
    else:  # measured: err 1.33 against 1.46, corr 0.72
        assert err < err0 and corr > 0.3, (err, err0, corr)


@pytest.mark.parametrize("params", [
    dict(objective="eps", schedule="cosine"), dict(objective="eps", schedule="linear"),
    dict(objective="flow", sampler="euler"), dict(objective="flow", sampler="heun"),
])
def test_objectives_and_samplers(small: tuple[np.ndarray, np.ndarray],
                                 params: dict[str, Any]) -> None:
    m = quick(small, timesteps=50, **params)
    a = m.generate(REQ[:4], seed=0)
    assert a.shape == (4, 1, 8, 8) and np.isfinite(a).all() and 0.0 <= a.min() <= a.max() <= 1.0
    assert np.isfinite(m.training_summary()["final_train_loss"])


def test_heun_and_euler_differ_on_the_same_weights(small: tuple[np.ndarray, np.ndarray]) -> None:
    m = quick(small, epochs=2)
    euler = m.generate(REQ[:4], seed=0)
    m.sampler = "heun"
    assert not np.array_equal(euler, m.generate(REQ[:4], seed=0))


class _Oracle(torch.nn.Module):
    """The exact prediction for data concentrated on one image ``c`` (in [-1, 1])."""

    def __init__(self, c: float, objective: str, alpha_bar: np.ndarray) -> None:
        super().__init__()
        self.c, self.objective = c, objective
        self.alpha_bar = torch.from_numpy(alpha_bar)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor,
                drop: torch.Tensor | None = None) -> torch.Tensor:
        s = t.double().view(-1, 1, 1, 1)
        if self.objective == "flow":
            return ((x.double() - self.c) / s).float()
        idx = torch.round(t.double() * len(self.alpha_bar)).long() - 1
        a = self.alpha_bar[idx].view(-1, 1, 1, 1)
        return ((x.double() - a.sqrt() * self.c) / (1 - a).sqrt()).float()


@pytest.mark.parametrize("params", [
    dict(objective="eps", schedule="cosine"), dict(objective="eps", schedule="linear"),
    dict(objective="flow", sampler="euler"), dict(objective="flow", sampler="heun"),
])
def test_samplers_reach_the_data_with_an_exact_predictor(
        small: tuple[np.ndarray, np.ndarray], params: dict[str, Any]) -> None:
    """With the exact noise/velocity of a one-image distribution, every sampler lands on it."""
    m = quick(small, epochs=0, timesteps=200, sample_steps=8, **params)
    m.module_ = _Oracle(-0.5, m.objective, _alpha_bar(m.schedule, 200))
    out = m.generate(REQ[:3], seed=0)
    np.testing.assert_allclose(out, 0.25, atol=2e-3)


def test_guidance(small: tuple[np.ndarray, np.ndarray]) -> None:
    m = quick(small, epochs=2, cond_dropout=0.5)
    plain = m.generate(REQ[:4], seed=0)
    guided = copy.deepcopy(m)
    guided.guidance = 3.0
    g = guided.generate(REQ[:4], seed=0)
    assert g.shape == plain.shape and 0.0 <= g.min() <= g.max() <= 1.0
    assert not np.allclose(g, plain)
    guided.guidance = 0.0  # the unconditional model: the request no longer matters
    u = guided.generate(np.array([[0.1, 0.1], [0.9, 0.9]]), seed=0)
    u2 = guided.generate(np.array([[0.5, 0.2], [0.3, 0.7]]), seed=0)
    np.testing.assert_allclose(u, u2, atol=1e-6)


def test_ema_on_and_off(small: tuple[np.ndarray, np.ndarray]) -> None:
    on = quick(small, epochs=2, ema=0.9)
    off = quick(small, epochs=2, ema=0.0)
    assert on.training_summary()["weights"] == "ema"
    assert off.training_summary()["weights"] == "trained"
    assert not np.array_equal(on.generate(REQ[:3], seed=0), off.generate(REQ[:3], seed=0))
    # the average lies between the start and the end of training, not on the end
    start = quick(small, epochs=0)
    for (name, a), b, c in zip(on.module_.named_parameters(), off.module_.parameters(),
                               start.module_.parameters()):
        if not torch.equal(b, c):
            assert not torch.equal(a, b), name
            break
    else:  # pragma: no cover
        pytest.fail("training changed no weight")


def test_fit_is_deterministic(small: tuple[np.ndarray, np.ndarray]) -> None:
    a, b, c = quick(small, seed=3), quick(small, seed=3), quick(small, seed=4)
    sa, sb, sc = (m.module_.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert np.array_equal(a.generate(REQ, seed=0), b.generate(REQ, seed=0))
    assert not np.array_equal(a.generate(REQ, seed=0), c.generate(REQ, seed=0))


def test_weights_and_bf16(small: tuple[np.ndarray, np.ndarray]) -> None:
    x, f = small
    plain = quick(small)
    weighted = Diffusion(**TINY, epochs=1).fit(x, seed=0, factors=f,
                                               weights=np.r_[np.ones(16), np.zeros(16)])
    assert not np.array_equal(plain.generate(REQ[:3], seed=0), weighted.generate(REQ[:3], seed=0))
    half = quick(small, precision="bf16", sample_steps=3)
    out = half.generate(REQ[:5], seed=0)
    assert out.dtype == np.float32 and np.isfinite(out).all() and 0 <= out.min() <= out.max() <= 1
    assert np.array_equal(half.generate(REQ[:2], seed=0), out[:2])


def test_monitor_called_every_eval_every_steps(small: tuple[np.ndarray, np.ndarray]) -> None:
    x, f = small  # 32 images, batch 8: 4 steps per epoch, 3 epochs = 12 steps
    seen: list[tuple[int, np.ndarray]] = []
    m = Diffusion(**{**TINY, "batch_size": 8}, epochs=3, eval_every=5)

    def monitor(step: int, model: Any) -> None:
        assert model is m
        seen.append((step, model.generate(REQ[:3], seed=0)))

    m.fit(x, seed=0, factors=f, monitor=monitor)
    assert [s for s, _ in seen] == [5, 10]
    assert all(img.shape == (3, 1, 8, 8) and 0 <= img.min() <= img.max() <= 1 for _, img in seen)
    assert not np.array_equal(seen[0][1], seen[1][1])  # the weights moved in between
    assert m.training_summary()["steps"] == 12
    plain = Diffusion(**{**TINY, "batch_size": 8}, epochs=3, eval_every=5).fit(
        x, seed=0, factors=f)  # the monitor did not disturb training
    assert np.array_equal(plain.generate(REQ, seed=1), m.generate(REQ, seed=1))
    calls: list[int] = []
    Diffusion(**{**TINY, "batch_size": 8}, epochs=1).fit(
        x, seed=0, factors=f, monitor=lambda s, _: calls.append(s))
    assert calls == []  # eval_every = 0: never


def test_space_scaling_and_discrete_factors() -> None:
    space = LatentSpace((Factor("pos", 0.0, 10.0), Factor("kind", values=(3.0, 1.0, 2.0))))
    rng = np.random.default_rng(0)
    f = np.stack([rng.uniform(2.0, 4.0, 24), rng.choice([1.0, 2.0, 3.0], 24)], axis=1)
    x = rng.uniform(size=(24, 1, 8, 8)).astype(np.float32)
    m = Diffusion(**TINY, epochs=1).fit(x, seed=0, factors=f, space=space)
    code = m.factor_code(np.array([[0.0, 1.0], [10.0, 3.0], [5.0, 1.4], [20.0, 9.0]]))
    # the shared "space" code: [0, 1] by the bounds, one-hot over the values as listed
    # (3, 1, 2), the nearest one
    np.testing.assert_allclose(code, [[0, 0, 1, 0], [1, 1, 0, 0], [0.5, 0, 1, 0],
                                      [2, 1, 0, 0]], atol=1e-6)
    assert m.generate(np.array([[5.0, 2.0], [9.0, 1.5]]), seed=0).shape == (2, 1, 8, 8)
    free = Diffusion(**TINY, epochs=0).fit(x, seed=0, factors=f)  # no space: training range
    lo, hi = f.min(axis=0), f.max(axis=0)
    np.testing.assert_allclose(free.factor_code(np.stack([lo, hi])), [[0, 0], [1, 1]], atol=1e-6)
    with pytest.raises(DataError, match="one factor per column of factors"):
        Diffusion(**TINY, epochs=0).fit(x, seed=0, factors=f, space=SPACE)


# -- errors --------------------------------------------------------------------------------

def test_clear_errors(small: tuple[np.ndarray, np.ndarray]) -> None:
    x, f = small
    with pytest.raises(DataError, match="not fitted"):
        Diffusion().generate(REQ, seed=0)
    with pytest.raises(DataError, match="true factors"):
        Diffusion(**TINY).fit(x, seed=0)
    with pytest.raises(DataError, match=r"\[32, F\]"):
        Diffusion(**TINY).fit(x, seed=0, factors=f[:5])
    with pytest.raises(DataError, match="finite"):
        Diffusion(**TINY).fit(x, seed=0, factors=np.full_like(f, np.nan))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        Diffusion(**TINY).fit(x * 2 + 1, seed=0, factors=f)
    with pytest.raises(PluginParameterError):
        Diffusion(**TINY).fit(x[:, :, :6, :6], seed=0, factors=f)
    m = quick(small, epochs=0)
    with pytest.raises(DataError, match=r"\[N, 2\]"):
        m.generate(REQ[:, :1], seed=0)
    with pytest.raises(DataError, match=r"\[N, 2\]"):
        m.generate(REQ[0], seed=0)
    with pytest.raises(DataError, match="finite"):
        m.generate(np.array([[0.5, np.inf]]), seed=0)
    with pytest.raises(DataError, match="seed"):
        m.generate(REQ, seed=-1)


def test_failed_fit_leaves_no_half_model(small: tuple[np.ndarray, np.ndarray]) -> None:
    x, f = small
    m = Diffusion(**TINY, epochs=1, lr=1e30)  # diverges: the NaN guard stops it
    with pytest.raises(Exception, match="NaN|infinite"):
        m.fit(x, seed=0, factors=f)
    with pytest.raises(DataError, match="not fitted"):
        m.generate(REQ, seed=0)


# -- save and load -------------------------------------------------------------------------

def test_save_load_exact(tmp_path: Path, small: tuple[np.ndarray, np.ndarray]) -> None:
    space = LatentSpace((Factor("a", 0.0, 1.0), Factor("b", values=(0.0, 0.5, 1.0))))
    x, f = small
    f = f.copy()
    f[:, 1] = np.round(f[:, 1] * 2) / 2
    m = Diffusion(**TINY, epochs=1, guidance=1.5).fit(x, seed=0, factors=f, space=space)
    m.save(tmp_path / "m.pt")
    loaded = Diffusion.load(tmp_path / "m.pt")
    assert loaded.get_params() == m.get_params()
    assert loaded.training_summary() == m.training_summary()
    assert np.array_equal(loaded.generate(REQ, seed=2), m.generate(REQ, seed=2))
    data = torch.load(tmp_path / "m.pt", weights_only=True)
    assert data["format"] == "zsbench.diffusion" and [c["name"] for c in data["code"]] == ["a", "b"]
    assert [c["kind"] for c in data["code"]] == ["scaled", "values"]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_load_refuses_bad_files(tmp_path: Path, small: tuple[np.ndarray, np.ndarray]) -> None:
    quick(small).save(tmp_path / "good.pt")
    good = torch.load(tmp_path / "good.pt", weights_only=True)
    bad: dict[str, Any] = {
        "garbage.pt": b"not a checkpoint",
        "truncated.pt": (tmp_path / "good.pt").read_bytes()[:200],
        "pickle.pt": pickle.dumps(Diffusion()),
    }
    for name, blob in bad.items():
        (tmp_path / name).write_bytes(blob)
    torch.save({"format": "zsbench.torch_model"}, tmp_path / "other.pt")
    torch.save({**good, "format_version": 99}, tmp_path / "version.pt")
    torch.save({k: v for k, v in good.items() if k != "state_dict"}, tmp_path / "nostate.pt")
    torch.save({**good, "image_shape": [1, 16, 16, 3]}, tmp_path / "shape.pt")
    for name in [*bad, "other.pt", "version.pt", "nostate.pt", "shape.pt"]:
        with pytest.raises(DataError, match="cannot load"):
            Diffusion.load(tmp_path / name)
    with pytest.raises(DataError, match="cannot load"):
        Diffusion.load(tmp_path / "missing.pt")


# -- the conformance kit -------------------------------------------------------------------

def test_conformance_kit() -> None:
    """The kit's checks for a model without an encoder: the common ones and, since it can
    generate, the conditional-generator checks (fitted on the kit's blobs with factors)."""
    from zsbench.testing import check_model

    names = []
    for check in check_model(Diffusion(**TINY, epochs=2), image_shape=(1, 8, 8)):
        check.run()
        names.append(check.name)
    assert "check_generate_rows_independent" in names
    assert "check_encode_shape" not in names
