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

Also here, shared with the other conditional generators (``cvae``): :class:`FactorCode` (how
factors enter a network).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zsbench.errors import DataError
from zsbench.plugin import Model, Monitor
from zsbench.space import LatentSpace
from zsbench.training import (
    LossContext,
    init_module,
    monitor_hook,
    resolve_device,
    rowwise_batched,
    train,
)
from zsbench_plugins.models.base import TrainedModule, _check_images
from zsbench_plugins.models.nets import BODIES, build_body

FORMAT = "zsbench.factor_decoder"
FORMAT_VERSION = 2
"""2: the factor code is saved (``"code"``) and its buffers live under ``code.``; files of
version 1 (the scaled code only, buffers ``low``/``span``) are still read."""


CODES = ("scaled", "raw", "population", "onehot")
LOSSES = ("bce", "mse")
OPTIMIZERS = ("adam", "adamw", "rmsprop")
DEVICES = ("auto", "cpu", "cuda")
RECONSTRUCTIONS = ("bce_mean", "bce_sum")


# -- shared pieces -------------------------------------------------------------------------

def check_factors(factors: np.ndarray, n_factors: int, model: str) -> np.ndarray:
    """A request ``[N, n_factors]`` of finite numbers as float32, else :class:`DataError`."""
    f = np.asarray(factors)
    if f.ndim != 2 or f.shape[1] != n_factors or not (
            np.issubdtype(f.dtype, np.number) or f.dtype == np.bool_):
        raise DataError(f'model "{model}": factors must be [N, {n_factors}] numbers; got '
                        f"shape {list(f.shape)}.")
    if not np.isfinite(f).all():
        raise DataError(f'model "{model}": factors must be finite.')
    return f.astype(np.float32)


def check_training_factors(factors: np.ndarray | None, n_images: int, model: str) -> np.ndarray:
    """The ``factors`` given to ``fit`` as float64 ``[n_images, F]``, else :class:`DataError`."""
    if factors is None:
        raise DataError(f'model "{model}" learns from the true factors: call fit(images, '
                        "seed=..., factors=[N, F]); the runner passes them to models that "
                        "declare needs_factors = True.")
    f = np.asarray(factors, dtype=np.float64)
    if f.ndim != 2 or len(f) != n_images or f.shape[1] < 1 or not np.isfinite(f).all():
        raise DataError(f'model "{model}": factors must be finite numbers of shape '
                        f"[{n_images}, F] (one row per image); got {list(f.shape)}.")
    return f


def check_space(space: LatentSpace | None, n_factors: int, model: str) -> None:
    """``space`` must describe the ``n_factors`` columns of the factors (or be None)."""
    if space is None:
        return
    if not isinstance(space, LatentSpace) or space.dim != n_factors:
        got = f"{space.dim} factors" if isinstance(space, LatentSpace) else type(space).__name__
        raise DataError(f'model "{model}": space must be the dataset\'s LatentSpace with one '
                        f"factor per column of factors ({n_factors}); got {got}.")


def _entry(kind: str, low: float = 0.0, high: float = 1.0, width: int = 1,
           values: Sequence[float] | None = None) -> dict[str, Any]:
    span = high - low if high > low else 1.0
    return {"kind": kind, "low": float(low), "span": float(span), "width": int(width),
            "values": None if values is None else [float(v) for v in values]}


def code_spec(code: str, factors: np.ndarray, space: LatentSpace | None,
              width: int) -> list[dict[str, Any]]:
    """The per-factor layout of :class:`FactorCode` for the ``code`` of ``factor_decoder``,
    from the training ``factors [N, F]`` and the dataset's ``space`` (or None):

    - ``"scaled"``: ``(f - low) / span`` with the *training* factors' range (one unit each);
    - ``"raw"``: the values as given (one unit each);
    - ``"population"``: ``width`` Gaussian units over the factor's range (the space's bounds,
      else the training range);
    - ``"onehot"``: one-hot over a discrete factor's values (with a space), else over
      ``width`` equal bins of its range."""
    lo_tr, hi_tr = factors.min(axis=0), factors.max(axis=0)
    out = []
    for i in range(factors.shape[1]):
        fac = space.factors[i] if space is not None else None
        low, high = (fac.bounds if fac is not None else (float(lo_tr[i]), float(hi_tr[i])))
        if code == "scaled":
            out.append(_entry("scaled", float(lo_tr[i]), float(hi_tr[i])))
        elif code == "raw":
            out.append(_entry("raw"))
        elif code == "population":
            out.append(_entry("population", low, high, width))
        elif code == "onehot" and fac is not None and fac.values is not None:
            out.append(_entry("values", low, high, len(fac.values), fac.values))
        elif code == "onehot":
            out.append(_entry("bins", low, high, width))
        else:
            raise DataError(f'unknown factor code "{code}"; use one of {", ".join(CODES)}.')
    return out


