"""Training precision (fp32 default, bf16 autocast) and the CUDA device."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zsbench.errors import PluginParameterError
from zsbench.plugin import capable
from zsbench.training import autocast, batched
from zsbench_plugins.models import VAE, AutoEncoder


def blobs(n: int = 48, size: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    cx, cy = rng.uniform(0.25, 0.75, (2, n, 1, 1)).astype(np.float32)
    img = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 0.1**2))
    return img[:, None].astype(np.float32)


IMAGES = blobs()


def test_fp32_is_the_default_and_changes_nothing() -> None:
    assert VAE().precision == AutoEncoder().precision == "fp32"
    a = VAE(progress=False, epochs=1, device="cpu").fit(IMAGES, seed=0)
    b = VAE(progress=False, epochs=1, device="cpu", precision="fp32").fit(IMAGES, seed=0)
    np.testing.assert_array_equal(a.encode(IMAGES), b.encode(IMAGES))
    dev = torch.device("cpu")
    x = torch.ones(2, 2)
    with autocast(dev, "fp32"):
        assert (x @ x).dtype == torch.float32
    with autocast(dev, "bf16"):
        assert (x @ x).dtype == torch.bfloat16


@pytest.mark.parametrize("cls", [AutoEncoder, VAE])
def test_bf16_trains_and_evaluates_on_the_cpu(cls: type) -> None:
    fp32 = cls(progress=False, epochs=2, device="cpu").fit(IMAGES, seed=0)
    bf16 = cls(progress=False, epochs=2, device="cpu", precision="bf16").fit(IMAGES, seed=0)
    z = bf16.encode(IMAGES)
    r = bf16.decode(z)
    assert z.dtype == np.float32 and r.dtype == np.float32 and np.isfinite(r).all()
    assert not np.array_equal(z, fp32.encode(IMAGES))  # it really ran in bfloat16
    # the same model, close to the fp32 one after the same steps
    err32 = np.abs(fp32.decode(fp32.encode(IMAGES)) - IMAGES).mean()
    err16 = np.abs(r - IMAGES).mean()
    assert abs(err16 - err32) < 0.05
    np.testing.assert_array_equal(z, bf16.encode(IMAGES))  # deterministic


@pytest.mark.parametrize("native", [True, False])
def test_bf16_without_bf16_instructions_warns_that_it_is_slower(
        native: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import zsbench.training as training

    monkeypatch.setattr(training, "native_bf16", lambda dev: native)
    with caplog.at_level("WARNING", logger="zsbench"):
        AutoEncoder(progress=False, epochs=1, device="cpu", precision="bf16").fit(IMAGES, seed=0)
        AutoEncoder(progress=False, epochs=1, device="cpu").fit(IMAGES, seed=0)
    slower = [r for r in caplog.records if "slower" in r.getMessage()]
    assert len(slower) == (0 if native else 1)  # and never for fp32
    if not native:
        assert '"bf16"' in slower[0].getMessage() and "CPU" in slower[0].getMessage()


def test_bad_precision_is_a_parameter_error() -> None:
    with pytest.raises(PluginParameterError, match="precision"):
        AutoEncoder(precision="fp16")


def test_batched_runs_under_inference_mode() -> None:
    seen = []
    net = torch.nn.Linear(3, 2)

    def fn(x: torch.Tensor) -> torch.Tensor:
        seen.append(torch.is_inference_mode_enabled())
        return net(x)

    out = batched(net, fn, np.ones((700, 3), np.float32), torch.device("cpu"), batch_size=256)
    assert out.shape == (700, 2) and seen == [True, True, True]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_trains_evaluates_inverts_and_samples_on_the_gpu(precision: str) -> None:
    model = VAE(progress=False, epochs=2, device="auto", precision=precision).fit(IMAGES, seed=0)
    assert model.device_.type == "cuda"
    assert next(model.module_.parameters()).is_cuda
    assert model.training_summary()["device"].startswith("cuda")
    z = model.encode(IMAGES)
    assert z.shape == (len(IMAGES), 3) and np.isfinite(model.decode(z)).all()
    if capable(model, "invert"):
        assert np.isfinite(model.invert(IMAGES[:4], seed=0)).all()
    if capable(model, "sample"):
        assert model.sample(4, seed=0).shape == (4, *IMAGES.shape[1:])
