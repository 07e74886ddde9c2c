"""The ground-truth decoder: a network trained from the true factors straight to the images.

It has no encoder: what it can draw inside a hole is the upper bound on what any encoder and
decoder of the same body can generate there, and the gap between its hole error and an
autoencoder's tells a decoder failure (both fail) from an encoder failure (only the
autoencoder fails).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Model
from zsbench.training import LossContext, batched, init_module, resolve_device, train
from zsbench_plugins.models.base import TrainedModule, _check_images
from zsbench_plugins.models.nets import build_body

FORMAT = "zsbench.factor_decoder"
FORMAT_VERSION = 1


class FactorNet(nn.Module):
    """Factors ``[N, F]`` -> pixel logits ``[N, C, H, W]``: the factors are scaled by the
    buffers ``low`` and ``span`` (the training factors' range) to [0, 1], then decoded by a
    body's decoder."""

    def __init__(self, decoder: nn.Module, n_factors: int) -> None:
        super().__init__()
        self.decoder = decoder
        self.register_buffer("low", torch.zeros(n_factors))
        self.register_buffer("span", torch.ones(n_factors))

    def forward(self, factors: torch.Tensor) -> torch.Tensor:
        return self.decoder((factors - self.low) / self.span)

    def images(self, factors: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.forward(factors))


class FactorDecoder(TrainedModule, Model):
    """Ground-truth decoder: a conditional decoder trained from the true factors to the images.

    Declares ``needs_factors = True``: the runner passes the training images' true factors
    to ``fit(images, ..., factors=[N, F])``, and evaluates it through ``generate(factors)``:
    its reconstruction of any image is the decoding of that image's true factors, and its
    latents (for metrics that read latents: MIG, DCI, SAP, probes) are the true factors
    themselves, so those scores are an oracle's. ``decode(latents)`` is ``generate``.

    The factors are scaled to [0, 1] by the training factors' range (a hole beyond that
    range, as in an extrapolation split, gives inputs outside [0, 1]) and decoded by the
    decoder of the chosen conv body (``architecture``, as for ``ae``/``vae``, with the
    factors in place of the latent). Loss per sample: the reconstruction BCE.

    Parameters (all keyword-only): architecture, epochs, batch_size, optimizer, lr,
    lr_decay, device, progress, reconstruction, as for the ``ae`` model. There is no early
    stopping: the validation images come without factors.
    """

    name = "factor_decoder"
    needs_factors: ClassVar[bool] = True

    def __init__(
        self,
        *,
        architecture: Literal["default", "e3"] = "default",
        epochs: int = 20,
        batch_size: int = 64,
        optimizer: Literal["adam", "rmsprop"] = "adam",
        lr: float = 1e-3,
        lr_decay: float = 1.0,
        device: Literal["auto", "cpu", "cuda"] = "auto",
        progress: bool = True,
        reconstruction: Literal["bce_mean", "bce_sum"] = "bce_mean",
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
        if reconstruction not in ("bce_mean", "bce_sum"):
            raise PluginParameterError("model", self.name, "reconstruction",
                                       f"got {reconstruction!r}.", 'give "bce_mean" or "bce_sum".')

    def _build(self, image_shape: tuple[int, int, int], n_factors: int, seed: int) -> FactorNet:
        def factory() -> FactorNet:
            return FactorNet(build_body(self.architecture, image_shape, n_factors).decoder,
                             n_factors)

        try:
            return init_module(factory, seed)  # type: ignore[return-value]
        except DataError as exc:
            raise DataError(f'model "{self.name}": {exc.message}') from None

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None,
            factors: np.ndarray | None = None) -> FactorDecoder:
        """Train on ``images [N, C, H, W]`` in [0, 1] and their true ``factors [N, F]``
        (required), from the seed alone; ``weights [N]`` scale each sample's loss;
        ``validation`` is ignored (it comes without factors)."""
        x = _check_images(images, self.name, "images")
        if factors is None:
            raise DataError(f'model "{self.name}" learns from the true factors: call '
                            "fit(images, seed=..., factors=[N, F]); the runner passes them "
                            "to models that declare needs_factors = True.")
        f = np.asarray(factors, dtype=np.float64)
        if f.ndim != 2 or len(f) != len(x) or f.shape[1] < 1 or not np.isfinite(f).all():
            raise DataError(f'model "{self.name}": factors must be finite numbers of shape '
                            f"[{len(x)}, F] (one row per image); got {list(f.shape)}.")
        if len(x) == 0:
            raise DataError(f'model "{self.name}": fit got no images (an empty array).')
        image_shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        net = self._build(image_shape, f.shape[1], seed)
        low, high = f.min(axis=0), f.max(axis=0)
        span = np.where(high > low, high - low, 1.0)
        with torch.no_grad():
            net.low.copy_(torch.from_numpy(low.astype(np.float32)))
            net.span.copy_(torch.from_numpy(span.astype(np.float32)))
        dev = resolve_device(self.device, self.name)
        f_dev = torch.from_numpy(f.astype(np.float32)).to(dev)
        mode = self.reconstruction

        def loss(module: nn.Module, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
            assert ctx.index is not None, "the training loop passes the batch's rows"
            logits = module(f_dev[ctx.index])
            bce = F.binary_cross_entropy_with_logits(logits, batch, reduction="none").flatten(1)
            return bce.sum(1) if mode == "bce_sum" else bce.mean(1)

        result = train(net, loss, x, seed=seed, epochs=self.epochs, batch_size=self.batch_size,
                       optimizer=self.optimizer, lr=self.lr, lr_decay=self.lr_decay,
                       weights=weights, device=self.device, progress=self.progress,
                       label=self.name)
        self._keep(net, image_shape, result)
        self.n_factors_ = int(f.shape[1])
        return self

    def generate(self, factors: np.ndarray) -> np.ndarray:
        """Images float32 ``[N, C, H, W]`` in [0, 1] for the true ``factors [N, F]``."""
        net = self._fitted()
        f = np.asarray(factors)
        if f.ndim != 2 or f.shape[1] != self.n_factors_ or not np.issubdtype(f.dtype, np.number):
            raise DataError(f'model "{self.name}": factors must be [N, {self.n_factors_}] '
                            f"numbers; got shape {list(f.shape)}.")
        if not np.isfinite(f).all():
            raise DataError(f'model "{self.name}": factors must be finite.')
        return batched(net, net.images, f.astype(np.float32), self.device_)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """The latents of this model are the true factors: ``generate(latents)``."""
        return self.generate(latents)

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Not offered: the model has no encoder; the runner uses the true factors."""
        raise DataError(f'model "{self.name}" has no encoder: it is evaluated from the true '
                        "factors (generate), which the runner supplies.")

    def save(self, path: Path) -> None:
        """Parameters, shapes, weights (with the factor scaling) and training facts, written
        with ``torch.save`` as plain containers and tensors."""
        net = self._fitted()
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "plugin": self.name,
                    "params": self.get_params(), "image_shape": list(self.image_shape_),
                    "n_factors": self.n_factors_,
                    "state_dict": {k: v.detach().to("cpu") for k, v in net.state_dict().items()},
                    "training": self.training_summary(),
                    "history": list(getattr(self, "history_", []))}, Path(path))

    @classmethod
    def load(cls, path: Path) -> FactorDecoder:
        """Read what :meth:`save` wrote (``torch.load(weights_only=True)``: no pickles)."""
        path = Path(path)
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
            raise DataError(f"cannot load {path}: not a zsbench factor-decoder file, or it "
                            f"holds objects that safe loading refuses ({type(exc).__name__}).") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"cannot load {path}: not a zsbench factor-decoder file.")
        if data.get("format_version") != FORMAT_VERSION:
            raise DataError(f"cannot load {path}: file format version "
                            f"{data.get('format_version')!r}, this zsbench reads {FORMAT_VERSION}.")
        model = cls(**dict(data["params"]))
        shape = tuple(int(v) for v in data["image_shape"])
        net = model._build(shape, int(data["n_factors"]), seed=0)  # type: ignore[arg-type]
        net.load_state_dict(data["state_dict"])
        dev = resolve_device("auto" if model.device == "cuda" and not torch.cuda.is_available()
                             else model.device, model.name)
        net.to(dev).eval()
        model.module_ = net
        model.image_shape_ = shape
        model.n_factors_ = int(data["n_factors"])
        model.device_ = dev
        model.history_ = list(data.get("history", []))
        model.training_ = dict(data.get("training", {}))
        return model
