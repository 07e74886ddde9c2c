"""Standard models: ``ae`` (convolutional autoencoder), ``vae`` (convolutional VAE),
``beta_tcvae`` (the beta-TC-VAE), ``factor_decoder`` (true factors to images), ``cvae``
(the conditional VAE: images for requested factors), ``diffusion`` (a conditional
denoising generator: DDPM or rectified flow), and the two baselines of every conditional
leaderboard: ``nearest_training`` (the memoriser: the training image nearest to the
request) and ``blank`` (the empty frame)."""

from __future__ import annotations

from zsbench import hookimpl
from zsbench.plugin import Model
from zsbench_plugins.models.ae import AutoEncoder
from zsbench_plugins.models.beta_tcvae import BetaTCVAE
from zsbench_plugins.models.blank import Blank
from zsbench_plugins.models.cvae import ConditionalVAE
from zsbench_plugins.models.diffusion import Diffusion
from zsbench_plugins.models.factor_decoder import FactorDecoder
from zsbench_plugins.models.nearest_training import NearestTraining
from zsbench_plugins.models.vae import VAE


@hookimpl
def zsbench_add_models() -> list[type[Model]]:
    return [AutoEncoder, VAE, BetaTCVAE, FactorDecoder, ConditionalVAE, Diffusion,
            NearestTraining, Blank]
