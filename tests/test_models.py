"""The standard torch models ``ae`` and ``vae`` and their conv bodies, on tiny blob images."""

from __future__ import annotations

import math
import pickle
import typing
from pathlib import Path

import numpy as np
import pytest
import torch

from zsbench.errors import DataError, PluginParameterError, TrainingError
from zsbench.plugin import Model
from zsbench.training import LossContext
from zsbench_plugins.models import AutoEncoder, VAE, zsbench_add_models
from zsbench_plugins.models.base import TorchModel
from zsbench_plugins.models.nets import BODIES, build_body
from zsbench_plugins.models.vae import entanglement, fixed_sigma_kl, gaussian_kl

SIZE = 16


def blobs(n: int = 64, size: int = SIZE, seed: int = 0) -> np.ndarray:
    """``[n, 1, size, size]`` float32 Gaussian blobs of random centre and width in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    cx, cy = rng.uniform(0.25, 0.75, (2, n, 1, 1)).astype(np.float32)
    s = rng.uniform(0.06, 0.15, (n, 1, 1)).astype(np.float32)
    img = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * s**2))
    return img[:, None].astype(np.float32)


IMAGES = blobs()

MODELS: dict[str, typing.Callable[..., TorchModel]] = {
    "ae": lambda **kw: AutoEncoder(progress=False, **kw),
    "vae": lambda **kw: VAE(progress=False, **kw),
    "vae-fixed": lambda **kw: VAE(progress=False, fixed_sigma=0.1, **kw),
    "vae-entangled": lambda **kw: VAE(progress=False, kl_weight=1e-3, entanglement_weight=1e-2,
                                      **kw),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request: pytest.FixtureRequest) -> TorchModel:
    return MODELS[request.param](epochs=2, device="cpu").fit(IMAGES, seed=0)


# -- plugin contract ---------------------------------------------------------------------

def test_hook_contributes_both_models() -> None:
    classes = zsbench_add_models()
    assert [c.name for c in classes] == ["ae", "vae", "beta_tcvae", "factor_decoder", "cvae",
                                         "diffusion", "nearest_training", "blank"]
    for cls in classes:
        assert issubclass(cls, Model)
        assert cls.summary() and "\n" not in cls.summary()
        hints = typing.get_type_hints(cls.__init__)
        for key in cls.parameters():
            assert key in hints, f"{cls.name}.{key} has no type hint"


def test_params_stored_unchanged() -> None:
    m = VAE(latent_dim=4, fixed_sigma=0.1, kl_weight=5e-4, optimizer="rmsprop", lr_decay=0.9)
    params = m.get_params()
    assert params["latent_dim"] == 4 and params["fixed_sigma"] == 0.1
    assert params["optimizer"] == "rmsprop" and params["lr_decay"] == 0.9
    assert set(AutoEncoder.parameters()) < set(VAE.parameters())
    assert {"kl_weight", "fixed_sigma", "entanglement_weight"} == (
        set(VAE.parameters()) - set(AutoEncoder.parameters()))
    assert "fixed_sigma=0.1" in repr(m)


def test_registry_validates_literals() -> None:
    from zsbench.registry import check_params

    check_params("model", "vae", VAE, {"fixed_sigma": 0.1, "optimizer": "rmsprop",
                                       "architecture": "e3", "device": "auto"})
    check_params("model", "vae", VAE, {"fixed_sigma": None})
    with pytest.raises(PluginParameterError, match="optimizer"):
        check_params("model", "vae", VAE, {"optimizer": "sgd"})
    with pytest.raises(PluginParameterError, match="reconstruction"):
        check_params("model", "ae", AutoEncoder, {"reconstruction": "mse"})


def test_bad_param_values_are_reported_at_fit() -> None:
    with pytest.raises(PluginParameterError, match="fixed_sigma"):
        VAE(fixed_sigma=-1.0, progress=False).fit(IMAGES, seed=0)
    with pytest.raises(PluginParameterError, match="latent_dim"):
        AutoEncoder(latent_dim=0, progress=False).fit(IMAGES, seed=0)
    with pytest.raises(PluginParameterError, match="lr"):
        AutoEncoder(lr=0.0, progress=False).fit(IMAGES, seed=0)



def test_glorot_init_draws_keras_defaults() -> None:
    """init = "glorot": every conv, transposed conv and dense weight within the Glorot bound
    sqrt(6 / (fan_in + fan_out)) with about the Glorot spread, biases zero; the same seed
    gives the same weights; "torch" (the default) keeps PyTorch's nonzero biases."""
    net = AutoEncoder(architecture="e3", init="glorot")._build((1, 36, 36), seed=3)
    layers = [m for m in net.modules()
              if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear))]
    assert len(layers) == 11  # 4 conv, dense 64, the mean head, dense, 4 transposed conv
    for layer in layers:
        fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(layer.weight)
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        w = layer.weight.detach()
        assert float(w.abs().max()) <= bound
        if w.numel() >= 1000:  # uniform on [-a, a]: standard deviation a / sqrt(3)
            assert float(w.std()) == pytest.approx(bound / math.sqrt(3), rel=0.1)
        assert not torch.any(layer.bias)
    again = AutoEncoder(architecture="e3", init="glorot")._build((1, 36, 36), seed=3)
    for a, b in zip(net.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    default = AutoEncoder(architecture="e3")._build((1, 36, 36), seed=3)
    assert torch.any(default.mean.bias) and not torch.equal(default.mean.weight, net.mean.weight)
    with pytest.raises(PluginParameterError, match="init"):
        AutoEncoder(init="keras")

# -- shapes and ranges -------------------------------------------------------------------

def test_shapes_and_ranges(fitted: TorchModel) -> None:
    z = fitted.encode(IMAGES[:10])
    assert z.shape == (10, 3) and z.dtype == np.float32 and np.all(np.isfinite(z))
    out = fitted.decode(np.random.default_rng(1).normal(0, 3, (7, 3)))
    assert out.shape == (7, 1, SIZE, SIZE) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    rec = fitted.reconstruct(IMAGES[:5])
    assert rec.shape == (5, 1, SIZE, SIZE)
    np.testing.assert_array_equal(rec, fitted.decode(fitted.encode(IMAGES[:5])))
    assert fitted.encode(IMAGES[:0]).shape == (0, 3)


def test_encode_is_deterministic_and_batched(fitted: TorchModel) -> None:
    # encode gives the means: no sampling noise, and batching does not matter
    full = fitted.encode(IMAGES)
    np.testing.assert_array_equal(full, fitted.encode(IMAGES))
    np.testing.assert_allclose(full[10:20], fitted.encode(IMAGES[10:20]), rtol=1e-5, atol=1e-6)


def test_training_summary(fitted: TorchModel) -> None:
    s = fitted.training_summary()
    assert s["epochs_run"] == 2 and s["device"] == "cpu" and s["stopped_early"] is False
    assert math.isfinite(s["final_train_loss"]) and s["seconds"] >= 0
    assert len(fitted.history_) == 2
    assert VAE().training_summary() == {}


# -- determinism ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["ae", "vae-fixed", "vae"])
def test_same_seed_same_model_other_seed_other_model(kind: str) -> None:
    a = MODELS[kind](epochs=1).fit(IMAGES, seed=5).encode(IMAGES)
    b = MODELS[kind](epochs=1).fit(IMAGES, seed=5).encode(IMAGES)
    c = MODELS[kind](epochs=1).fit(IMAGES, seed=6).encode(IMAGES)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fit_leaves_global_rng_alone() -> None:
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    VAE(epochs=1, progress=False).fit(IMAGES, seed=1)
    assert torch.equal(before, torch.random.get_rng_state())


# -- save / load ---------------------------------------------------------------------------

def test_save_load_round_trip(fitted: TorchModel, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    fitted.save(path)
    loaded = type(fitted).load(path)
    assert type(loaded) is type(fitted)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.training_summary() == fitted.training_summary()
    np.testing.assert_array_equal(loaded.encode(IMAGES), fitted.encode(IMAGES))
    np.testing.assert_array_equal(loaded.reconstruct(IMAGES), fitted.reconstruct(IMAGES))
    # the file holds only plain containers and tensors
    torch.load(path, weights_only=True)


def test_load_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "zsbench.torch_model", "payload": Path("/etc/passwd")}, path)
    with pytest.raises(DataError, match="safe loading"):
        VAE.load(path)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(Path("x"), protocol=2))
    with pytest.raises(DataError, match="cannot load"):
        AutoEncoder.load(raw)