def embedding_spec(factors: np.ndarray, space: LatentSpace | None) -> list[dict[str, Any]]:
    """The ``cvae``'s factor embedding: continuous factors scaled to [0, 1] by the space's
    bounds, discrete ones one-hot over their values; without a space, every factor scaled
    by the training factors' range."""
    if space is None:
        return code_spec("scaled", factors, None, 1)
    out = []
    for fac in space.factors:
        low, high = fac.bounds
        if fac.values is not None:
            out.append(_entry("values", low, high, len(fac.values), fac.values))
        else:
            out.append(_entry("scaled", low, high))
    return out


class FactorCode(nn.Module):
    """Factors ``[N, F]`` -> the network's input ``[N, width]``, factor by factor, as laid
    out by ``spec`` (one dict per factor, see :func:`code_spec`). With ``u = (f - low) /
    span`` (buffers, float32):

    - ``"scaled"``/``"raw"`` (``low = 0, span = 1``): ``u``, one unit;
    - ``"population"``: ``width`` units ``exp(-(f - c_k)^2 / (2 s^2))`` with centres ``c_k =
      low + k * span / (width - 1)``, ``k = 0 .. width - 1``, and tuning width ``s = span /
      (width - 1)`` (the spacing of the centres), as Liang et al. code a position on a
      28-pixel axis by 28 units of width one pixel;
    - ``"bins"``: one-hot over ``width`` equal bins of ``[low, low + span]`` (a value
      outside goes to the nearest end bin);
    - ``"values"``: one-hot over the discrete ``values`` (the nearest one).

    It has buffers and no parameters (building it draws nothing from the RNG)."""

    def __init__(self, spec: Sequence[dict[str, Any]]) -> None:
        super().__init__()
        self.spec = [dict(s) for s in spec]
        self.kinds = [str(s["kind"]) for s in self.spec]
        self.widths = [int(s["width"]) if s["kind"] not in ("scaled", "raw") else 1
                       for s in self.spec]
        self.width = sum(self.widths)
        self.plain = all(k in ("scaled", "raw") for k in self.kinds)
        self.register_buffer("low", torch.tensor([float(s["low"]) if s["kind"] != "raw" else 0.0
                                                  for s in self.spec], dtype=torch.float32))
        self.register_buffer("span", torch.tensor([float(s["span"]) if s["kind"] != "raw"
                                                   else 1.0 for s in self.spec],
                                                  dtype=torch.float32))
        for i, s in enumerate(self.spec):
            if s["kind"] == "values":
                self.register_buffer(f"values_{i}", torch.tensor(s["values"], dtype=torch.float32))

    def forward(self, factors: torch.Tensor) -> torch.Tensor:
        u = (factors - self.low) / self.span
        if self.plain:
            return u
        parts = []
        for i, (kind, width) in enumerate(zip(self.kinds, self.widths)):
            col = u[:, i:i + 1]
            if kind in ("scaled", "raw"):
                parts.append(col)
            elif kind == "population":
                k = torch.arange(width, device=u.device, dtype=u.dtype)
                parts.append(torch.exp(-0.5 * (col * (width - 1) - k).square()))
            elif kind == "bins":
                idx = torch.floor(col[:, 0] * width).clamp(0, width - 1).long()
                parts.append(F.one_hot(idx, width).to(u.dtype))
            else:  # "values"
                values = getattr(self, f"values_{i}")
                idx = (factors[:, i:i + 1] - values).abs().argmin(1)
                parts.append(F.one_hot(idx, width).to(u.dtype))
        return torch.cat(parts, 1)


CONVT_MIN_DEPTH = 2


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
    if start is None and (h % 4 or w % 4 or h < 4 or w < 4):
        raise DataError(f'architecture "convt" needs images whose height and width are '
                        f"multiples of 4 (it starts at H/4 x W/4 and upsamples twice: 7x7 for "
                        f"28x28); got {h}x{w}. Or give convt_start (e.g. 7) for any size.")
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


