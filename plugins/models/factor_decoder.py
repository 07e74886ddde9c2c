"""The ground-truth decoder: a network trained from the true factors straight to the images.

It has no encoder: what it can draw inside a hole is the upper bound on what any encoder and
decoder of the same body can generate there, and the gap between its hole error and an
autoencoder's tells a decoder failure (both fail) from an encoder failure (only the
autoencoder fails).

Options reproduce the decoder of Liang et al., "Compositional Generalization via Forced
Rendering of Disentangled Latents" (ICML 2025, arXiv 2501.18797): the
factors as a Gaussian population code (``code = "population"``), their transposed-convolution
body (``architecture = "convt"``, ``depth``, ``channels``), a per-pixel MSE on the linear
output (``loss = "mse"``) and AdamW (``optimizer = "adamw"``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zsbench.configurable import Interval, Options
from zsbench.errors import DataError
from zsbench.space import LatentSpace
from zsbench.training import LossContext, LossFn, rowwise_batched
from zsbench_plugins.models._conditional import ConditionalGenerator, FactorCode, code_spec
from zsbench_plugins.models.nets import BODIES, build_body

CONVT_MIN_DEPTH = 2
TAPERED_HIDDEN = 256
"""The width of the tapered decoder's hidden dense layer."""


def _check_quarters(architecture: str, h: int, w: int, fix: str) -> None:
    """Raise :class:`DataError` unless ``h`` and ``w`` are multiples of 4: a body that starts
    at H/4 x W/4 and upsamples twice needs them."""
    if h % 4 or w % 4 or h < 4 or w < 4:
        raise DataError(f'architecture "{architecture}" needs images whose height and width '
                        f"are multiples of 4 (it starts at H/4 x W/4 and upsamples twice: 7x7 "
                        f"for 28x28); got {h}x{w}. {fix}")


def convt_decoder(image_shape: tuple[int, int, int], code_width: int, *, depth: int,
                  channels: int, start: int | None = None) -> nn.Sequential:
    """Liang et al.'s transposed-convolution decoder, code ``[N, code_width]`` -> outputs
    ``[N, C, H, W]`` (no output activation):

    the code as a ``1 x 1`` map -> ConvTranspose(code_width -> channels, kernel ``H/4 x
    W/4``) (7x7 for 28x28), ReLU -> ``depth`` hidden transposed convolutions, each followed
    by a ReLU: the first two upsample x2 (kernel 4, stride 2, padding 1: 7 -> 14 -> 28),
    the others keep the size (kernel 3, stride 1, padding 1) -> ConvTranspose(channels ->
    C, kernel 3, stride 1, padding 1). So ``depth + 2`` transposed convolutions in all
    (``gaussian_exps/bump_encoding/cnn/depth_exp.py``).

    With ``start`` (``scaling_exps/bump.py``, for any image size): the first map is
    ``start x start``, every hidden layer upsamples x2 while the map is smaller than the
    image (the others keep the size), and the output is resized to ``H x W`` by nearest
    neighbour (e.g. start 7 on 32x32: 7 -> 14 -> 28 -> 56, then 32).

    Raises :class:`DataError` unless H and W are multiples of 4 (without ``start``), or
    ``depth < 2``."""
    c, h, w = (int(v) for v in image_shape)
    if start is None:
        _check_quarters("convt", h, w, "Or give convt_start (e.g. 7) for any size.")
    if depth < CONVT_MIN_DEPTH:
        raise DataError(f'architecture "convt" needs depth >= {CONVT_MIN_DEPTH} (its two '
                        f"upsampling layers); got {depth}.")
    first = (h // 4, w // 4) if start is None else (start, start)
    layers: list[nn.Module] = [
        nn.Unflatten(1, (code_width, 1, 1)),
        nn.ConvTranspose2d(code_width, channels, first), nn.ReLU(),
    ]
    size = first[0]
    for i in range(depth):
        if (i < 2) if start is None else size < max(h, w):
            layers.append(nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1))
            size *= 2
        else:
            layers.append(nn.ConvTranspose2d(channels, channels, 3, stride=1, padding=1))
        layers.append(nn.ReLU())
    layers.append(nn.ConvTranspose2d(channels, c, 3, stride=1, padding=1))
    if start is not None and (size, size) != (h, w):
        layers.append(nn.Upsample(size=(h, w), mode="nearest"))
    return nn.Sequential(*layers)


