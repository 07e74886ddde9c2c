"""The conditional VAE: an encoder and a decoder that both see the true factors; it generates
images for any requested factors from prior draws of its latent."""

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
from zsbench.plugin import Model, Monitor, row_noise
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
from zsbench_plugins.models.factor_decoder import (
    DEVICES,
    OPTIMIZERS,
    RECONSTRUCTIONS,
    FactorCode,
    check_factors,
    check_space,
    check_training_factors,
    embedding_spec,
)
from zsbench_plugins.models.nets import BODIES, Body, build_body
from zsbench_plugins.models.vae import gaussian_kl

FORMAT = "zsbench.cvae"
FORMAT_VERSION = 1

NOISE_STREAM = 0
"""The :func:`~zsbench.plugin.row_noise` stream of ``generate``'s prior draws."""


class CVAENet(nn.Module):
    """A body with its latent heads, conditioned on the factors' embedding ``c [N, E]``
    (from the :class:`FactorCode` ``code``).

    ``encode_stats(x, c) -> (mu, logvar)`` (each ``[N, D]``): the body's encoder features
    of ``x`` concatenated with ``c``, then a mean and a log-variance head;
    ``decode_logits(z, c) -> logits [N, C, H, W]``: the body's decoder (built for a latent of
    ``D + E``) of ``[z, c]``; ``images(zf)`` takes ``[z, factors]`` side by side."""

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

    def images(self, zf: torch.Tensor) -> torch.Tensor:
        d = self.latent_dim
        return torch.sigmoid(self.decode_logits(zf[:, :d], self.code(zf[:, d:])))