def test_load_checks_format_and_kind(tmp_path: Path) -> None:
    other = tmp_path / "other.pt"
    torch.save({"something": torch.zeros(3)}, other)
    with pytest.raises(DataError, match="not a zsbench torch model"):
        VAE.load(other)
    ae = AutoEncoder(epochs=0, progress=False).fit(IMAGES, seed=0)
    path = tmp_path / "ae.pt"
    ae.save(path)
    with pytest.raises(DataError, match='holds a "ae" model'):
        VAE.load(path)


def test_save_before_fit_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not fitted"):
        VAE().save(tmp_path / "x.pt")


# -- bad inputs ----------------------------------------------------------------------------

def test_bad_inputs_are_data_errors(fitted: TorchModel) -> None:
    with pytest.raises(DataError, match=r"\[N, C, H, W\].*channel axis"):
        fitted.encode(IMAGES[:, 0])
    with pytest.raises(DataError, match="fitted on"):
        fitted.encode(np.zeros((2, 3, SIZE, SIZE), np.float32))
    with pytest.raises(DataError, match="fitted on"):
        fitted.encode(np.zeros((2, 1, SIZE + 1, SIZE), np.float32))
    with pytest.raises(DataError, match="divide by 255"):
        fitted.encode(IMAGES * 255)
    with pytest.raises(DataError, match="NaN"):
        fitted.encode(np.full((1, 1, SIZE, SIZE), np.nan, np.float32))
    with pytest.raises(DataError, match=r"\[N, 3\]"):
        fitted.decode(np.zeros((2, 4)))
    with pytest.raises(DataError, match=r"\[N, 3\]"):
        fitted.decode(np.zeros(3))
    with pytest.raises(DataError, match="finite"):
        fitted.decode(np.full((1, 3), np.inf))


