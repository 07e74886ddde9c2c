"""What the standard torch models share: the network (a body plus latent heads), fitting
through :func:`zsbench.training.train`, batched inference, checks of inputs, save and load.

Subclasses (``ae``, ``vae``) only say whether the encoder has a log-variance head and what the
per-sample loss is.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zsbench.configurable import Interval, Options
from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Model
from zsbench.training import (
    LossContext,
    TrainResult,
    batched,
    init_module,
    loaded_device,
    train,
)
from zsbench_plugins.models.nets import Body, build_body, glorot_init

FORMAT = "zsbench.torch_model"
FORMAT_VERSION = 1

INVERT_STEPS: int = 30
"""Default budget of :meth:`TorchModel.invert`: Adam steps on the latents."""

INVERT_LR: float = 0.3
"""Default learning rate of :meth:`TorchModel.invert`, in units of the latents' spread."""

INVERT_BATCH: int = 256
"""Images per batch in :meth:`TorchModel.invert`."""


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over the latent dims:
    ``0.5 * sum_i(mu_i^2 + exp(logvar_i) - logvar_i - 1)``; ``[B, D], [B, D] -> [B]`` (the
    ``vae``'s and the ``cvae``'s)."""
    return 0.5 * (mu.square() + logvar.exp() - logvar - 1.0).sum(1)


class LatentNet(nn.Module):
    """A body with its latent heads.

    ``encode_stats(x [N, C, H, W]) -> (mu [N, D], logvar [N, D] or None)`` and
    ``decode_logits(z [N, D]) -> logits [N, C, H, W]`` (apply a sigmoid for pixels)."""

    def __init__(self, body: Body, latent_dim: int, log_variance: bool) -> None:
        super().__init__()
        self.encoder = body.encoder
        self.mean = nn.Linear(body.features, latent_dim)
        self.log_variance = nn.Linear(body.features, latent_dim) if log_variance else None
        self.decoder = body.decoder

    def encode_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.encoder(x)
        logvar = self.log_variance(h) if self.log_variance is not None else None
        return self.mean(h), logvar

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean(self.encoder(x))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode_images(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))


class TrainedModule:
    """The learned state that every standard torch model keeps after :func:`train` (a mixin):
    ``module_``, ``image_shape_`` ``(C, H, W)``, ``device_``, ``history_`` (one dict per
    epoch) and ``training_`` (see :meth:`training_summary`)."""

    name: str

    def _keep(self, net: nn.Module, image_shape: tuple[int, int, int],
              result: TrainResult) -> None:
        """Store ``net``, trained on images of ``image_shape``, and what ``train`` reported."""
        self.module_ = net
        self.image_shape_ = image_shape
        self.device_ = torch.device(result.device)
        self.history_ = [
            {"epoch": r.epoch, "train_loss": r.train_loss, "val_loss": r.val_loss, "lr": r.lr,
             "seconds": r.seconds} for r in result.history
        ]
        self.training_ = result.summary()

    def _bad_param(self, key: str, problem: str, fix: str) -> None:
        """Raise the :class:`PluginParameterError` of parameter ``key``."""
        raise PluginParameterError("model", getattr(self, "name", "") or type(self).__name__,
                                   key, problem, fix)

    def _fitted(self) -> Any:
        """The trained network; a :class:`DataError` before ``fit`` or ``load``."""
        net = getattr(self, "module_", None)
        if net is None:
            raise DataError(f'model "{self.name}" is not fitted yet: call fit (or load) first.')
        return net

    def training_summary(self) -> dict[str, Any]:
        """Facts about the last fit: epochs_run, best_epoch, weights_epoch, final_train_loss,
        final_val_loss, best_loss, monitor, stopped_early, device, seconds, steps, and the
        per-epoch ``history`` (epoch, train_loss, val_loss, lr, seconds) that trackers plot
        (empty before fit)."""
        summary = dict(getattr(self, "training_", {}))
        history = list(getattr(self, "history_", []))
        return {**summary, "history": history} if history else summary


class TorchModel(TrainedModule, Model):
    """Base of the standard torch encoder/decoder models (not a plugin by itself).

    Parameters are those of :class:`~zsbench_plugins.models.ae.AutoEncoder`; learned state:
    ``module_`` (a :class:`LatentNet`), ``image_shape_`` ``(C, H, W)``, ``device_``,
    ``history_`` (one dict per epoch) and ``training_`` (see :meth:`training_summary`).
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "latent_dim": [Interval(int, 1)],
        "architecture": [Options(("default", "e3"))],
        "epochs": [Interval(int, 0)],
        "batch_size": [Interval(int, 1)],
        "optimizer": [Options(("adam", "adamw", "rmsprop"))],
        "lr": [Interval(float, 0, closed="neither", note="e.g. 1e-3")],
        "lr_decay": [Interval(float, 0, closed="neither", note="1 means no decay")],
        "weight_decay": [None, Interval(float, 0)],
        "early_stopping": [Interval(int, 0, note="0 turns it off")],
        "device": [Options(("auto", "cpu", "cuda"))],
        "progress": ["boolean"],
        "reconstruction": [Options(("bce_mean", "bce_sum"))],
        "precision": [Options(("fp32", "bf16"), note="bf16: bfloat16 autocast")],
        "init": [Options(("torch", "glorot"), note="glorot: Glorot-uniform weights, zero "
                                                   "biases")],
    }

    def __init__(
        self,
        *,
        latent_dim: int = 3,
        architecture: Literal["default", "e3"] = "default",
        epochs: int = 20,
        batch_size: int = 8,
        optimizer: Literal["adam", "adamw", "rmsprop"] = "adam",
        lr: float = 1e-3,
        lr_decay: float = 1.0,
        weight_decay: float | None = None,
        early_stopping: int = 0,
        device: Literal["auto", "cpu", "cuda"] = "auto",
        progress: bool = True,
        reconstruction: Literal["bce_mean", "bce_sum"] = "bce_mean",
        precision: Literal["fp32", "bf16"] = "fp32",
        init: Literal["torch", "glorot"] = "torch",
    ) -> None:
        self.latent_dim = latent_dim
        self.architecture = architecture
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.lr_decay = lr_decay
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.device = device
        self.progress = progress
        self.reconstruction = reconstruction
        self.precision = precision
        self.init = init
        TorchModel._check_params(self)

    # -- what subclasses define ------------------------------------------------------------

    def _has_log_variance(self) -> bool:
        """Whether the encoder has a log-variance head next to the mean head."""
        return False

    def _loss(self, net: LatentNet, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
        """Per-sample losses ``[B]`` of ``batch [B, C, H, W]`` (see :data:`zsbench.training.LossFn`)."""
        raise NotImplementedError

    def _check_params(self) -> None:
        """Raise :class:`PluginParameterError` for a parameter value that cannot work (the
        declared constraints; a subclass adds checks across parameters)."""
        self.validate_parameters()

    def check_image_shape(self, image_shape: tuple[int, int, int]) -> None:
        """Raise :class:`PluginParameterError` when ``architecture`` cannot take images of
        ``image_shape (C, H, W)`` (e.g. "e3" on anything but 36x36)."""
        try:
            build_body(self.architecture, tuple(image_shape), self.latent_dim)  # type: ignore[arg-type]
        except DataError as exc:
            self._bad_param("architecture", exc.message, "choose an architecture that takes "
                            "these images, or change the dataset's image size.")

    # -- shared pieces of the losses -------------------------------------------------------

    def _reconstruction_loss(self, logits: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of ``sigmoid(logits)`` against ``batch`` (both ``[B, C, H,
        W]``), per sample ``[B]``: the mean over pixels ("bce_mean") or their sum ("bce_sum")."""
        bce = F.binary_cross_entropy_with_logits(logits, batch, reduction="none").flatten(1)
        return bce.sum(1) if self.reconstruction == "bce_sum" else bce.mean(1)

    # -- the Model contract ----------------------------------------------------------------

    def _build(self, image_shape: tuple[int, int, int], seed: int) -> LatentNet:
        """A fresh network for ``image_shape (C, H, W)``, its weights drawn from ``seed``."""
        def factory() -> LatentNet:
            body = build_body(self.architecture, image_shape, self.latent_dim)
            net = LatentNet(body, self.latent_dim, self._has_log_variance())
            if self.init == "glorot":
                glorot_init(net)
            return net

        try:
            return init_module(factory, seed)  # type: ignore[return-value]
        except DataError as exc:
            raise DataError(f'model "{self.name}": {exc.message}') from None

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> TorchModel:
        """Train on ``images`` float32 ``[N, C, H, W]`` in [0, 1] from the seed alone.

        ``weights [N]`` (non-negative) multiply each sample's loss before the batch mean;
        ``validation [M, C, H, W]`` gives a validation loss per epoch, which drives early
        stopping when ``early_stopping > 0``. A fresh network is built at every call."""
        self._check_params()
        x = _check_images(images, self.name, "images")
        if x.shape[0] == 0:
            raise DataError(f'model "{self.name}": fit got no images (an empty array).')
        image_shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        v = None
        if validation is not None:
            v = _check_images(validation, self.name, "validation", image_shape)
        net = self._build(image_shape, seed)
        result: TrainResult = train(
            net, self._loss, x, seed=seed, epochs=self.epochs, batch_size=self.batch_size,
            optimizer=self.optimizer, lr=self.lr, lr_decay=self.lr_decay,
            weight_decay=self.weight_decay, weights=weights, validation=v,
            early_stopping=self.early_stopping, device=self.device, progress=self.progress,
            label=self.name, precision=self.precision)
        self._keep(net, image_shape, result)
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Latent means ``[N, D]`` float32 of ``images`` float32 ``[N, C, H, W]`` in [0, 1]
        (of the shape the model was fitted on)."""
        net = self._fitted()
        x = _check_images(images, self.name, "images", self.image_shape_)
        return batched(net, net.encode_mean, x, self.device_, precision=self.precision)

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Images float32 ``[N, C, H, W]`` in [0, 1] from ``latents [N, D]``."""
        net = self._fitted()
        z = np.asarray(latents)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise DataError(f'model "{self.name}": latents must be [N, {self.latent_dim}]; '
                            f"got shape {z.shape}.")
        if not np.issubdtype(z.dtype, np.number) or not np.all(np.isfinite(z)):
            raise DataError(f'model "{self.name}": latents must be finite numbers.')
        return batched(net, net.decode_images, z.astype(np.float32), self.device_,
                       precision=self.precision)

    def invert(self, images: np.ndarray, *, seed: int, steps: int = INVERT_STEPS,
               lr: float = INVERT_LR, scale: np.ndarray | None = None,
               batch_size: int = INVERT_BATCH) -> np.ndarray:
        """For each image of ``images`` float32 ``[N, C, H, W]`` in [0, 1], the latent
        ``[N, D]`` float32 whose decoding best reproduces it: Adam on the latents alone
        (the network stays fixed), ``steps`` steps from the encoder's mean, minimising the
        model's own reconstruction loss (BCE, as in training; no prior term: this asks what
        the decoder *can* draw). Each image keeps the best latent seen, the encoder's mean
        included, so its loss never ends above the reconstruction's.

        Steps are taken in units of ``scale [D]`` (the spread of each latent dimension,
        e.g. the standard deviation of the training latents; default: that of the encoder
        means of ``images``), so ``lr`` means the same for a VAE whose latents have unit
        spread and an AE whose latents spread over hundreds: Adam moves each coordinate
        by about ``lr * scale`` per step.

        Images are processed ``batch_size`` at a time on the model's device; Adam acts per
        coordinate and the loss is a sum of per-image terms, so each image's descent is
        independent of the others in its batch. The descent uses no randomness: ``seed`` is
        part of the contract (:meth:`zsbench.plugin.Model.invert`) and the result is the
        same for every seed."""
        net = self._fitted()
        x = _check_images(images, self.name, "images", self.image_shape_)
        if not isinstance(steps, int) or steps < 0:
            raise DataError(f'model "{self.name}": invert steps must be an integer >= 0; '
                            f"got {steps!r}.")
        if not (isinstance(lr, (int, float)) and 0 < lr < float("inf")):
            raise DataError(f'model "{self.name}": invert lr must be a positive number; '
                            f"got {lr!r}.")
        z0 = batched(net, net.encode_mean, x, self.device_)
        if steps == 0 or len(x) == 0:
            return z0
        if scale is None:
            unit = z0.std(axis=0) if len(z0) > 1 else np.ones(self.latent_dim)
        else:
            unit = np.asarray(scale, dtype=np.float64).reshape(-1)
            if unit.shape != (self.latent_dim,) or not np.all(np.isfinite(unit)):
                raise DataError(f'model "{self.name}": invert scale must be [{self.latent_dim}] '
                                f"finite numbers; got shape {unit.shape}.")
        unit = np.where(unit > 1e-6, unit, 1e-6).astype(np.float32)
        s = torch.from_numpy(unit).to(self.device_)
        net.eval()
        out: list[np.ndarray] = []
        with torch.inference_mode(False), torch.enable_grad():
            for i in range(0, len(x), max(1, int(batch_size))):
                xb = torch.from_numpy(x[i:i + batch_size]).to(self.device_)
                start = torch.from_numpy(z0[i:i + batch_size]).to(self.device_)
                u = torch.zeros_like(start, requires_grad=True)
                opt = torch.optim.Adam([u], lr=float(lr))
                best_z = start.clone()
                best = torch.full((len(xb),), float("inf"), device=self.device_)
                for step in range(steps + 1):
                    z = start + u * s
                    loss = self._reconstruction_loss(net.decode_logits(z), xb)
                    with torch.no_grad():
                        better = loss < best
                        best = torch.where(better, loss.detach(), best)
                        best_z[better] = z.detach()[better]
                    if step == steps:
                        break
                    (grad,) = torch.autograd.grad(loss.sum(), [u])
                    u.grad = grad
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                out.append(best_z.to("cpu", torch.float32).numpy())
        return np.concatenate(out, axis=0)

    def save(self, path: Path) -> None:
        """Write the parameters, image shape, weights and training facts to ``path`` with
        ``torch.save`` (plain containers and tensors only, so :meth:`load` can read it
        with ``weights_only=True``)."""
        net = self._fitted()
        state = {k: v.detach().to("cpu") for k, v in net.state_dict().items()}
        torch.save({
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "plugin": self.name,
            "params": self.get_params(),
            "image_shape": list(self.image_shape_),
            "state_dict": state,
            "training": self.training_summary(),
            "history": list(getattr(self, "history_", [])),
        }, Path(path))

    @classmethod
    def load(cls, path: Path) -> TorchModel:
        """Read a model that :meth:`save` wrote (see :func:`read_checkpoint` for the
        checks). The model goes to its ``device`` parameter's device ("cuda" falls back to
        the CPU when there is no GPU here)."""
        with read_checkpoint(path, cls, FORMAT, (FORMAT_VERSION,), "torch model") as (
                data, model, dev):
            image_shape = (int(data["image_shape"][0]), int(data["image_shape"][1]),
                           int(data["image_shape"][2]))
            net = model._build(image_shape, seed=0)
            net.load_state_dict(data["state_dict"])
            net.to(dev).eval()
            model.module_ = net
            model.image_shape_ = image_shape
            model.device_ = dev
        return model


@contextlib.contextmanager
def read_checkpoint(path: Path, cls: Any, fmt: str, versions: tuple[int, ...],
                    what: str = "model") -> Iterator[tuple[dict[str, Any], Any, torch.device]]:
    """The one checked reading of a standard model's checkpoint, as ``with
    read_checkpoint(path, cls, fmt, versions) as (data, model, device):`` where the body
    builds the network from ``data`` into ``model`` (``cls`` built from the saved
    parameters; its ``history_`` and ``training_`` already set) on ``device``. ``what``
    names the kind of file in the errors ("not a zsbench torch model file").

    ``torch.load(weights_only=True)``: a file holding arbitrary pickled objects is refused.
    Every failure is a :class:`DataError` naming the file: unreadable or not a zsbench
    file of format ``fmt``, a format version not in ``versions``, another plugin's model,
    parameters this version does not know, or (raised in the body) missing keys, wrong
    shapes or weights that do not fit the network ("a corrupt ... file")."""
    path = Path(path)
    what = f"zsbench {what} file"
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot load {path}: not a {what}, or it holds objects that safe "
                        f"loading (weights_only) refuses ({first}).") from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise DataError(f'cannot load {path}: not a {what} (expected format "{fmt}").')
    if data.get("format_version") not in versions:
        raise DataError(f"cannot load {path}: file format version {data.get('format_version')!r}"
                        f", this zsbench reads {' and '.join(str(v) for v in versions)} (a "
                        "file of an older version: train the model again).")
    if data.get("plugin") != cls.name:
        raise DataError(f'cannot load {path} as model "{cls.name}": it holds a '
                        f'"{data.get("plugin")}" model.')
    try:
        params = dict(data["params"])
        unknown = sorted(set(params) - set(cls.parameters()))
        if unknown:
            raise DataError(f"cannot load {path}: parameters {unknown} are unknown to "
                            f'model "{cls.name}" (saved by another version?).')
        model = cls(**params)
        dev = loaded_device(model.device, model.name)
        model.history_ = list(data.get("history", []))
        model.training_ = dict(data.get("training", {}))
        yield data, model, dev
    except DataError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError,
            PluginParameterError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DataError(f"cannot load {path}: a corrupt {what} ({type(exc).__name__}: "
                        f"{first}).") from None


def _check_images(images: np.ndarray, model: str, what: str,
                  shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """``images`` as a contiguous float32 ``[N, C, H, W]`` array in [0, 1], else DataError."""
    arr = np.asarray(images)
    if arr.ndim != 4:
        hint = " (add the channel axis: images[:, None])" if arr.ndim == 3 else ""
        raise DataError(f'model "{model}": {what} must be [N, C, H, W]; got shape '
                        f"{arr.shape}{hint}.")
    if shape is not None and tuple(arr.shape[1:]) != tuple(shape):
        raise DataError(f'model "{model}": {what} are (C, H, W) = {tuple(arr.shape[1:])} but '
                        f"the model was fitted on {tuple(shape)}.")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
            or arr.dtype == np.bool_):
        raise DataError(f'model "{model}": {what} must be numbers; got dtype {arr.dtype}.')
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.size:
        lo, hi = float(arr.min()), float(arr.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise DataError(f'model "{model}": {what} contain NaN or infinite values.')
        if lo < 0.0 or hi > 1.0:
            raise DataError(f'model "{model}": {what} must lie in [0, 1]; got values in '
                            f"[{lo:g}, {hi:g}] (uint8 images: divide by 255).")
    return arr
