"""Convolutional bodies shared by the standard torch models (``ae`` and ``vae``).

A *body* is an encoder that maps images ``[N, C, H, W]`` to a feature vector ``[N, F]`` and a
decoder that maps latents ``[N, D]`` to pixel *logits* ``[N, C, H, W]`` (the sigmoid is applied
by the model, so the loss can use the numerically stable ``binary_cross_entropy_with_logits``).
The model adds its own latent heads (``F -> D`` means, and log-variances for a VAE) on top.

Bodies are registered by name in :data:`BODIES`; a model's ``architecture`` parameter picks one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from torch import nn

from zsbench.errors import DataError


class Body(NamedTuple):
    """An encoder/decoder pair built for one image shape and latent size.

    ``encoder``: ``[N, C, H, W] -> [N, features]``; ``decoder``: ``[N, D] -> logits [N, C, H, W]``.
    """

    encoder: nn.Module
    features: int
    decoder: nn.Module


BodyBuilder = Callable[[tuple[int, int, int], int], Body]
"""Builds a :class:`Body` from ``(image_shape (C, H, W), latent_dim)``; raises
:class:`~zsbench.errors.DataError` when the image shape does not fit."""

DEFAULT_MIN_SIZE = 8
DEFAULT_MAX_SIZE = 256
DEFAULT_WIDTHS = (8, 16, 32, 64, 64)
DEFAULT_HIDDEN = 64
DEFAULT_STOP = 8


def default_body(image_shape: tuple[int, int, int], latent_dim: int) -> Body:
    """A small, CPU-fast body that adapts to the image size (8 to 256 pixels a side).

    Encoder: 3x3 convolutions of stride 2 (padding 1, ReLU), halving (rounding up) the
    spatial size until it is at most 8 (at least one convolution), with channels
    ``8, 16, 32, 64, 64`` (as many as needed), then flatten -> dense 64 (ReLU).
    A 64x64 image goes 64 -> 32 -> 16 -> 8 (flatten 32*8*8); 28 -> 14 -> 7; 36 -> 18 -> 9
    -> 5; 8 -> 4; 256 takes five convolutions down to 8x8.
    Decoder: the mirror image: dense ``D -> 64 -> channels*h*w`` (ReLU), then 3x3 transposed
    convolutions of stride 2 (padding 1, ``output_padding`` chosen so every size is restored
    exactly), ReLU between them, the last giving ``C`` logit channels.

    Speed (the E1 setting: 64x64, batch 8, Adam): about 4 ms per training step on one CPU
    core; at this size the cost is mostly per-layer overhead, hence few, narrow layers.
    """
    c, h, w = _check_shape(image_shape, "default")
    if not (DEFAULT_MIN_SIZE <= h <= DEFAULT_MAX_SIZE and DEFAULT_MIN_SIZE <= w <= DEFAULT_MAX_SIZE):
        raise DataError(
            f'architecture "default" takes images from {DEFAULT_MIN_SIZE} to {DEFAULT_MAX_SIZE} '
            f"pixels a side; got {h}x{w}. Fix: resize the dataset's images (e.g. its "
            f"image_size parameter) into that range."
        )
    sizes = [(h, w)]
    while max(sizes[-1]) > DEFAULT_STOP or len(sizes) == 1:
        sh, sw = sizes[-1]
        sizes.append((math.ceil(sh / 2), math.ceil(sw / 2)))
    n_down = len(sizes) - 1
    widths = [c, *DEFAULT_WIDTHS[:n_down]]

    enc: list[nn.Module] = []
    for i in range(n_down):
        enc += [nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1), nn.ReLU()]
    fh, fw = sizes[-1]
    flat = widths[-1] * fh * fw
    enc += [nn.Flatten(), nn.Linear(flat, DEFAULT_HIDDEN), nn.ReLU()]

    dec: list[nn.Module] = [
        nn.Linear(latent_dim, DEFAULT_HIDDEN), nn.ReLU(),
        nn.Linear(DEFAULT_HIDDEN, flat), nn.ReLU(),
        nn.Unflatten(1, (widths[-1], fh, fw)),
    ]
    for i in range(n_down, 0, -1):
        (ih, iw), (th, tw) = sizes[i], sizes[i - 1]
        # ConvTranspose2d(k=3, s=2, p=1): out = 2 * in - 1 + output_padding.
        pad = (th - 2 * ih + 1, tw - 2 * iw + 1)
        dec.append(nn.ConvTranspose2d(widths[i], widths[i - 1], 3, stride=2, padding=1,
                                      output_padding=pad))
        if i > 1:
            dec.append(nn.ReLU())
    return Body(nn.Sequential(*enc), DEFAULT_HIDDEN, nn.Sequential(*dec))


E3_SIZE = 36


def e3_body(image_shape: tuple[int, int, int], latent_dim: int) -> Body:
    """The E3 (gaussian heatmaps) body, for 36x36 images only.

    Encoder (all convolutions 3x3, stride 1, padding 1 = "same", ReLU; max-pooling 2x2
    rounds down): conv32 (36x36) -> [conv64, maxpool2] (18x18) -> [conv128, maxpool2] (9x9)
    -> [conv64, maxpool2] (4x4) -> flatten 1024 -> dense 64 (ReLU).
    Decoder: dense ``D -> 4*4*64`` (ReLU) -> reshape [64, 4, 4] -> convT64 (kernel 3, stride
    1, padding 1: 4x4, ReLU) -> convT64 (kernel 3, stride 3, padding 0: 12x12, ReLU) ->
    convT32 (kernel 3, stride 3, padding 0: 36x36, ReLU) -> convT C (kernel 3, stride 1,
    padding 1: 36x36, logits; the model applies the sigmoid).
    """
    c, h, w = _check_shape(image_shape, "e3")
    if (h, w) != (E3_SIZE, E3_SIZE):
        raise DataError(
            f'architecture "e3" needs {E3_SIZE}x{E3_SIZE} images (the E3 gaussian heatmaps); '
            f'got {h}x{w}. Fix: use architecture = "default" for other sizes.'
        )
    encoder = nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(128, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.ReLU(),
    )
    decoder = nn.Sequential(
        nn.Linear(latent_dim, 4 * 4 * 64), nn.ReLU(),
        nn.Unflatten(1, (64, 4, 4)),
        nn.ConvTranspose2d(64, 64, 3, stride=1, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(64, 64, 3, stride=3, padding=0), nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 3, stride=3, padding=0), nn.ReLU(),
        nn.ConvTranspose2d(32, c, 3, stride=1, padding=1),
    )
    return Body(encoder, 64, decoder)


def glorot_init(net: nn.Module) -> None:
    """Redraw, in place and from the torch RNG, the weights of every convolution, transposed
    convolution and dense layer of ``net`` from the Glorot (Xavier) uniform distribution,
    U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), and set their biases to zero: the
    Keras / TensorFlow defaults, in place of PyTorch's Kaiming-uniform weights and uniform
    biases."""
    for layer in net.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


BODIES: dict[str, BodyBuilder] = {
    "default": default_body,
    "e3": e3_body,
}
"""Bodies by name: the values of a model's ``architecture`` parameter."""


def build_body(name: str, image_shape: tuple[int, int, int], latent_dim: int) -> Body:
    """Build the body called ``name`` for ``image_shape (C, H, W)`` and ``latent_dim``.

    Raises :class:`~zsbench.errors.DataError` for an unknown name or an image shape the body
    cannot take."""
    if name not in BODIES:
        raise DataError(f'unknown architecture "{name}"; available: {", ".join(sorted(BODIES))}')
    if latent_dim < 1:
        raise DataError(f"latent_dim must be at least 1; got {latent_dim}")
    return BODIES[name](image_shape, latent_dim)


def _check_shape(image_shape: tuple[int, int, int], name: str) -> tuple[int, int, int]:
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise DataError(f'architecture "{name}" needs an image shape (C, H, W); got {image_shape}')
    c, h, w = (int(v) for v in image_shape)
    return c, h, w