def test_use_before_fit_is_a_data_error() -> None:
    with pytest.raises(DataError, match="not fitted"):
        VAE().encode(IMAGES)
    with pytest.raises(DataError, match="not fitted"):
        AutoEncoder().decode(np.zeros((1, 3)))


def test_fit_input_errors() -> None:
    with pytest.raises(DataError, match=r"\[N, C, H, W\]"):
        VAE(progress=False).fit(IMAGES[:, 0], seed=0)
    with pytest.raises(DataError, match="no images"):
        VAE(progress=False).fit(IMAGES[:0], seed=0)
    with pytest.raises(DataError, match="validation"):
        VAE(progress=False).fit(IMAGES, seed=0, validation=blobs(4, size=8))


# -- losses --------------------------------------------------------------------------------

def test_fixed_sigma_kl_matches_the_spec() -> None:
    mu = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]])
    sigma = 0.1
    expected = [
        np.mean([m * m + sigma**2 - math.log(sigma**2) - 1 for m in row]) for row in mu.tolist()
    ]
    np.testing.assert_allclose(fixed_sigma_kl(mu, sigma).numpy(), expected, rtol=1e-6)
    # batch mean as the loss uses it: mean over latent dims and batch
    assert float(fixed_sigma_kl(mu, sigma).mean()) == pytest.approx(
        float((mu**2 + sigma**2 - math.log(sigma**2) - 1).mean()), rel=1e-6)


def test_gaussian_kl_is_the_usual_one() -> None:
    mu = torch.tensor([[0.3, -0.2]])
    logvar = torch.tensor([[math.log(0.5), math.log(2.0)]])
    p = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    q = torch.distributions.Normal(torch.zeros(1, 2), torch.ones(1, 2))
    expected = torch.distributions.kl_divergence(p, q).sum(1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)
    assert float(gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3))) == 0.0


