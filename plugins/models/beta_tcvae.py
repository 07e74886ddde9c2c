"""The beta-TC-VAE (Chen et al. 2018): the VAE's KL split into index-code mutual information,
total correlation and dimension-wise KL, with the total correlation weighted by beta."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from zsbench.configurable import Interval
from zsbench.training import LossContext
from zsbench_plugins.models.base import LatentNet, TorchModel

LOG_2PI = math.log(2.0 * math.pi)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log density of ``z`` under ``N(mu, exp(logvar))`` (broadcasting)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).square() * torch.exp(-logvar))


def kl_decomposition(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                     n_train: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(mutual information, total correlation, dimension-wise KL)``, each ``[B]``, of the
    samples ``z [B, D]`` drawn from the posteriors ``N(mu, exp(logvar))`` ``[B, D]`` of a
    minibatch, by minibatch-weighted sampling (Chen et al. 2018, eq. S5): with ``M = B``
    and the dataset size ``N``,
    ``log q(z_i) ~ logsumexp_j log q(z_i | x_j) - log(N M)`` and likewise for each
    marginal ``log q(z_id)``. Then ``MI = log q(z|x) - log q(z)``, ``TC = log q(z) -
    sum_d log q(z_d)``, ``DWKL = sum_d log q(z_d) - log p(z)``; their sum is the usual
    single-sample KL estimate ``log q(z|x) - log p(z)``."""
    b = z.shape[0]
    log_nm = math.log(max(int(n_train), 1) * b)
    pairs = log_normal(z[:, None, :], mu[None, :, :], logvar[None, :, :])  # [B, B, D]
    log_qz = torch.logsumexp(pairs.sum(2), dim=1) - log_nm
    log_prod_qz = (torch.logsumexp(pairs, dim=1) - log_nm).sum(1)
    log_qz_x = log_normal(z, mu, logvar).sum(1)
    log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).sum(1)
    return log_qz_x - log_qz, log_qz - log_prod_qz, log_prod_qz - log_pz


class BetaTCVAE(TorchModel):
    """beta-TC-VAE: the VAE with its KL decomposed and the total correlation weighted by beta.

    Loss per sample = reconstruction BCE + ``kl_weight`` * (``alpha`` * MI + ``beta`` * TC
    + ``gamma`` * DWKL), the index-code mutual information, total correlation and
    dimension-wise KL estimated by minibatch-weighted sampling over the batch (which
    needs the training-set size: the training loop's ``LossContext.n_train``). With
    ``alpha = beta = gamma = 1`` it is the VAE's loss (up to the estimator). The encoder
    has a mean and a log-variance head, ``z = mu + exp(logvar / 2) * eps``.

    Parameters (all keyword-only), besides those of the ``ae`` model (latent_dim,
    architecture, epochs, batch_size, optimizer, lr, lr_decay, weight_decay, early_stopping, device,
    progress, reconstruction):
        kl_weight: weight of the whole KL (1 with reconstruction = "bce_sum" is the paper's
            loss; with "bce_mean" divide by the number of pixels).
        beta: weight of the total correlation (the paper's beta; 6 on dSprites).
        alpha, gamma: weights of the mutual information and dimension-wise KL (1 and 1).

    Batches of at least 2 are needed for the estimator; larger batches (64 and more)
    estimate the total correlation better. ``encode`` returns the latent means ``[N, D]``.
    """

    name = "beta_tcvae"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        key: [Interval(float, 0)] for key in ("kl_weight", "beta", "alpha", "gamma")}

    def __init__(self, *, kl_weight: float = 1.0, beta: float = 6.0, alpha: float = 1.0,
                 gamma: float = 1.0) -> None:
        self.kl_weight = kl_weight
        self.beta = beta
        self.alpha = alpha
        self.gamma = gamma
        self._check_params()

    def _has_log_variance(self) -> bool:
        return True

    def _check_params(self) -> None:
        super()._check_params()
        if self.batch_size < 2:
            self._bad_param("batch_size", f"must be at least 2 for the minibatch estimator of "
                            f"the total correlation; got {self.batch_size}.",
                            "give e.g. batch_size = 64.")

    def _loss(self, net: LatentNet, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        """Per-sample loss ``[B]`` of ``batch [B, C, H, W]``; noise from ``ctx.generator``."""
        mu, logvar = net.encode_stats(batch)
        assert logvar is not None
        eps = torch.randn(mu.shape, generator=ctx.generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps
        mi, tc, dwkl = kl_decomposition(z, mu, logvar, ctx.n_train)
        kl = self.alpha * mi + self.beta * tc + self.gamma * dwkl
        return self._reconstruction_loss(net.decode_logits(z), batch) + self.kl_weight * kl