class FactorDecoder(TrainedModule, Model):
    """Ground-truth decoder: a conditional decoder trained from the true factors to the images.

    A conditional generator (``generate(factors, *, seed)``, deterministic) without an
    encoder: the runner passes the training images' true factors to ``fit(images, ...,
    factors=[N, F])`` and evaluates it through ``generate``: its reconstruction of any
    image is the decoding of that image's true factors; the scores of latents (MIG, DCI,
    SAP, probes) do not apply to it.

    By default the factors are scaled to [0, 1] by the training factors' range (a hole
    beyond that range, as in an extrapolation split, gives inputs outside [0, 1]) and
    decoded by the decoder of the chosen conv body (``architecture``, as for ``ae``/``vae``,
    with the factors in place of the latent). Loss per sample: the reconstruction BCE.

    Parameters (all keyword-only): architecture, epochs, batch_size, optimizer, lr,
    lr_decay, device, progress, reconstruction, as for the ``ae`` model, and:
        architecture: also ``"convt"``: Liang et al.'s transposed-convolution decoder (see
            :func:`convt_decoder`; image sides multiples of 4, e.g. 28x28).
        code: how the factors enter the network: ``"scaled"`` (default, above), ``"raw"``
            (the values as given), ``"population"`` (each factor as ``code_width`` Gaussian
            units tuned across its range, Liang et al.'s input), ``"onehot"`` (one-hot over
            a discrete factor's values, or over ``code_width`` bins of a continuous one's
            range). The ranges are the space's bounds when ``fit`` is given the dataset's
            ``space``, else the training factors' (``"scaled"`` always uses the training
            range). See :class:`FactorCode`.
        code_width: units per factor of the population and bin codes (default 28).
        depth, channels: of the ``"convt"`` body: hidden transposed convolutions (>= 2;
            Liang et al. study 2 to 10) and their width (default 4 and 64).
        convt_start: the side of the ``"convt"`` body's first map: None (default) starts
            at H/4 and upsamples twice (their depth study); an integer as in their scaling
            study (7 there): upsample while smaller than the image, then resize to it.
        loss: ``"bce"`` (default: BCE of the sigmoid of the outputs, reduced as
            ``reconstruction`` says) or ``"mse"`` (Liang et al.'s: the per-pixel mean squared
            error of the linear output; generated images are that output clipped to [0, 1]).
        optimizer: also ``"adamw"`` (Liang et al.'s, torch defaults: weight decay 0.01).
        eval_every: with a ``monitor`` given to ``fit``, call ``monitor(step, self)`` after
            every ``eval_every``-th optimiser step (0: never).

    There is no early stopping: the validation images come without factors. Liang et al.'s
    setting: ``architecture = "convt", code = "population", loss = "mse", optimizer =
    "adamw", lr = 1e-3, batch_size = 32, epochs = 50`` on 28x28 images.
    """

    name = "factor_decoder"
    needs_factors: ClassVar[bool] = True
    stochastic: ClassVar[bool] = False

    def __init__(
        self,
        *,
        architecture: Literal["default", "e3", "convt"] = "default",
        epochs: int = 20,
        batch_size: int = 64,
        optimizer: Literal["adam", "adamw", "rmsprop"] = "adam",
        lr: float = 1e-3,
        lr_decay: float = 1.0,
        device: Literal["auto", "cpu", "cuda"] = "auto",
        progress: bool = True,
        reconstruction: Literal["bce_mean", "bce_sum"] = "bce_mean",
        code: Literal["scaled", "raw", "population", "onehot"] = "scaled",
        code_width: int = 28,
        depth: int = 4,
        channels: int = 64,
        convt_start: int | None = None,
        loss: Literal["bce", "mse"] = "bce",
        eval_every: int = 0,
    ) -> None:
        self.architecture = architecture
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.lr_decay = lr_decay
        self.device = device
        self.progress = progress
        self.reconstruction = reconstruction
        self.code = code
        self.code_width = code_width
        self.depth = depth
        self.channels = channels
        self.convt_start = convt_start
        self.loss = loss
        self.eval_every = eval_every
        self._check_params()

    def _check_params(self) -> None:
        choices = {"architecture": ("convt", *BODIES), "optimizer": OPTIMIZERS,
                   "device": DEVICES, "reconstruction": RECONSTRUCTIONS, "code": CODES,
                   "loss": LOSSES}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                self._bad_param(key, f"got {getattr(self, key)!r}.",
                                "give one of " + ", ".join(f'"{a}"' for a in allowed) + ".")
        minimum = {"epochs": 0, "batch_size": 1, "code_width": 2, "depth": CONVT_MIN_DEPTH,
                   "channels": 1, "eval_every": 0}
        for key, low in minimum.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                self._bad_param(key, f"must be an integer >= {low}; got {value!r}.",
                                f"give an integer >= {low}.")
        for key in ("lr", "lr_decay"):
            value = getattr(self, key)
            if isinstance(value, bool) or not (isinstance(value, (int, float))
                                               and 0 < value < math.inf):
                self._bad_param(key, f"must be a positive number; got {value!r}.",
                                "give a number > 0 (lr_decay = 1 means no decay).")
        start = self.convt_start
        if start is not None and (isinstance(start, bool) or not isinstance(start, int)
                                  or start < 1):
            self._bad_param("convt_start", f"must be a positive integer or absent; got "
                            f"{start!r}.", "give e.g. convt_start = 7, or leave it out.")
        if not isinstance(self.progress, bool):
            self._bad_param("progress", f"must be true or false; got {self.progress!r}.",
                            "give true or false.")

    def check_image_shape(self, image_shape: tuple[int, int, int]) -> None:
        """Raise :class:`PluginParameterError` when ``architecture`` cannot take images of
        ``image_shape (C, H, W)`` (e.g. "e3" on anything but 36x36, "convt" on sides that
        are no multiples of 4)."""
        try:
            self._decoder(tuple(int(v) for v in image_shape), 1)  # type: ignore[arg-type]
        except DataError as exc:
            self._bad_param("architecture", exc.message, "choose an architecture that takes "
                            "these images, or change the dataset's image size.")

    def _decoder(self, image_shape: tuple[int, int, int], width: int) -> nn.Module:
        if self.architecture == "convt":
            return convt_decoder(image_shape, width, depth=self.depth, channels=self.channels,
                                 start=self.convt_start)
        return build_body(self.architecture, image_shape, width).decoder

    def _build(self, image_shape: tuple[int, int, int], spec: Sequence[dict[str, Any]],
               seed: int) -> FactorNet:
        def factory() -> FactorNet:
            code = FactorCode(spec)  # no parameters: draws nothing from the RNG
            return FactorNet(self._decoder(image_shape, code.width), code,
                             "sigmoid" if self.loss == "bce" else "clip")

        try:
            return init_module(factory, seed)  # type: ignore[return-value]
        except DataError as exc:
            raise DataError(f'model "{self.name}": {exc.message}') from None

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None, factors: np.ndarray | None = None,
            space: LatentSpace | None = None, monitor: Monitor | None = None) -> FactorDecoder:
        """Train on ``images [N, C, H, W]`` in [0, 1] and their true ``factors [N, F]``
        (required), from the seed alone; ``weights [N]`` scale each sample's loss;
        ``validation`` is ignored (it comes without factors). ``space``: the dataset's
        :class:`~zsbench.space.LatentSpace` (the ranges of the population and one-hot
        codes, and the discrete factors' values). ``monitor``: called as ``monitor(step,
        self)`` every ``eval_every`` steps; ``generate`` then uses the current weights."""
        self._check_params()
        x = _check_images(images, self.name, "images")
        f = check_training_factors(factors, len(x), self.name)
        if len(x) == 0:
            raise DataError(f'model "{self.name}": fit got no images (an empty array).')
        check_space(space, f.shape[1], self.name)
        image_shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        spec = code_spec(self.code, f, space, self.code_width)
        net = self._build(image_shape, spec, seed)
        dev = resolve_device(self.device, self.name)
        f_dev = torch.from_numpy(f.astype(np.float32)).to(dev)
        mse = self.loss == "mse"
        bce_sum = self.reconstruction == "bce_sum"

        def loss(module: nn.Module, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
            assert ctx.index is not None, "the training loop passes the batch's rows"
            out = module(f_dev[ctx.index])
            if mse:
                return (out - batch).square().flatten(1).mean(1)
            bce = F.binary_cross_entropy_with_logits(out, batch, reduction="none").flatten(1)
            return bce.sum(1) if bce_sum else bce.mean(1)

        before = {k: getattr(self, k) for k in ("module_", "image_shape_", "device_",
                                                  "n_factors_", "code_spec_") if hasattr(self, k)}
        # generate() works from the first monitor call on (train moves net to dev first)
        self.module_, self.image_shape_, self.device_ = net, image_shape, dev
        self.n_factors_, self.code_spec_ = int(f.shape[1]), spec
        try:
            result = train(net, loss, x, seed=seed, epochs=self.epochs,
                           batch_size=self.batch_size, optimizer=self.optimizer, lr=self.lr,
                           lr_decay=self.lr_decay, weights=weights, device=self.device,
                           progress=self.progress, label=self.name,
                           after_step=monitor_hook(monitor, self, self.eval_every))
        except BaseException:
            for k in ("module_", "image_shape_", "device_", "n_factors_", "code_spec_"):
                if k in before:
                    setattr(self, k, before[k])
                else:
                    delattr(self, k)
            raise
        self._keep(net, image_shape, result)
        return self

    def factor_code(self, factors: np.ndarray) -> np.ndarray:
        """The network's input ``float32 [N, width]`` for ``factors [N, F]``: the code of
        ``code`` (see :class:`FactorCode`), as the fitted model computes it."""
        net = self._fitted()
        f = check_factors(factors, self.n_factors_, self.name)
        return rowwise_batched(net, net.code, f, self.device_)

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        """Images float32 ``[N, C, H, W]`` in [0, 1] for the requested ``factors [N, F]``.
        Deterministic: ``seed`` is accepted as the contract asks and changes nothing (the
        same request gives the same image, row by row, whatever the other rows)."""
        net = self._fitted()
        f = check_factors(factors, self.n_factors_, self.name)
        return rowwise_batched(net, net.images, f, self.device_)

    def save(self, path: Path) -> None:
        """Parameters, shapes, the factor code, weights and training facts, written with
        ``torch.save`` as plain containers and tensors."""
        net = self._fitted()
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "plugin": self.name,
                    "params": self.get_params(), "image_shape": list(self.image_shape_),
                    "n_factors": self.n_factors_, "code": [dict(s) for s in net.code.spec],
                    "state_dict": {k: v.detach().to("cpu") for k, v in net.state_dict().items()},
                    "training": self.training_summary(),
                    "history": list(getattr(self, "history_", []))}, Path(path))

    @classmethod
    def load(cls, path: Path) -> FactorDecoder:
        """Read what :meth:`save` wrote, this version's files or version 1's
        (``torch.load(weights_only=True)``: no pickles)."""
        path = Path(path)
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
            raise DataError(f"cannot load {path}: not a zsbench factor-decoder file, or it "
                            f"holds objects that safe loading refuses ({type(exc).__name__}).") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"cannot load {path}: not a zsbench factor-decoder file.")
        version = data.get("format_version")
        if version not in (1, FORMAT_VERSION):
            raise DataError(f"cannot load {path}: file format version {version!r}, this "
                            f"zsbench reads 1 and {FORMAT_VERSION}.")
        params = dict(data["params"])
        unknown = sorted(set(params) - set(cls.parameters()))
        if unknown:
            raise DataError(f"cannot load {path}: parameters {unknown} are unknown to "
                            f'model "{cls.name}" (saved by another version?).')
        model = cls(**params)
        shape = tuple(int(v) for v in data["image_shape"])
        n_factors = int(data["n_factors"])
        state = dict(data["state_dict"])
        if version == 1:  # the scaled code, its buffers at the top level
            state["code.low"], state["code.span"] = state.pop("low"), state.pop("span")
            spec = [{"kind": "scaled", "low": float(lo), "span": float(sp), "width": 1,
                     "values": None}
                    for lo, sp in zip(state["code.low"].tolist(), state["code.span"].tolist())]
        else:
            spec = [dict(s) for s in data["code"]]
        net = model._build(shape, spec, seed=0)  # type: ignore[arg-type]
        net.load_state_dict(state)
        dev = resolve_device("auto" if model.device == "cuda" and not torch.cuda.is_available()
                             else model.device, model.name)
        net.to(dev).eval()
        model.module_ = net
        model.image_shape_ = shape  # type: ignore[assignment]
        model.n_factors_ = n_factors
        model.code_spec_ = spec
        model.device_ = dev
        model.history_ = list(data.get("history", []))
        model.training_ = dict(data.get("training", {}))
        return model
