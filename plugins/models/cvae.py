"""The conditional VAE: an encoder and a decoder that both see the true factors; it generates
images for any requested factors from prior draws of its latent."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from zsbench.configurable import Interval, Options
from zsbench.training import LossContext, LossFn
from zsbench_plugins.models._conditional import ConditionalGenerator, FactorCode
from zsbench_plugins.models.base import gaussian_kl
from zsbench_plugins.models.nets import BODIES, Body, build_body


class CVAENet(nn.Module):
    """A body with its latent heads, conditioned on the factors through ``code`` (a
    :class:`FactorCode`, embedding ``c [N, E]``).

    ``encode_stats(x, c) -> (mu, logvar)`` (each ``[N, D]``): the body's encoder features
    of ``x`` concatenated with ``c``, then a mean and a log-variance head;
    ``decode_logits(z, c) -> logits [N, C, H, W]``: the body's decoder (built for a latent of
    ``D + E``) of ``[z, c]``; ``images(z, factors)`` the sigmoid of the decoding."""

    def __init__(self, body: Body, code: FactorCode, latent_dim: int) -> None:
        super().__init__()
        self.code = code
        self.latent_dim = latent_dim
        self.encoder = body.encoder
        self.mean = nn.Linear(body.features + code.width, latent_dim)
        self.log_variance = nn.Linear(body.features + code.width, latent_dim)
        self.decoder = body.decoder

    def encode_stats(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.cat([self.encoder(x), c], 1)
        return self.mean(h), self.log_variance(h)

    def decode_logits(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, c], 1))

    def images(self, z: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z, self.code(factors)))


class ConditionalVAE(ConditionalGenerator):
    """Conditional VAE: encoder and decoder see the true factors; generates from prior draws.

    ``generate(factors, *, seed)`` decodes latents drawn from the prior N(0, I) (fresh for
    every row) together with the requested factors.

    Factor embedding: the ``"space"`` code (continuous factors scaled to [0, 1] by the
    space's bounds, discrete ones one-hot over their values; see
    :func:`~zsbench_plugins.models._conditional.code_spec`). Encoder: the conv body's
    features of the image, concatenated with the embedding, -> mean and log-variance heads.
    Decoder: the body's decoder of [z, embedding]. Loss per sample: reconstruction BCE +
    ``kl_weight`` * KL(N(mu, sigma^2) || N(0, I)), z = mu + sigma * eps.

    Parameters (all keyword-only), besides the training parameters of every conditional
    generator (:class:`~zsbench_plugins.models._conditional.ConditionalGenerator`: epochs,
    batch_size, optimizer, lr, lr_decay, weight_decay, precision, device, progress,
    eval_every, sample_batch):
        latent_dim: size of z (default 3): what the factors leave unexplained.
        kl_weight: weight of the KL term (default 1.0: with ``reconstruction = "bce_sum"``,
            the default, the loss is the negative ELBO of Bernoulli pixels).
        architecture: the conv body, as for ``ae``/``vae`` ("default", "e3").
        reconstruction: "bce_sum" (default, summed over pixels) or "bce_mean".
    """

    name = "cvae"
    checkpoint_format: ClassVar[str] = "zsbench.cvae"
    noise_shape: ClassVar[str] = "latent"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "latent_dim": [Interval(int, 1)],
        "kl_weight": [Interval(float, 0)],
        "architecture": [Options(tuple(BODIES))],
        "reconstruction": [Options(("bce_mean", "bce_sum"))],
    }

    def __init__(
        self,
        *,
        latent_dim: int = 3,
        kl_weight: float = 1.0,
        architecture: Literal["default", "e3"] = "default",
        reconstruction: Literal["bce_mean", "bce_sum"] = "bce_sum",
    ) -> None:
        self.latent_dim = latent_dim
        self.kl_weight = kl_weight
        self.architecture = architecture
        self.reconstruction = reconstruction
        self._check_params()

    def _network(self, image_shape: tuple[int, int, int], code: FactorCode) -> CVAENet:
        body = build_body(self.architecture, image_shape, self.latent_dim + code.width)
        return CVAENet(body, code, self.latent_dim)

    def _loss_fn(self, dev: torch.device) -> LossFn:
        bce_sum = self.reconstruction == "bce_sum"
        kl_weight = float(self.kl_weight)

        def loss(module: nn.Module, batch: Any, ctx: LossContext) -> torch.Tensor:
            x, f = batch
            assert isinstance(module, CVAENet)
            c = module.code(f)
            mu, logvar = module.encode_stats(x, c)
            eps = torch.randn(mu.shape, generator=ctx.generator, device=mu.device,
                              dtype=mu.dtype)
            z = mu + torch.exp(0.5 * logvar) * eps
            logits = module.decode_logits(z, c)
            bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
            rec = bce.sum(1) if bce_sum else bce.mean(1)
            return rec + kl_weight * gaussian_kl(mu, logvar)

        return loss

    def _draw(self, net: nn.Module) -> Any:
        """Row ``i`` decodes ``z_i ~ N(0, I)`` (``row_noise(seed, N, [latent_dim])``) with
        the factors of row ``i``."""
        return net.images
