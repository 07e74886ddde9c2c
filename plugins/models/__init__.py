"""Standard models: ``ae`` (convolutional autoencoder), ``vae`` (convolutional VAE),
``beta_tcvae`` (the beta-TC-VAE), ``factor_decoder`` (true factors to images), ``cvae``
(the conditional VAE: images for requested factors) and ``diffusion`` (a conditional
denoising generator: DDPM or rectified flow)."""

from __future__ import annotations

from zsbench import hookimpl
from zsbench.plugin import Model
from zsbench_plugins.models.ae import AutoEncoder
from zsbench_plugins.models.beta_tcvae import BetaTCVAE
from zsbench_plugins.models.cvae import ConditionalVAE
from zsbench_plugins.models.diffusion import Diffusion
from zsbench_plugins.models.factor_decoder import FactorDecoder
from zsbench_plugins.models.vae import VAE


@hookimpl
def zsbench_add_models() -> list[type[Model]]:
    return [AutoEncoder, VAE, BetaTCVAE, FactorDecoder, ConditionalVAE, Diffusion]
