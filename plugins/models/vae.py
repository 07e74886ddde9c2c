"""The variational autoencoder, with a learned or a fixed posterior spread and an optional
latent-disentanglement penalty."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch

from zsbench.configurable import Interval
from zsbench.errors import DataError
from zsbench.training import LossContext, batched
from zsbench_plugins.models.base import LatentNet, TorchModel, _check_images, gaussian_kl


def fixed_sigma_kl(mu: torch.Tensor, sigma: float) -> torch.Tensor:
    """E1's KL term for a posterior N(mu, sigma^2) with a fixed ``sigma``, per sample:
    ``mean_i(mu_i^2 + sigma^2 - log sigma^2 - 1)`` over the latent dims; ``mu [B, D] -> [B]``."""
    s2 = sigma * sigma
    return (mu.square() + (s2 - math.log(s2) - 1.0)).mean(1)


def entanglement(mu: torch.Tensor) -> torch.Tensor:
    """E2's entanglement penalty per sample: the mean over the d(d-1)/2 pairs i < j of
    ``|mu_i mu_j|``; ``mu [B, D] -> [B]`` (zeros when D = 1)."""
    d = mu.shape[1]
    if d < 2:
        return mu.new_zeros(mu.shape[0])
    i, j = torch.triu_indices(d, d, offset=1, device=mu.device)
    return (mu[:, i] * mu[:, j]).abs().mean(1)


class VAE(TorchModel):
    """Convolutional VAE: learned or fixed posterior sigma, KL and optional entanglement loss.

    Loss per sample = reconstruction BCE + ``kl_weight`` * KL + ``entanglement_weight`` *
    L_entg; per-sample weights multiply it before the batch mean.

    Parameters (all keyword-only), besides those of the ``ae`` model (latent_dim,
    architecture, epochs, batch_size, optimizer, lr, lr_decay, weight_decay, early_stopping, device,
    progress, reconstruction, precision, init):
        kl_weight: weight of the KL term.
        fixed_sigma: absent (None): the standard VAE: the encoder has a log-variance head,
            z = mu + exp(logvar / 2) * eps and KL = 0.5 * sum_i(mu_i^2 + var_i - log var_i - 1).
            A number: the E1 model: the encoder outputs means only, z = mu + fixed_sigma * eps
            and KL = mean_i(mu_i^2 + sigma^2 - log sigma^2 - 1).
        entanglement_weight: weight of E2's L_entg = mean over pairs i < j of |mu_i mu_j|
            (0 = off).

    ``encode`` returns the latent means ``[N, D]``; ``decode`` images ``[N, C, H, W]`` in [0, 1].

    The prior is N(0, I) in both variants: the standard VAE's KL is the usual one to
    N(0, I), and the fixed-sigma KL, mean_i(mu_i^2 + sigma^2 - log sigma^2 - 1), is
    2 / D times KL(N(mu, sigma^2 I) || N(0, I)). ``sample(n, seed=...)`` decodes draws from
    it; ``invert`` (the latent that best reproduces an image) comes from the shared base.
    """

    name = "vae"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "kl_weight": [Interval(float, 0)],
        "fixed_sigma": [None, Interval(float, 0, closed="neither",
                                       note="E1 uses 0.1; leave it out for a learned sigma")],
        "entanglement_weight": [Interval(float, 0, note="0 = off")],
    }

    def __init__(self, *, kl_weight: float = 8e-3, fixed_sigma: float | None = None,
                 entanglement_weight: float = 0.0) -> None:
        self.kl_weight = kl_weight
        self.fixed_sigma = fixed_sigma
        self.entanglement_weight = entanglement_weight
        self._check_params()

    def _has_log_variance(self) -> bool:
        return self.fixed_sigma is None

    def posterior(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The approximate posterior q(z | x) of ``images`` float32 ``[N, C, H, W]``: its
        mean and log-variance, each ``[N, D]`` float32 (with ``fixed_sigma``, the
        log-variance is ``2 log fixed_sigma`` everywhere). Latent-health metrics read the KL
        per dimension from it. Computed under the model's ``precision``, as :meth:`encode`
        is, so that the mean is ``encode(images)`` with "bf16" too."""
        net = self._fitted()
        x = _check_images(images, self.name, "images", self.image_shape_)
        mean = batched(net, net.encode_mean, x, self.device_, precision=self.precision)
        if self.fixed_sigma is not None:
            return mean, np.full_like(mean, 2.0 * math.log(self.fixed_sigma))
        logvar = batched(net, lambda t: net.encode_stats(t)[1], x, self.device_,
                         precision=self.precision)
        return mean, logvar

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        """``n`` images float32 ``[n, C, H, W]`` in [0, 1] decoded from latents drawn from the
        prior N(0, I) with ``numpy.random.default_rng(seed)`` (the same draws on every
        device), decoded under the model's ``precision`` as :meth:`decode` is."""
        net = self._fitted()
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise DataError(f'model "{self.name}": sample size n must be an integer >= 0; '
                            f"got {n!r}.")
        z = np.random.default_rng(seed).standard_normal((int(n), self.latent_dim))
        return batched(net, net.decode_images, z.astype(np.float32), self.device_,
                       precision=self.precision)

    def _loss(self, net: LatentNet, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        """Per-sample VAE loss ``[B]`` of ``batch [B, C, H, W]``; the noise comes from
        ``ctx.generator`` alone."""
        mu, logvar = net.encode_stats(batch)
        eps = torch.randn(mu.shape, generator=ctx.generator, device=mu.device, dtype=mu.dtype)
        if self.fixed_sigma is not None:
            z = mu + self.fixed_sigma * eps
            kl = fixed_sigma_kl(mu, self.fixed_sigma)
        else:
            assert logvar is not None
            z = mu + torch.exp(0.5 * logvar) * eps
            kl = gaussian_kl(mu, logvar)
        loss = self._reconstruction_loss(net.decode_logits(z), batch) + self.kl_weight * kl
        if self.entanglement_weight:
            loss = loss + self.entanglement_weight * entanglement(mu)
        return loss