def tapered_decoder(image_shape: tuple[int, int, int], code_width: int, *,
                    channels: int) -> nn.Sequential:
    """A decoder whose width halves as its maps double, code ``[N, code_width]`` -> outputs
    ``[N, C, H, W]`` (no output activation):

    dense ``code_width -> 256`` (ReLU) -> dense ``256 -> channels x H/4 x W/4`` (ReLU) ->
    ConvTranspose(channels -> channels/2, kernel 4, stride 2, padding 1), ReLU ->
    ConvTranspose(channels/2 -> channels/4, same), ReLU -> Conv(channels/4 -> C, 3x3,
    padding 1). Its full-size maps are a quarter as wide as its first, so it costs a
    fraction of the ``"convt"`` body of the same ``channels`` (32x32, batch 64, one CPU
    thread: 19 ms a step at channels 32 against 62 ms for ``"convt"`` at depth 2), with a
    dense layer to lay out the sprite before the convolutions draw its edges.

    Raises :class:`DataError` unless H and W are multiples of 4, or ``channels < 4``."""
    c, h, w = (int(v) for v in image_shape)
    _check_quarters("tapered", h, w, "Fix: resize the dataset's images (its image_size).")
    if channels < 4:
        raise DataError(f'architecture "tapered" needs channels >= 4 (halved twice); got '
                        f"{channels}.")
    half, quarter = channels // 2, channels // 4
    return nn.Sequential(
        nn.Linear(code_width, TAPERED_HIDDEN), nn.ReLU(),
        nn.Linear(TAPERED_HIDDEN, channels * (h // 4) * (w // 4)), nn.ReLU(),
        nn.Unflatten(1, (channels, h // 4, w // 4)),
        nn.ConvTranspose2d(channels, half, 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(half, quarter, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(quarter, c, 3, padding=1),
    )


# -- the model -----------------------------------------------------------------------------

class FactorNet(nn.Module):
    """Factors ``[N, F]`` -> outputs ``[N, C, H, W]``: the :class:`FactorCode` ``code``,
    then ``decoder``. ``images`` maps the outputs to [0, 1]: the sigmoid of logits
    (``output = "sigmoid"``, the BCE loss), or the linear output clipped to [0, 1]
    (``"clip"``, the MSE loss)."""

    def __init__(self, decoder: nn.Module, code: FactorCode, output: str = "sigmoid") -> None:
        super().__init__()
        self.decoder = decoder
        self.code = code
        self.output = output

    def forward(self, factors: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.code(factors))

    def images(self, factors: torch.Tensor) -> torch.Tensor:
        out = self.forward(factors)
        return torch.sigmoid(out) if self.output == "sigmoid" else out.clamp(0.0, 1.0)


class FactorDecoder(ConditionalGenerator):
    """Ground-truth decoder: a conditional decoder trained from the true factors to the images.

    A deterministic conditional generator (``generate(factors, *, seed)`` ignores the seed)
    without an encoder: its reconstruction of any image is the decoding of that image's
    true factors; the scores of latents (MIG, DCI, SAP, probes) do not apply to it.

    By default the factors are scaled to [0, 1] by the training factors' range (a hole
    beyond that range, as in an extrapolation split, gives inputs outside [0, 1]) and
    decoded by the decoder of the chosen conv body (``architecture``, as for ``ae``/``vae``,
    with the factors in place of the latent). Loss per sample: the reconstruction BCE.

    Parameters (all keyword-only), besides the training parameters of every conditional
    generator (:class:`~zsbench_plugins.models._conditional.ConditionalGenerator`: epochs,
    batch_size, optimizer, lr, lr_decay, weight_decay, precision, device, progress,
    eval_every, sample_batch):
        architecture: the conv body, as for ``ae`` ("default", "e3"), ``"convt"``: Liang
            et al.'s transposed-convolution decoder (see :func:`convt_decoder`; image sides
            multiples of 4, e.g. 28x28), or ``"tapered"``: a dense layout and two
            upsamplings whose width halves (:func:`tapered_decoder`; ``channels`` wide at
            H/4; the one that learns sprites at 32x32 on a CPU budget).
        reconstruction: "bce_mean" (default) or "bce_sum", as for ``ae``.
        code: how the factors enter the network: ``"scaled"`` (default, above), ``"raw"``
            (the values as given), ``"population"`` (each factor as ``code_width`` Gaussian
            units tuned across its range, Liang et al.'s input), ``"onehot"`` (one-hot over
            a discrete factor's values, or over ``code_width`` bins of a continuous one's
            range), ``"space"`` (the ``cvae``'s and ``diffusion``'s). See
            :func:`~zsbench_plugins.models._conditional.code_spec`.
        code_width: units per factor of the population and bin codes (default 28).
        depth, channels: of the ``"convt"`` body: hidden transposed convolutions (>= 2;
            Liang et al. study 2 to 10) and their width (default 4 and 64); ``channels``
            is also the ``"tapered"`` body's first width.
        convt_start: the side of the ``"convt"`` body's first map: None (default) starts
            at H/4 and upsamples twice (their depth study); an integer as in their scaling
            study (7 there): upsample while smaller than the image, then resize to it; 0 is
            None (so a profile can undo a suite's start: TOML has no None).
        loss: ``"bce"`` (default: BCE of the sigmoid of the outputs, reduced as
            ``reconstruction`` says) or ``"mse"`` (Liang et al.'s: the per-pixel mean squared
            error of the linear output; generated images are that output clipped to [0, 1]).

    Liang et al.'s setting: ``architecture = "convt", code = "population", loss = "mse",
    optimizer = "adamw", lr = 1e-3, batch_size = 32, epochs = 50`` on 28x28 images.
    """

    name = "factor_decoder"
    stochastic: ClassVar[bool] = False
    checkpoint_format: ClassVar[str] = "zsbench.factor_decoder"
    checkpoint_versions: ClassVar[tuple[int, ...]] = (1, 2)
    """2: the factor code is saved (``"code"``) and its buffers live under ``code.``; files
    of version 1 (the scaled code only, buffers ``low``/``span``) are still read."""
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "architecture": [Options(("convt", "tapered", *BODIES))],
        "reconstruction": [Options(("bce_mean", "bce_sum"))],
        "code": [Options(("scaled", "raw", "population", "onehot", "space"))],
        "code_width": [Interval(int, 2)],
        "depth": [Interval(int, CONVT_MIN_DEPTH)],
        "channels": [Interval(int, 1)],
        "convt_start": [None, Interval(int, 0, note="e.g. 7; 0 or left out: H/4")],
        "loss": [Options(("bce", "mse"))],
    }

    def __init__(
        self,
        *,
        architecture: Literal["default", "e3", "convt", "tapered"] = "default",
        reconstruction: Literal["bce_mean", "bce_sum"] = "bce_mean",
        code: Literal["scaled", "raw", "population", "onehot", "space"] = "scaled",
        code_width: int = 28,
        depth: int = 4,
        channels: int = 64,
        convt_start: int | None = None,
        loss: Literal["bce", "mse"] = "bce",
    ) -> None:
        self.architecture = architecture
        self.reconstruction = reconstruction
        self.code = code
        self.code_width = code_width
        self.depth = depth
        self.channels = channels
        self.convt_start = convt_start
        self.loss = loss
        self._check_params()

    def _code_spec(self, factors: np.ndarray, space: LatentSpace | None) -> list[dict[str, Any]]:
        return code_spec(self.code, factors, space, self.code_width, **self._periodic_code())

    def _network(self, image_shape: tuple[int, int, int], code: FactorCode) -> FactorNet:
        if self.architecture == "convt":
            decoder = convt_decoder(image_shape, code.width, depth=self.depth,
                                    channels=self.channels, start=self.convt_start or None)
        elif self.architecture == "tapered":
            decoder = tapered_decoder(image_shape, code.width, channels=self.channels)
        else:
            decoder = build_body(self.architecture, image_shape, code.width).decoder
        return FactorNet(decoder, code, "sigmoid" if self.loss == "bce" else "clip")

    def _loss_fn(self, dev: torch.device) -> LossFn:
        mse = self.loss == "mse"
        bce_sum = self.reconstruction == "bce_sum"

        def loss(module: nn.Module, batch: Any, ctx: LossContext) -> torch.Tensor:
            x, f = batch
            out = module(f)
            if mse:
                return (out - x).square().flatten(1).mean(1)
            bce = F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1)
            return bce.sum(1) if bce_sum else bce.mean(1)

        return loss

    def _draw(self, net: nn.Module) -> Any:
        return net.images

    def generate_unclipped(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        """The output float32 ``[N, C, H, W]`` for ``factors [N, F]`` before it is mapped
        into [0, 1]: with ``loss = "mse"`` the linear output itself, which Liang et al.
        score (their pixel MSE is of the unclipped output); with ``"bce"`` the sigmoid
        images, as ``generate``. ``generate`` clips, since every draw must lie in [0, 1];
        a pixel MSE that is to match theirs reads this. ``seed`` changes nothing."""
        net = self._fitted()
        return rowwise_batched(net, net.images if net.output == "sigmoid" else net.forward,
                               self._request(factors), self.device_,
                               batch_size=int(self.sample_batch))

    @classmethod
    def _upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        if version != 1:
            return data
        state = dict(data["state_dict"])  # the scaled code, its buffers at the top level
        state["code.low"], state["code.span"] = state.pop("low"), state.pop("span")
        code = [{"kind": "scaled", "low": float(lo), "span": float(sp), "width": 1,
                 "values": None}
                for lo, sp in zip(state["code.low"].tolist(), state["code.span"].tolist())]
        return {**data, "state_dict": state, "code": code}