def test_entanglement_matches_the_spec() -> None:
    mu = torch.tensor([[1.0, -2.0, 3.0], [0.5, 0.0, 0.0]])
    # pairs (0,1), (0,2), (1,2): |1*-2|, |1*3|, |-2*3| -> (2 + 3 + 6) / 3; second row 0
    np.testing.assert_allclose(entanglement(mu).numpy(), [11 / 3, 0.0])
    assert entanglement(mu).mean().item() == pytest.approx(11 / 6)
    assert entanglement(torch.ones(4, 1)).tolist() == [0.0] * 4


def _ctx() -> LossContext:
    return LossContext(torch.Generator().manual_seed(0), n_train=len(IMAGES), epoch=1,
                       epochs=1, step=0, steps_per_epoch=1)


def test_vae_loss_is_bce_plus_weighted_terms() -> None:
    model = VAE(fixed_sigma=0.1, kl_weight=8e-3, entanglement_weight=1e-2, epochs=0,
                progress=False).fit(IMAGES, seed=0)
    net = model.module_
    batch = torch.from_numpy(IMAGES[:4])
    got = model._loss(net, batch, _ctx())
    with torch.no_grad():
        mu, logvar = net.encode_stats(batch)
    assert logvar is None  # fixed sigma: means only
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))
    logits = net.decode_logits(mu + 0.1 * eps)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, batch, reduction="none").mean((1, 2, 3))
    expected = bce + 8e-3 * fixed_sigma_kl(mu, 0.1) + 1e-2 * entanglement(mu)
    torch.testing.assert_close(got, expected)
    summed = VAE(fixed_sigma=0.1, reconstruction="bce_sum", epochs=0, progress=False)
    summed.fit(IMAGES, seed=0)
    got_sum = summed._loss(summed.module_, batch, _ctx())
    torch.testing.assert_close(got_sum - 8e-3 * fixed_sigma_kl(mu, 0.1),
                               bce * SIZE * SIZE, rtol=1e-4, atol=1e-3)


def test_standard_vae_has_a_log_variance_head() -> None:
    model = VAE(epochs=0, progress=False).fit(IMAGES, seed=0)
    _, logvar = model.module_.encode_stats(torch.from_numpy(IMAGES[:2]))
    assert logvar is not None and logvar.shape == (2, 3)
    ae = AutoEncoder(epochs=0, progress=False).fit(IMAGES, seed=0)
    assert ae.module_.log_variance is None


# -- training behaviour ----------------------------------------------------------------------

