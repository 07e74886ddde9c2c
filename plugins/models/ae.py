"""The plain autoencoder: the conv body with a deterministic latent."""

from __future__ import annotations

import torch

from zsbench.training import LossContext
from zsbench_plugins.models.base import LatentNet, TorchModel


class AutoEncoder(TorchModel):
    """Convolutional autoencoder: deterministic latent, loss = binary cross-entropy.

    Parameters (all keyword-only):
        latent_dim: size D of the latent.
        architecture: the conv body: "default" (any size from 8 to 256 pixels a side) or
            "e3" (the 36x36 body of the gaussian-heatmap experiment).
        epochs, batch_size: training length and mini-batch size.
        optimizer, lr, lr_decay, weight_decay: "adam", "adamw" or "rmsprop"; learning
            rate; exponential decay of the learning rate per epoch (1 = none); the
            optimiser's weight decay (absent: torch's default, 0.01 for "adamw", else 0).
            The same names, choices and meaning as for the conditional generators.
        early_stopping: patience in epochs on the validation loss (0 = off).
        device: "auto" (CUDA when present, else CPU), "cpu" or "cuda".
        progress: show a progress bar while training.
        reconstruction: "bce_mean" (mean over pixels) or "bce_sum" (sum over pixels).
        precision: "fp32" (default) or "bf16": training and inference under bfloat16
            autocast (CPU and CUDA); weights and losses stay float32.
        init: the initial weights: "torch" (default: PyTorch's own, Kaiming-uniform weights
            and uniform biases) or "glorot" (Glorot-uniform weights and zero biases, the
            Keras / TensorFlow default).

    ``encode`` returns the latent ``[N, D]``; ``decode`` the images ``[N, C, H, W]`` in [0, 1].
    """

    name = "ae"

    def _loss(self, net: LatentNet, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        """Per-sample reconstruction loss ``[B]`` of ``batch [B, C, H, W]`` (no noise)."""
        return self._reconstruction_loss(net.decode_logits(net.encode_mean(batch)), batch)
