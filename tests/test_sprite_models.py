"""Tests of the ``beta_tcvae`` and ``factor_decoder`` models and of the runner's handling of
models that learn from the true factors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zsbench.errors import DataError
from zsbench.plugin import EvalContext, capable, needs_factors
from zsbench.registry import Registry
from zsbench.run import run_suite
from zsbench.runner import prepare_data
from zsbench.suite import load_suite
from zsbench.testing import check_model
from zsbench_plugins.datasets.sprites import SpritesDataset
from zsbench_plugins.models import BetaTCVAE, FactorDecoder
from zsbench_plugins.models.beta_tcvae import kl_decomposition, log_normal

REPO = Path(__file__).resolve().parents[1]


def _sprites(n: int = 96, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    ds = SpritesDataset(sampling="uniform", n_samples=n, image_size=size)
    f = ds.factors(seed=seed)
    return f, ds.render(f).astype(np.float32) / 255.0


# -- beta_tcvae ----------------------------------------------------------------------------

def test_kl_decomposition_sums_to_the_single_sample_kl() -> None:
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(32, 4, generator=g)
    logvar = torch.randn(32, 4, generator=g) * 0.3
    z = mu + torch.exp(0.5 * logvar) * torch.randn(32, 4, generator=g)
    mi, tc, dwkl = kl_decomposition(z, mu, logvar, n_train=1000)
    assert mi.shape == tc.shape == dwkl.shape == (32,)
    kl = log_normal(z, mu, logvar).sum(1) - log_normal(z, torch.zeros_like(z),
                                                       torch.zeros_like(z)).sum(1)
    assert torch.allclose(mi + tc + dwkl, kl, atol=1e-5)


def test_total_correlation_sees_dependence() -> None:
    """Posteriors whose means are copies of one another (a fully dependent code) have a
    larger estimated total correlation than independent ones."""
    g = torch.Generator().manual_seed(1)
    logvar = torch.full((256, 3), -4.0)
    independent = torch.randn(256, 3, generator=g)
    dependent = independent[:, :1].repeat(1, 3)
    tcs = []
    for mu in (independent, dependent):
        z = mu + torch.exp(0.5 * logvar) * torch.randn(256, 3, generator=g)
        tcs.append(float(kl_decomposition(z, mu, logvar, n_train=256)[1].mean()))
    assert tcs[1] > tcs[0] + 1.0


def test_beta_tcvae_trains_on_sprites_and_beta_matters() -> None:
    f, x = _sprites()
    common = dict(latent_dim=3, epochs=2, batch_size=16, progress=False, device="cpu")
    a = BetaTCVAE(beta=1.0, **common).fit(x, seed=0)
    b = BetaTCVAE(beta=6.0, **common).fit(x, seed=0)
    za, zb = a.encode(x), b.encode(x)
    assert za.shape == (96, 3) and np.isfinite(za).all()
    assert not np.allclose(za, zb)
    assert a.training_summary()["epochs_run"] == 2
    assert not needs_factors(a)


def test_beta_tcvae_rejects_a_batch_of_one() -> None:
    _, x = _sprites(8)
    with pytest.raises(Exception, match="batch_size"):
        BetaTCVAE(batch_size=1, epochs=1, progress=False).fit(x, seed=0)


@pytest.mark.parametrize("check", list(check_model(
    BetaTCVAE(latent_dim=2, epochs=1, batch_size=4, progress=False, device="cpu"))),
    ids=lambda c: c.name)
def test_beta_tcvae_conformance(check) -> None:  # noqa: ANN001
    check()


# -- factor_decoder ------------------------------------------------------------------------

def _decoder() -> FactorDecoder:
    return FactorDecoder(epochs=5, lr=5e-3, batch_size=16, progress=False, device="cpu")


def test_factor_decoder_learns_from_factors_and_generates(tmp_path: Path) -> None:
    f, x = _sprites()
    model = _decoder().fit(x, seed=0, factors=f)
    assert needs_factors(model) and capable(model, "generate")
    out = model.generate(f[:10], seed=0)
    assert out.shape == (10, 1, 16, 16) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    assert np.array_equal(model.generate(f[:10], seed=1), out)  # deterministic: seed unused
    assert not capable(model, "encode") and not capable(model, "decode")
    # it learned something: closer to the images than the untrained network
    untrained = FactorDecoder(epochs=0, progress=False, device="cpu").fit(x, seed=0, factors=f)
    err = float(np.mean((model.generate(f, seed=0) - x) ** 2))
    assert err < 0.3 * float(np.mean((untrained.generate(f, seed=0) - x) ** 2))
    assert model.history_[-1]["train_loss"] < model.history_[0]["train_loss"]
    # deterministic from the seed, and saved and loaded exactly
    again = _decoder().fit(x, seed=0, factors=f)
    assert np.array_equal(again.generate(f[:10], seed=0), out)
    model.save(tmp_path / "m.pt")
    loaded = FactorDecoder.load(tmp_path / "m.pt")
    assert np.array_equal(loaded.generate(f[:10], seed=0), out)


def test_factor_decoder_clear_errors(tmp_path: Path) -> None:
    f, x = _sprites(16)
    with pytest.raises(DataError, match="factors"):
        _decoder().fit(x, seed=0)
    with pytest.raises(DataError, match=r"\[16, F\]"):
        _decoder().fit(x, seed=0, factors=f[:5])
    model = _decoder().fit(x, seed=0, factors=f)
    with pytest.raises(NotImplementedError):
        model.encode(x)
    with pytest.raises(DataError, match=r"\[N, 5\]"):
        model.generate(f[:, :3], seed=0)
    with pytest.raises(DataError, match="not fitted"):
        _decoder().generate(f, seed=0)
    bad = tmp_path / "bad.pt"
    torch.save({"format": "something else"}, bad)
    with pytest.raises(DataError, match="factor-decoder"):
        FactorDecoder.load(bad)


SUITE = """
[suite]
name = "tiny_sprites"
seeds = [0]

