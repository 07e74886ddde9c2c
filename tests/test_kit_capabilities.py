"""The conformance kit's checks of a model's optional capabilities (``sample``, ``invert``,
``posterior``; zsbench/testing/capabilities.py): selected by capability, passed by the
standard models that offer them, and each planted fault caught by the check named after
it, and only by that check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from kit_faults import assert_caught_by, failures
import torch

import zsbench.testing as kit
from zsbench.testing import (
    INVERT_CHECKS,
    POSTERIOR_CHECKS,
    SAMPLE_CHECKS,
    Check,
    ConformanceError,
    check_model,
    check_posterior_mean_equals_encode,
)
from zsbench_plugins.models import VAE, AutoEncoder, BetaTCVAE

QUICK: dict[str, Any] = {"epochs": 1, "progress": False, "device": "cpu"}
TRAINED: dict[str, Any] = {**QUICK, "epochs": 10, "lr": 3e-3}
"""A fit whose decoder follows its latents (after one epoch it draws nearly the mean image
whatever the latent, so no latent is much worse than another): for the faults of
``invert``'s quality."""
CAPABILITY_NAMES = {c.__name__ for c in (*SAMPLE_CHECKS, *INVERT_CHECKS, *POSTERIOR_CHECKS)}


def _capability_checks(model: Any) -> list[Check]:
    return [c for c in check_model(model) if c.name in CAPABILITY_NAMES]


# ---------------------------------------------------------------------------------------
# selection and the standard models


def test_checks_are_public_and_selected_by_capability() -> None:
    for name in CAPABILITY_NAMES:
        assert name in kit.__all__ and callable(getattr(kit, name))
    names = [c.name for c in check_model(VAE(**QUICK))]
    assert [n for n in names if n in CAPABILITY_NAMES] == [
        c.__name__ for c in (*SAMPLE_CHECKS, *INVERT_CHECKS, *POSTERIOR_CHECKS)]
    for cls in (AutoEncoder, BetaTCVAE):  # invert (the shared base) but no prior nor posterior
        names = {c.name for c in check_model(cls(**QUICK))}
        assert names & CAPABILITY_NAMES == {c.__name__ for c in INVERT_CHECKS}


STANDARD = {"vae": VAE(**QUICK), "vae_fixed_sigma": VAE(fixed_sigma=0.1, **QUICK),
            # bf16: the posterior's mean is encode's under the same autocast
            "vae_bf16": VAE(precision="bf16", **QUICK), "ae": AutoEncoder(**QUICK),
            "beta_tcvae": BetaTCVAE(latent_dim=2, batch_size=4, **QUICK)}


@pytest.mark.parametrize("model", list(STANDARD.values()), ids=list(STANDARD))
def test_standard_models_pass_the_capability_checks(model: Any) -> None:
    checks = _capability_checks(model)
    assert checks
    assert failures(checks) == {}


# ---------------------------------------------------------------------------------------
# planted faults, each in a VAE that otherwise conforms


class SeedlessSampleVAE(VAE):
    """Planted fault: sample ignores its seed (every seed draws the same images)."""

    name = "seedless_sample"

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        return super().sample(n, seed=0)


class ReseedingSampleVAE(VAE):
    """Planted fault: sample seeds torch's global generator and draws from it (the same
    seed, the same images, but the caller's random state changes)."""

    name = "reseeding_sample"

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        torch.manual_seed(seed)
        z = torch.randn(n, self.latent_dim).numpy()
        return self.decode(z)


class ZeroInvertVAE(VAE):
    """Planted fault: invert returns the origin of the latent space for every image."""

    name = "zero_invert"

    def invert(self, images: np.ndarray, *, seed: int, **budget: Any) -> np.ndarray:
        return np.zeros((len(images), self.latent_dim), dtype=np.float32)


class NoisyInvertVAE(VAE):
    """Planted fault: invert returns the encoder's mean plus (seeded) noise of three times
    the latents' spread, without keeping the mean when it is better."""

    name = "noisy_invert"

    def invert(self, images: np.ndarray, *, seed: int, scale: np.ndarray | None = None,
               **budget: Any) -> np.ndarray:
        z = self.encode(images)
        unit = z.std(axis=0) if scale is None else np.asarray(scale)
        noise = np.random.default_rng(seed).standard_normal(z.shape)
        return (z + 3.0 * unit * noise).astype(np.float32)


