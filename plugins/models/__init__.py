"""Standard models: ``ae`` (convolutional autoencoder) and ``vae`` (convolutional VAE)."""

from __future__ import annotations

from zsbench import hookimpl
from zsbench.plugin import Model
from zsbench_plugins.models.ae import AutoEncoder
from zsbench_plugins.models.vae import VAE


@hookimpl
def zsbench_add_models() -> list[type[Model]]:
    return [AutoEncoder, VAE]