def test_nan_guard_names_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def nan_loss(self: VAE, net: object, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        return torch.full((batch.shape[0],), float("nan"), requires_grad=True)

    monkeypatch.setattr(VAE, "_loss", nan_loss)
    with pytest.raises(TrainingError) as info:
        VAE(epochs=2, progress=False).fit(IMAGES, seed=0)
    assert info.value.model == "vae"
    assert "NaN at epoch 1, step 1" in str(info.value)


def test_weights_change_the_model() -> None:
    plain = AutoEncoder(epochs=1, progress=False).fit(IMAGES, seed=0).encode(IMAGES)
    w = np.zeros(len(IMAGES))
    w[:6] = 1.0
    weighted = AutoEncoder(epochs=1, progress=False).fit(IMAGES, seed=0, weights=w)
    assert not np.array_equal(plain, weighted.encode(IMAGES))
    with pytest.raises(DataError, match="weights"):
        AutoEncoder(epochs=1, progress=False).fit(IMAGES, seed=0, weights=np.ones(3))


def test_early_stopping_on_validation() -> None:
    dark = IMAGES * 0.05
    white = np.ones((8, 1, SIZE, SIZE), np.float32)
    model = AutoEncoder(epochs=30, early_stopping=1, lr=3e-3, progress=False)
    model.fit(dark, seed=0, validation=white)
    s = model.training_summary()
    assert s["stopped_early"] is True and s["epochs_run"] < 30
    assert s["monitor"] == "validation" and s["final_val_loss"] is not None


def test_rmsprop_and_lr_decay_train() -> None:
    model = VAE(optimizer="rmsprop", lr_decay=0.5, latent_dim=4, kl_weight=5e-4, epochs=2,
                progress=False).fit(IMAGES, seed=0)
    assert math.isfinite(model.training_summary()["final_train_loss"])
    assert [h["lr"] for h in model.history_] == pytest.approx([1e-3, 5e-4])
    assert model.encode(IMAGES[:3]).shape == (3, 4)


def test_epochs_zero_gives_an_untrained_but_usable_model() -> None:
    model = VAE(epochs=0, progress=False).fit(IMAGES, seed=0)
    assert model.training_summary()["epochs_run"] == 0
    assert model.reconstruct(IMAGES[:2]).shape == (2, 1, SIZE, SIZE)


def test_training_reduces_reconstruction_error() -> None:
    untrained = AutoEncoder(epochs=0, progress=False).fit(IMAGES, seed=0)
    trained = AutoEncoder(epochs=8, lr=3e-3, progress=False).fit(IMAGES, seed=0)
    err0 = np.abs(untrained.reconstruct(IMAGES) - IMAGES).mean()
    err1 = np.abs(trained.reconstruct(IMAGES) - IMAGES).mean()
    assert err1 < 0.7 * err0


# -- bodies ----------------------------------------------------------------------------------

def test_body_registry() -> None:
    assert set(BODIES) == {"default", "e3"}
    hint = typing.get_type_hints(VAE.__init__)["architecture"]
    assert set(typing.get_args(hint)) == set(BODIES)
    with pytest.raises(DataError, match="unknown architecture"):
        build_body("huge", (1, 36, 36), 3)


def test_e3_body_is_36x36() -> None:
    body = build_body("e3", (1, 36, 36), 3)
    x = torch.rand(2, 1, 36, 36)
    assert body.encoder(x).shape == (2, body.features) and body.features == 64
    assert body.decoder(torch.zeros(2, 3)).shape == (2, 1, 36, 36)
    convs = [m for m in body.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 64]
    deconvs = [m for m in body.decoder if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(d.out_channels, d.stride[0]) for d in deconvs] == [(64, 1), (64, 3), (32, 3), (1, 1)]
    with pytest.raises(DataError, match="36x36"):
        build_body("e3", (1, 64, 64), 3)


def test_e3_model_fits_36x36_and_rejects_64x64() -> None:
    small = blobs(16, size=36)
    model = AutoEncoder(architecture="e3", epochs=1, batch_size=8, reconstruction="bce_sum",
                        progress=False).fit(small, seed=0)
    assert model.reconstruct(small[:2]).shape == (2, 1, 36, 36)
    with pytest.raises(DataError, match='model "vae".*36x36'):
        VAE(architecture="e3", epochs=1, progress=False).fit(blobs(4, size=64), seed=0)


@pytest.mark.parametrize("size", [8, 16, 28, 36, 64])
def test_default_body_adapts_to_the_size(size: int) -> None:
    body = build_body("default", (1, size, size), 3)
    x = torch.rand(3, 1, size, size)
    assert body.encoder(x).shape == (3, body.features)
    assert body.decoder(torch.zeros(3, 3)).shape == (3, 1, size, size)
    assert isinstance(body.decoder[-1], torch.nn.ConvTranspose2d)  # logits, no ReLU


def test_default_body_non_square() -> None:
    body = build_body("default", (2, 20, 12), 3)
    assert body.encoder(torch.rand(1, 2, 20, 12)).shape == (1, body.features)
    assert body.decoder(torch.zeros(1, 3)).shape == (1, 2, 20, 12)


def test_default_body_trains_at_28() -> None:
    images = blobs(16, size=28)
    model = VAE(epochs=1, progress=False).fit(images, seed=0)
    assert model.reconstruct(images[:2]).shape == (2, 1, 28, 28)


def test_default_body_at_256_and_three_channels() -> None:
    body = build_body("default", (3, 256, 256), 2)
    with torch.no_grad():
        assert body.encoder(torch.rand(2, 3, 256, 256)).shape == (2, body.features)
        assert body.decoder(torch.zeros(2, 2)).shape == (2, 3, 256, 256)


@pytest.mark.parametrize("size", [4, 300])
def test_default_body_rejects_sizes_out_of_range(size: int) -> None:
    with pytest.raises(DataError, match="from 8 to 256"):
        build_body("default", (1, size, size), 3)