class TrainingInvertVAE(VAE):
    """Planted fault: invert also steps the decoder's weights (an optimiser left over the
    network): the latents are right, the model is changed afterwards."""

    name = "training_invert"

    def invert(self, images: np.ndarray, *, seed: int, **budget: Any) -> np.ndarray:
        z = super().invert(images, seed=seed, **budget)
        net = self.module_
        decoder = list(net.decoder.parameters())
        opt = torch.optim.SGD(decoder, lr=0.1)
        with torch.enable_grad():
            logits = net.decode_logits(torch.from_numpy(z))
            self._reconstruction_loss(logits, torch.from_numpy(np.asarray(
                images, np.float32))).mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return z


class OffsetPosteriorVAE(VAE):
    """Planted fault: the posterior's mean is not encode's (an offset)."""

    name = "offset_posterior"

    def posterior(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, logvar = super().posterior(images)
        return mean + 0.1, logvar


class NegativeVariancePosteriorVAE(VAE):
    """Planted fault: the log of a negative variance (NaN) in the posterior."""

    name = "negative_variance"

    def posterior(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, logvar = super().posterior(images)
        var = np.exp(logvar)
        var[:, 0] = -var[:, 0]
        with np.errstate(invalid="ignore"):
            return mean, np.log(var)


# fault -> (broken model, the checks that must fail and no other, a phrase of the message)
PLANTED: dict[str, tuple[Any, set[str], str]] = {
    "sample_ignores_seed": (SeedlessSampleVAE(**QUICK), {"check_sample_seeds_differ"},
                            "sample ignores its seed"),
    "sample_reseeds_torch": (ReseedingSampleVAE(**QUICK),
                             {"check_sample_leaves_state_unchanged"},
                             "changed the global random state of torch"),
    "invert_returns_zeros": (ZeroInvertVAE(**TRAINED), {"check_invert_not_worse_than_encode"},
                             "worse than decode(encode(x))"),
    "invert_adds_noise": (NoisyInvertVAE(**TRAINED), {"check_invert_not_worse_than_encode"},
                          "invert must never be worse than the encoder"),
    "invert_trains_the_decoder": (TrainingInvertVAE(**QUICK),
                                  {"check_invert_leaves_state_unchanged"},
                                  "invert changed the model's state (module_.decoder."),
    "posterior_mean_not_encode": (OffsetPosteriorVAE(**QUICK),
                                  {"check_posterior_mean_equals_encode"},
                                  "the posterior's mean differs from encode(images)"),
    "posterior_negative_variance": (NegativeVariancePosteriorVAE(**QUICK),
                                    {"check_posterior_shape_and_variance"},
                                    "not finite and positive"),
}


@pytest.mark.parametrize(("model", "expected", "phrase"), list(PLANTED.values()),
                         ids=list(PLANTED))
def test_planted_faults_are_caught_by_the_named_check(model: Any, expected: set[str],
                                                      phrase: str) -> None:
    assert_caught_by(model, expected, phrase)


def test_a_capability_check_runs_on_its_own() -> None:
    check_posterior_mean_equals_encode(VAE(**QUICK))
    with pytest.raises(ConformanceError) as info:
        check_posterior_mean_equals_encode(OffsetPosteriorVAE(**QUICK))
    assert (info.value.plugin, info.value.check) == ("offset_posterior",
                                                     "check_posterior_mean_equals_encode")


def test_the_capability_checks_leave_the_global_random_state_alone() -> None:
    np.random.seed(5)
    torch.manual_seed(5)
    expected = (np.random.random(3), torch.rand(3))
    np.random.seed(5)
    torch.manual_seed(5)
    failed = failures(_capability_checks(ReseedingSampleVAE(**QUICK)))
    assert set(failed) == {"check_sample_leaves_state_unchanged"}
    assert np.array_equal(np.random.random(3), expected[0])
    assert torch.equal(torch.rand(3), expected[1])