[dataset]
plugin = "sprites"
sampling = "uniform"
n_samples = 400
image_size = 32

[[holdout]]
shape = "box"
low = { shape = 0, x = 0.5 }
high = { shape = 0, x = 1.0 }

[[model]]
plugin = "factor_decoder"
epochs = 1
batch_size = 32
progress = false

[[model]]
plugin = "beta_tcvae"
latent_dim = 4
epochs = 1
batch_size = 32
progress = false

[[metric]]
plugin = "holdout_reconstruction"

[[metric]]
plugin = "mig"
"""


@pytest.mark.slow  # a whole run folder (6-10 s): CI's slow step
def test_runner_gives_factors_to_a_factor_model(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE)
    registry = Registry(autoload=False)
    suite = load_suite(path, registry=registry)
    data = prepare_data(suite, registry)
    hole = data.splits["hole"].factors
    assert len(hole) and (hole[:, 0] == 0).all() and (hole[:, 3] >= 0.5).all()
    out = run_suite(suite, registry=registry, run_dir=tmp_path / "run")
    results = {r.label: r for r in out.results}
    assert {r.status for r in results.values()} == {"ok"}, {k: r.error for k, r in results.items()}
    # the factor decoder has no encoder: the scores of latents are n/a for it (skipped with
    # the reason, not failed), and its reconstructions are scored
    decoder = results["factor_decoder"]
    assert "mig" not in decoder.scores and "encode" in decoder.skipped["metric mig"]
    assert decoder.failures == {}
    assert "mig" in results["beta_tcvae"].scores and not results["beta_tcvae"].skipped
    assert "hole_bce" in decoder.scores


def test_box_selects_one_value_of_a_discrete_factor() -> None:
    from zsbench.regions import Box

    space = SpritesDataset(n_samples=1).space
    box = Box(low={"shape": 0.0, "x": 0.5}, high={"shape": 0.0, "x": 1.0})
    pts = np.array([[0, 0.7, 1.0, 0.75, 0.5], [1, 0.7, 1.0, 0.75, 0.5],
                    [0, 0.7, 1.0, 0.25, 0.5], [0, 0.7, 1.0, 0.5, 0.5]])
    assert box.contains(pts, space).tolist() == [True, False, False, True]
    depth = box.depth(pts, space)
    assert depth[0] == pytest.approx(0.25) and depth[3] == pytest.approx(0.0)
    assert depth[1] == pytest.approx(-1.0) and depth[2] == pytest.approx(-0.25)
    only = Box(low={"shape": 2.0}, high={"shape": 2.0})
    assert only.contains(pts, space).tolist() == [False] * 4
    assert only.depth(np.array([[2, 0.7, 1.0, 0.5, 0.5]]), space).tolist() == [0.0]


def test_evaluate_uses_generate_for_a_factor_model(tmp_path: Path) -> None:
    from zsbench.runner import evaluate

    path = tmp_path / "tiny.toml"
    path.write_text(SUITE)
    registry = Registry(autoload=False)
    suite = load_suite(path, registry=registry)
    data = prepare_data(suite, registry)
    train = data.splits["train"]
    model = _decoder().fit(train.images, seed=0, factors=train.factors)
    ctx: EvalContext = evaluate(model, data, label="fd", seed=0, holdout=suite.holdout)
    assert ctx.latents == {}  # no encoder: no latents, the latent scores are n/a
    assert all(t.latents.shape == (len(t.t), 0) for t in ctx.transects)
    assert np.array_equal(ctx.reconstructions["hole"],
                          model.generate(data.splits["hole"].factors, seed=0))


def test_zero_width_box_side_only_for_discrete_factors(tmp_path: Path) -> None:
    from zsbench.errors import SuiteError

    path = tmp_path / "bad.toml"
    path.write_text(SUITE.replace("low = { shape = 0, x = 0.5 }", "low = { shape = 0, x = 1.0 }"))
    with pytest.raises(SuiteError, match="discrete factor only"):
        load_suite(path, registry=Registry(autoload=False))
    path.write_text(SUITE.replace("low = { shape = 0, x = 0.5 }", "low = { shape = 0.5, x = 0.5 }")
                    .replace("high = { shape = 0, x = 1.0 }", "high = { shape = 0.5, x = 1.0 }"))
    with pytest.raises(SuiteError, match="low must be below high"):
        load_suite(path, registry=Registry(autoload=False))