class ConditionalVAE(TrainedModule, Model):
    """Conditional VAE: encoder and decoder see the true factors; generates from prior draws.

    A conditional generator without ``encode``/``decode``/``sample`` (each needs the
    factors): the runner passes the training images' true factors to ``fit(images, ...,
    factors=[N, F], space=...)`` and evaluates it through ``generate(factors, *, seed)``,
    which decodes latents drawn from the prior N(0, I) (:func:`~zsbench.plugin.row_noise`,
    fresh for every row) together with the requested factors.

    Factor embedding: continuous factors scaled to [0, 1] by the space's bounds, discrete
    ones one-hot over their values (without a ``space``, every factor scaled by the training
    factors' range). Encoder: the conv body's features of the image, concatenated with the
    embedding, -> mean and log-variance heads. Decoder: the body's decoder of [z,
    embedding]. Loss per sample: reconstruction BCE + ``kl_weight`` * KL(N(mu, sigma^2) ||
    N(0, I)), z = mu + sigma * eps.

    Parameters (all keyword-only):
        latent_dim: size of z (default 3): what the factors leave unexplained.
        kl_weight: weight of the KL term (default 1.0: with ``reconstruction = "bce_sum"``,
            the default, the loss is the negative ELBO of Bernoulli pixels).
        architecture: the conv body, as for ``ae``/``vae`` ("default", "e3").
        epochs, batch_size, lr, lr_decay, device, progress: as for ``ae``.
        optimizer: "adam" (default), "adamw" or "rmsprop".
        reconstruction: "bce_sum" (default, summed over pixels) or "bce_mean".
        eval_every: with a ``monitor`` given to ``fit``, call ``monitor(step, self)`` after
            every ``eval_every``-th optimiser step (0: never).

    There is no early stopping: the validation images come without factors.
    """

    name = "cvae"
    needs_factors: ClassVar[bool] = True

    def __init__(
        self,
        *,
        latent_dim: int = 3,
        kl_weight: float = 1.0,
        architecture: Literal["default", "e3"] = "default",
        epochs: int = 20,
        batch_size: int = 64,
        optimizer: Literal["adam", "adamw", "rmsprop"] = "adam",
        lr: float = 1e-3,
        lr_decay: float = 1.0,
        device: Literal["auto", "cpu", "cuda"] = "auto",
        progress: bool = True,
        reconstruction: Literal["bce_mean", "bce_sum"] = "bce_sum",
        eval_every: int = 0,
    ) -> None:
        self.latent_dim = latent_dim
        self.kl_weight = kl_weight
        self.architecture = architecture
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.lr_decay = lr_decay
        self.device = device
        self.progress = progress
        self.reconstruction = reconstruction
        self.eval_every = eval_every
        self._check_params()

    def _check_params(self) -> None:
        choices = {"architecture": tuple(BODIES), "optimizer": OPTIMIZERS, "device": DEVICES,
                   "reconstruction": RECONSTRUCTIONS}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                self._bad_param(key, f"got {getattr(self, key)!r}.",
                                "give one of " + ", ".join(f'"{a}"' for a in allowed) + ".")
        for key, low in {"latent_dim": 1, "epochs": 0, "batch_size": 1, "eval_every": 0}.items():
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
        kl = self.kl_weight
        if isinstance(kl, bool) or not (isinstance(kl, (int, float)) and 0 <= kl < math.inf):
            self._bad_param("kl_weight", f"must be a number >= 0; got {kl!r}.", "give 0 or more.")
        if not isinstance(self.progress, bool):
            self._bad_param("progress", f"must be true or false; got {self.progress!r}.",
                            "give true or false.")

    def check_image_shape(self, image_shape: tuple[int, int, int]) -> None:
        """Raise :class:`PluginParameterError` when ``architecture`` cannot take images of
        ``image_shape (C, H, W)`` (e.g. "e3" on anything but 36x36)."""
        try:
            shape = tuple(int(v) for v in image_shape)
            build_body(self.architecture, shape, self.latent_dim + 1)  # type: ignore[arg-type]
        except DataError as exc:
            self._bad_param("architecture", exc.message, "choose an architecture that takes "
                            "these images, or change the dataset's image size.")

    def _build(self, image_shape: tuple[int, int, int], spec: Sequence[dict[str, Any]],
               seed: int) -> CVAENet:
        def factory() -> CVAENet:
            code = FactorCode(spec)
            body = build_body(self.architecture, image_shape, self.latent_dim + code.width)
            return CVAENet(body, code, self.latent_dim)

        try:
            return init_module(factory, seed)  # type: ignore[return-value]
        except DataError as exc:
            raise DataError(f'model "{self.name}": {exc.message}') from None

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None, factors: np.ndarray | None = None,
            space: LatentSpace | None = None, monitor: Monitor | None = None) -> ConditionalVAE:
        """Train on ``images [N, C, H, W]`` in [0, 1] and their true ``factors [N, F]``
        (required), from the seed alone; ``weights [N]`` scale each sample's loss;
        ``validation`` is ignored (it comes without factors); ``space``: the dataset's
        :class:`~zsbench.space.LatentSpace` (bounds and discrete values of the embedding).
        ``monitor``: called as ``monitor(step, self)`` every ``eval_every`` steps;
        ``generate`` then uses the current weights."""
        self._check_params()
        x = _check_images(images, self.name, "images")
        f = check_training_factors(factors, len(x), self.name)
        if len(x) == 0:
            raise DataError(f'model "{self.name}": fit got no images (an empty array).')
        check_space(space, f.shape[1], self.name)
        image_shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        spec = embedding_spec(f, space)
        net = self._build(image_shape, spec, seed)
        dev = resolve_device(self.device, self.name)
        f_dev = torch.from_numpy(f.astype(np.float32)).to(dev)
        bce_sum = self.reconstruction == "bce_sum"
        kl_weight = float(self.kl_weight)

        def loss(module: nn.Module, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
            assert ctx.index is not None, "the training loop passes the batch's rows"
            assert isinstance(module, CVAENet)
            c = module.code(f_dev[ctx.index])
            mu, logvar = module.encode_stats(batch, c)
            eps = torch.randn(mu.shape, generator=ctx.generator, device=mu.device,
                              dtype=mu.dtype)
            z = mu + torch.exp(0.5 * logvar) * eps
            logits = module.decode_logits(z, c)
            bce = F.binary_cross_entropy_with_logits(logits, batch, reduction="none").flatten(1)
            rec = bce.sum(1) if bce_sum else bce.mean(1)
            return rec + kl_weight * gaussian_kl(mu, logvar)

        keys = ("module_", "image_shape_", "device_", "n_factors_", "code_spec_")
        before = {k: getattr(self, k) for k in keys if hasattr(self, k)}
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
            for k in keys:
                if k in before:
                    setattr(self, k, before[k])
                else:
                    delattr(self, k)
            raise
        self._keep(net, image_shape, result)
        return self

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        """Images float32 ``[N, C, H, W]`` in [0, 1] for the requested ``factors [N, F]``:
        row ``i`` decodes ``z_i ~ N(0, I)`` drawn by ``row_noise(seed, N, [latent_dim])``
        with the factors of row ``i``. The same call gives the same images; every row gets
        fresh noise; a row does not depend on the others (``generate(f[:k], seed=s)`` is
        bit-for-bit the first ``k`` rows of ``generate(f, seed=s)``)."""
        net = self._fitted()
        f = check_factors(factors, self.n_factors_, self.name)
        z = row_noise(seed, len(f), (self.latent_dim,), stream=NOISE_STREAM)
        return rowwise_batched(net, net.images, np.concatenate([z, f], axis=1), self.device_)

    def save(self, path: Path) -> None:
        """Parameters, shapes, the factor embedding, weights and training facts, written
        with ``torch.save`` as plain containers and tensors."""
        net = self._fitted()
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "plugin": self.name,
                    "params": self.get_params(), "image_shape": list(self.image_shape_),
                    "n_factors": self.n_factors_, "code": [dict(s) for s in net.code.spec],
                    "state_dict": {k: v.detach().to("cpu") for k, v in net.state_dict().items()},
                    "training": self.training_summary(),
                    "history": list(getattr(self, "history_", []))}, Path(path))

    @classmethod
    def load(cls, path: Path) -> ConditionalVAE:
        """Read what :meth:`save` wrote (``torch.load(weights_only=True)``: no pickles)."""
        path = Path(path)
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
            raise DataError(f"cannot load {path}: not a zsbench cvae file, or it holds "
                            f"objects that safe loading refuses ({type(exc).__name__}).") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"cannot load {path}: not a zsbench cvae file.")
        if data.get("format_version") != FORMAT_VERSION:
            raise DataError(f"cannot load {path}: file format version "
                            f"{data.get('format_version')!r}, this zsbench reads {FORMAT_VERSION}.")
        params = dict(data["params"])
        unknown = sorted(set(params) - set(cls.parameters()))
        if unknown:
            raise DataError(f"cannot load {path}: parameters {unknown} are unknown to "
                            f'model "{cls.name}" (saved by another version?).')
        model = cls(**params)
        shape = tuple(int(v) for v in data["image_shape"])
        spec = [dict(s) for s in data["code"]]
        net = model._build(shape, spec, seed=0)  # type: ignore[arg-type]
        net.load_state_dict(data["state_dict"])
        dev = resolve_device("auto" if model.device == "cuda" and not torch.cuda.is_available()
                             else model.device, model.name)
        net.to(dev).eval()
        model.module_ = net
        model.image_shape_ = shape  # type: ignore[assignment]
        model.n_factors_ = int(data["n_factors"])
        model.code_spec_ = spec
        model.device_ = dev
        model.history_ = list(data.get("history", []))
        model.training_ = dict(data.get("training", {}))
        return model
