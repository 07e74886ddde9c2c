"""The conditional diffusion model: a denoising generator conditioned on the true factors.

A small conditional U-Net (:mod:`zsbench_plugins.models.unet`) learns to denoise training
images given their factors, either as a DDPM noise predictor (``objective = "eps"``, sampled
by DDIM) or as a rectified-flow velocity field (``objective = "flow"``, sampled by an ODE
solver). Classifier-free guidance comes from dropping the condition during training. It only
*generates*: ``generate(factors, *, seed)``; no encoder, no prior sampling without factors.
"""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Model, Monitor, row_noise
from zsbench.space import LatentSpace
from zsbench.training import (
    LossContext,
    TrainResult,
    autocast,
    init_module,
    monitor_hook,
    resolve_device,
    train,
)
from zsbench_plugins.models.base import TrainedModule, _check_images
from zsbench_plugins.models.unet import CondUNet

FORMAT = "zsbench.diffusion"
FORMAT_VERSION = 1

MIN_SIZE = 8
"""Smallest image side the U-Net takes."""

MAX_SIZE = 1024
"""Largest image side the U-Net takes."""

EMA_WARMUP = 10
"""The moving average's decay at optimiser step ``n`` is ``min(ema, (1 + n) / (EMA_WARMUP +
n))``: early on it follows the weights closely, so that a short run (or a monitor asking
after a few hundred steps) does not get weights still dominated by the initialisation."""

COSINE_OFFSET = 0.008
"""The ``s`` of the cosine schedule (Nichol & Dhariwal, 2021)."""

MAX_BETA = 0.999
"""Largest per-step noise variance of the cosine schedule (clipped as in Nichol & Dhariwal)."""


def _alpha_bar(schedule: str, timesteps: int) -> np.ndarray:
    """``alpha_bar [T]`` float64: the signal fraction ``prod(1 - beta)`` after steps 1..T."""
    if schedule == "cosine":
        s = COSINE_OFFSET
        grid = np.arange(timesteps + 1, dtype=np.float64) / timesteps
        f = np.cos((grid + s) / (1 + s) * math.pi / 2) ** 2
        betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, MAX_BETA)
    else:  # "linear" (Ho et al., rescaled so that any T spans the same noise range)
        scale = 1000.0 / timesteps
        betas = np.linspace(scale * 1e-4, min(scale * 0.02, MAX_BETA), timesteps,
                            dtype=np.float64)
    return np.cumprod(1.0 - betas)


class Diffusion(TrainedModule, Model):
    """Conditional diffusion: a U-Net denoiser conditioned on the factors (DDPM or flow).

    A conditional generator without an encoder: the runner passes the training images'
    true factors (``fit(images, ..., factors=[N, F], space=..., monitor=...)``) and
    evaluates it through ``generate(factors, *, seed)``; the scores of latents (MIG, DCI,
    SAP, probes, reachability, prior coverage) are skipped for it as "n/a".

    **Network.** A small conditional U-Net (:class:`~zsbench_plugins.models.unet.CondUNet`):
    residual blocks with GroupNorm and SiLU, ``len(channel_mults)`` resolution levels of
    ``channels * m`` channels (down by stride-2 convolutions, up by nearest upsampling and a
    convolution, skip connections), after folding ``patch_size x patch_size`` pixels into
    channels. A sinusoidal timestep embedding and the factors' embedding (each through an
    MLP) are added into every residual block. Any image of 8 to 1024 pixels a side works
    (odd sizes too: 28 -> 14 -> 7 -> 4).

    **Factors.** Continuous factors are scaled to [-1, 1] by the space's bounds (by the
    training factors' range when ``fit`` gets no ``space``; a request beyond them gives
    inputs beyond [-1, 1]); a discrete factor is one-hot over its values (a value between
    two listed ones is split linearly between them, beyond the ends clamped).

    **Objectives.** ``"eps"``: DDPM noise prediction over ``timesteps`` steps of the
    ``schedule``, sampled by DDIM (eta = 0, so deterministic given the initial noise) in
    ``sample_steps`` steps at DDIM's "leading" timesteps ``0, T/S, ..., T - T/S``, the
    predicted clean image clipped to [-1, 1] at each step.
    ``"flow"``: rectified flow, ``x_t = (1 - t) x0 + t noise`` with ``t ~ U(0, 1)``,
    predicting the velocity ``noise - x0``; sampled by integrating the ODE from ``t = 1``
    (noise) to 0 with ``sampler`` in ``sample_steps`` equal steps. The training loss per
    sample is the mean squared error of the prediction; images are scaled to [-1, 1]
    inside and the output is clipped to [0, 1].

    **Generation.** The initial noise of row ``i`` comes from
    :func:`~zsbench.plugin.row_noise` ``(seed, stream 0)`` alone (neither sampler draws
    more), and the network runs on chunks of exactly ``sample_batch`` rows (the last one
    padded), so a row's image does not depend, to the last bit, on the other rows of the
    request nor on its size. ``generate`` uses the moving average of the weights (when
    ``ema > 0``), also in the middle of ``fit`` (see ``eval_every``).

    Parameters (all keyword-only):
        objective: "eps" (DDPM noise prediction, DDIM sampling) or "flow" (rectified flow,
            the default: learns the conditional toys faster than "eps" for the same steps).
        schedule: the noise schedule of "eps": "cosine" (default) or "linear".
        timesteps: the diffusion steps T of "eps" (default 1000).
        sample_steps: sampling steps (DDIM steps for "eps", ODE steps for "flow"; default
            50). Each step is one network evaluation per row ("heun": two, but the
            last step, which ends at t = 0, is an Euler step).
        sampler: the ODE solver of "flow": "euler" (default) or "heun" (second order,
            as in EDM: its last step is an Euler step).
        guidance: classifier-free guidance weight w: 1 (default) is the conditional
            prediction alone; w > 1 extrapolates ``uncond + w (cond - uncond)`` (two network
            evaluations per step, batched together); 0 is the unconditional model. Needs
            ``cond_dropout > 0`` when w != 1.
        cond_dropout: probability of replacing a training sample's condition by the learned
            null embedding (default 0.1; 0 = never, and then guidance must be 1).
        ema: decay of the exponential moving average of the weights that ``generate`` uses
            (default 0.999, with a warm-up: ``min(ema, (1 + n) / (10 + n))`` at step n); 0
            turns it off (the trained weights are used).
        channels: the U-Net's base width (default 32).
        channel_mults: width multiplier of each resolution level (default (1, 2, 2): three
            levels of 32, 64, 64 channels); 1 to 4 levels.
        patch_size: pixels folded into channels before the first level (default 2: the
            first level runs at half resolution, which keeps the model CPU-cheap; 1 works at
            full resolution, about 4x the cost; 4 suits 64-pixel images on a CPU).
        epochs: passes over the training images (default 20).
        batch_size: images per optimiser step (default 64).
        optimizer: "adam" (default) or "rmsprop".
        lr: learning rate (default 1e-3: with this small, GroupNorm'd U-Net, zero-initialised
            residual branches and the weight average smoothing the noise of the steps, 1e-3
            trains stably and learns a CPU-sized budget of steps much faster than the 2e-4
            of large image models).
        lr_decay: the learning rate of epoch e is ``lr * lr_decay ** (e - 1)`` (default 1).
        device: "auto" (CUDA when present, else the CPU; the default), "cpu" or "cuda".
        progress: show a progress bar while training (default True).
        eval_every: with a monitor given to ``fit``, call ``monitor(step, self)`` after
            every ``eval_every``-th optimiser step (default 0: never).
        precision: "fp32" (default) or "bf16" (bfloat16 autocast for training and sampling;
            only worth it on hardware with bfloat16 instructions).
        sample_batch: rows per network evaluation in ``generate`` (default 64); every chunk
            is padded to exactly this size, so it is part of what decides the output bits.

    There is no early stopping: the validation images come without factors.
    """

    name = "diffusion"
    needs_factors: ClassVar[bool] = True

    def __init__(
        self,
        *,
        objective: Literal["eps", "flow"] = "flow",
        schedule: Literal["cosine", "linear"] = "cosine",
        timesteps: int = 1000,
        sample_steps: int = 50,
        sampler: Literal["euler", "heun"] = "euler",
        guidance: float = 1.0,
        cond_dropout: float = 0.1,
        ema: float = 0.999,
        channels: int = 32,
        channel_mults: Sequence[int] = (1, 2, 2),
        patch_size: int = 2,
        epochs: int = 20,
        batch_size: int = 64,
        optimizer: Literal["adam", "rmsprop"] = "adam",
        lr: float = 1e-3,
        lr_decay: float = 1.0,
        device: Literal["auto", "cpu", "cuda"] = "auto",
        progress: bool = True,
        eval_every: int = 0,
        precision: Literal["fp32", "bf16"] = "fp32",
        sample_batch: int = 64,
    ) -> None:
        self.objective = objective
        self.schedule = schedule
        self.timesteps = timesteps
        self.sample_steps = sample_steps
        self.sampler = sampler
        self.guidance = guidance
        self.cond_dropout = cond_dropout
        self.ema = ema
        self.channels = channels
        self.channel_mults = channel_mults
        self.patch_size = patch_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.lr_decay = lr_decay
        self.device = device
        self.progress = progress
        self.eval_every = eval_every
        self.precision = precision
        self.sample_batch = sample_batch
        self._check_params()

    # -- parameters ------------------------------------------------------------------------

    def _check_choice(self, key: str, choices: tuple[str, ...]) -> None:
        value = getattr(self, key)
        if not isinstance(value, str) or value not in choices:
            self._bad_param(key, f"got {value!r}.",
                            "give one of " + ", ".join(f'"{c}"' for c in choices) + ".")

    def _check_int(self, key: str, low: int, high: int | None = None) -> None:
        value = getattr(self, key)
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        if not ok or value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f">= {low}"
            self._bad_param(key, f"must be an integer {span}; got {value!r}.",
                            f"give an integer {span}.")

    def _check_number(self, key: str, low: float, high: float, *, low_open: bool = False,
                      high_open: bool = True, fix: str = "") -> None:
        value = getattr(self, key)
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, bool) and math.isfinite(float(value))
        if ok:
            v = float(value)
            ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
        if not ok:
            lo = "(" if low_open else "["
            hi = ")" if high_open else "]"
            rng = f"{lo}{low:g}, {high:g}{hi}" if math.isfinite(high) else f"{lo}{low:g}, inf)"
            self._bad_param(key, f"must be a number in {rng}; got {value!r}.",
                            fix or f"give a number in {rng}.")

    def _check_params(self) -> None:
        """Validate every parameter (:class:`PluginParameterError` naming the key)."""
        self._check_choice("objective", ("eps", "flow"))
        self._check_choice("schedule", ("cosine", "linear"))
        self._check_choice("sampler", ("euler", "heun"))
        self._check_choice("optimizer", ("adam", "rmsprop"))
        self._check_choice("device", ("auto", "cpu", "cuda"))
        self._check_choice("precision", ("fp32", "bf16"))
        self._check_int("timesteps", 2)
        self._check_int("sample_steps", 1)
        if self.objective == "eps" and self.sample_steps > self.timesteps:
            self._bad_param("sample_steps", f"is {self.sample_steps}, more than the "
                            f"{self.timesteps} timesteps of the \"eps\" objective.",
                            f"give at most timesteps = {self.timesteps} sampling steps.")
        self._check_int("channels", 4, 1024)
        self._check_int("patch_size", 1, 8)
        self._check_int("epochs", 0)
        self._check_int("batch_size", 1)
        self._check_int("eval_every", 0)
        self._check_int("sample_batch", 1)
        mults = self.channel_mults
        if (not isinstance(mults, (list, tuple)) or not 1 <= len(mults) <= 4
                or not all(isinstance(m, (int, np.integer)) and not isinstance(m, bool)
                           and 1 <= m <= 16 for m in mults)):
            self._bad_param("channel_mults", f"got {mults!r}.",
                            "give a list of 1 to 4 integers from 1 to 16, one width "
                            "multiplier per resolution level, e.g. [1, 2, 2].")
        self._check_number("cond_dropout", 0.0, 1.0,
                           fix="give a probability in [0, 1), e.g. 0.1 (0: never dropped).")
        self._check_number("ema", 0.0, 1.0,
                           fix="give a decay in [0, 1), e.g. 0.999 (0 turns the average off).")
        self._check_number("guidance", 0.0, math.inf,
                           fix="give a number >= 0: 1 is the conditional model alone, "
                               "larger values extrapolate (e.g. 2).")
        if float(self.guidance) != 1.0 and float(self.cond_dropout) == 0.0:
            self._bad_param("guidance", f"is {self.guidance!r}, which needs the unconditional "
                            "prediction, but cond_dropout = 0 never trains it.",
                            "give cond_dropout > 0 (e.g. 0.1), or guidance = 1.")
        self._check_number("lr", 0.0, math.inf, low_open=True,
                           fix="give a number > 0, e.g. 1e-3.")
        self._check_number("lr_decay", 0.0, math.inf, low_open=True,
                           fix="give a number > 0 (1 means no decay).")
        if not isinstance(self.progress, bool):
            self._bad_param("progress", f"must be true or false; got {self.progress!r}.",
                            "give true or false.")

    def check_image_shape(self, image_shape: tuple[int, int, int]) -> None:
        """Raise :class:`PluginParameterError` for images the U-Net cannot take: fewer than
        8 (or more than 1024) pixels a side, or too small for ``patch_size`` and the number
        of levels (each side at least ``patch_size * 2 ** (levels - 1)``)."""
        if len(image_shape) != 3 or min(int(s) for s in image_shape) < 1:
            self._bad_param("channel_mults", f"cannot take images of shape {tuple(image_shape)}.",
                            "give images [N, C, H, W] with C, H, W >= 1.")
        _, h, w = (int(s) for s in image_shape)
        smallest = max(MIN_SIZE, int(self.patch_size) * 2 ** (len(self.channel_mults) - 1))
        if min(h, w) < smallest or max(h, w) > MAX_SIZE:
            self._bad_param(
                "channel_mults",
                f"the U-Net takes images from {smallest} to {MAX_SIZE} pixels a side (at least "
                f"{MIN_SIZE}, and patch_size x 2^(levels - 1) = {self.patch_size} x "
                f"2^{len(self.channel_mults) - 1}); got {h}x{w}.",
                "resize the dataset's images (e.g. its image_size parameter), or use fewer "
                "levels (channel_mults) or a smaller patch_size.")

    # -- the factors' encoding -------------------------------------------------------------

    def _make_encoding(self, f: np.ndarray, space: LatentSpace | None) -> dict[str, Any]:
        """How factors become the network's condition: per factor, its (low, high) for a
        continuous one, or its sorted values for a discrete one. Plain lists (saved as is)."""
        n = f.shape[1]
        if space is None:
            low, high = f.min(axis=0), f.max(axis=0)
            return {"low": [float(v) for v in low], "high": [float(v) for v in high],
                    "values": [None] * n, "names": None}
        if not isinstance(space, LatentSpace):
            raise DataError(f'model "{self.name}": space must be a zsbench LatentSpace; got '
                            f"{type(space).__name__}.")
        if space.dim != n:
            raise DataError(f'model "{self.name}": the factors have {n} columns but the space '
                            f"has {space.dim} factors ({', '.join(space.names)}).")
        low, high, values = [], [], []
        for factor in space.factors:
            lo, hi = factor.bounds
            low.append(float(lo))
            high.append(float(hi))
            values.append(None if factor.values is None
                          else sorted({float(v) for v in factor.values}))
        return {"low": low, "high": high, "values": values, "names": list(space.names)}

    def _encode(self, f: np.ndarray) -> np.ndarray:
        """The condition ``float32 [N, E]`` of factors ``[N, F]`` (row by row)."""
        enc = self.encoding_
        cols: list[np.ndarray] = []
        for i, values in enumerate(enc["values"]):
            x = f[:, i].astype(np.float64)
            if values is None:
                lo, hi = enc["low"][i], enc["high"][i]
                span = hi - lo if hi > lo else 1.0
                cols.append((x - lo) / span * 2.0 - 1.0)
            else:
                grid = np.asarray(values, dtype=np.float64)
                for k in range(len(grid)):
                    cols.append(np.interp(x, grid, np.eye(len(grid))[k]))
        return np.stack(cols, axis=1).astype(np.float32)

    @staticmethod
    def _cond_dim(encoding: dict[str, Any]) -> int:
        return sum(1 if v is None else len(v) for v in encoding["values"])

    # -- training --------------------------------------------------------------------------

    def _build(self, image_shape: tuple[int, int, int], cond_dim: int, seed: int) -> CondUNet:
        def factory() -> CondUNet:
            return CondUNet(image_shape[0], cond_dim, channels=int(self.channels),
                            channel_mults=tuple(int(m) for m in self.channel_mults),
                            patch_size=int(self.patch_size))

        return init_module(factory, seed)  # type: ignore[return-value]

    def _check_factors(self, factors: Any, n: int | None, what: str) -> np.ndarray:
        f = np.asarray(factors)
        width = getattr(self, "n_factors_", None) if n is None else None
        expected = f"[{n if n is not None else 'N'}, {width if width is not None else 'F'}]"
        if (f.ndim != 2 or (n is not None and len(f) != n) or f.shape[1] < 1
                or (width is not None and f.shape[1] != width)
                or not (np.issubdtype(f.dtype, np.number) or f.dtype == np.bool_)):
            names = getattr(self, "encoding_", {}).get("names")
            cols = f" (columns {', '.join(names)})" if names else ""
            raise DataError(f'model "{self.name}": {what} must be numbers of shape '
                            f"{expected}{cols}; got shape {list(f.shape)} ({f.dtype}).")
        f = f.astype(np.float64)
        if not np.isfinite(f).all():
            raise DataError(f'model "{self.name}": {what} must be finite (no NaN or inf).')
        return f

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None, factors: np.ndarray | None = None,
            space: LatentSpace | None = None, monitor: Monitor | None = None) -> Diffusion:
        """Train on ``images [N, C, H, W]`` in [0, 1] and their true ``factors [N, F]``
        (required; columns as in ``space.names``), from ``seed`` alone. ``space`` (the
        dataset's :class:`~zsbench.space.LatentSpace`) fixes the factors' scaling and which
        are discrete; without it every factor is continuous, scaled by the training range.
        ``weights [N]`` scale each sample's loss; ``validation`` is ignored (no factors).
        ``monitor(step, self)`` is called every ``eval_every`` steps (when both are set);
        ``self.generate`` then uses the current averaged weights. Returns ``self``."""
        self._check_params()
        x = _check_images(images, self.name, "images")
        if factors is None:
            raise DataError(f'model "{self.name}" learns from the true factors: call '
                            "fit(images, seed=..., factors=[N, F]); the runner passes them "
                            "to models that take factors.")
        if len(x) == 0:
            raise DataError(f'model "{self.name}": fit got no images (an empty array).')
        f = self._check_factors(factors, len(x), "factors")
        image_shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        self.check_image_shape(image_shape)
        encoding = self._make_encoding(f, space)
        for key in ("module_", "training_", "history_"):
            self.__dict__.pop(key, None)
        net = self._build(image_shape, self._cond_dim(encoding), seed)
        dev = resolve_device(self.device, self.name)
        average = None
        if float(self.ema) > 0:
            average = copy.deepcopy(net).to(dev).eval()
            average.requires_grad_(False)
        gen_net = average if average is not None else net
        # What generate reads, set before training so a monitor can call it mid-fit.
        self.encoding_ = encoding
        self.n_factors_ = int(f.shape[1])
        self.image_shape_ = image_shape
        self.device_ = dev
        self.module_ = gen_net
        cond = torch.from_numpy(self._encode(f)).to(dev)
        loss = self._loss_fn(cond, dev)
        after_step = self._after_step(net, average, monitor)
        try:
            result: TrainResult = train(
                net, loss, x, seed=seed, epochs=self.epochs, batch_size=self.batch_size,
                optimizer=self.optimizer, lr=float(self.lr), lr_decay=float(self.lr_decay),
                weights=weights, device=self.device, progress=self.progress, label=self.name,
                precision=self.precision, after_step=after_step)
        except BaseException:
            self.__dict__.pop("module_", None)
            raise
        gen_net.to(dev).eval()
        self._keep(gen_net, image_shape, result)
        self.training_["weights"] = "ema" if average is not None else "trained"
        return self

    def _loss_fn(self, cond: torch.Tensor, dev: torch.device) -> Any:
        """The per-sample loss: the MSE of the noise (eps) or velocity (flow) prediction at
        a noise level and noise drawn from the loop's generator."""
        objective = self.objective
        timesteps = int(self.timesteps)
        alpha_bar = torch.from_numpy(
            _alpha_bar(self.schedule, timesteps).astype(np.float32)).to(dev)
        p_drop = float(self.cond_dropout)

        def loss(module: nn.Module, batch: torch.Tensor, ctx: LossContext) -> torch.Tensor:
            assert ctx.index is not None, "the training loop passes the batch's rows"
            g = ctx.generator
            b = batch.shape[0]
            x0 = batch * 2.0 - 1.0
            noise = torch.randn(x0.shape, generator=g, device=x0.device, dtype=x0.dtype)
            drop = (torch.rand(b, generator=g, device=x0.device) < p_drop) if p_drop > 0 else None
            if objective == "eps":
                t = torch.randint(0, timesteps, (b,), generator=g, device=x0.device)
                a = alpha_bar[t].view(b, 1, 1, 1)
                xt = a.sqrt() * x0 + (1.0 - a).sqrt() * noise
                tau = (t.float() + 1.0) / timesteps
                target = noise
            else:
                tau = torch.rand(b, generator=g, device=x0.device)
                s = tau.view(b, 1, 1, 1)
                xt = (1.0 - s) * x0 + s * noise
                target = noise - x0
            pred = module(xt, tau, cond[ctx.index], drop)
            return (pred.float() - target).pow(2).flatten(1).mean(1)

        return loss

    def _after_step(self, net: nn.Module, average: nn.Module | None,
                    monitor: Monitor | None) -> Any:
        """One ``after_step`` for the loop: update the weight average, then the monitor."""
        hook = monitor_hook(monitor, self, int(self.eval_every))
        if average is None:
            return hook
        decay = float(self.ema)
        avg_params = list(average.parameters())
        params = list(net.parameters())

        def after_step(step: int) -> None:
            d = min(decay, (1.0 + step) / (EMA_WARMUP + step))
            torch._foreach_lerp_(avg_params, [p.detach() for p in params], 1.0 - d)
            if hook is not None:
                hook(step)

        return after_step

    # -- generation ------------------------------------------------------------------------

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        """Images float32 ``[N, C, H, W]`` in [0, 1] drawn for the requested ``factors
        [N, F]`` (columns as in the training space; any point, in the hole or beyond the
        training range), seeded by ``seed`` alone: the same call gives the same images,
        every row gets its own noise, and row ``i`` does not depend on the other rows."""
        net = self._fitted()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise DataError(f'model "{self.name}": seed must be an integer >= 0; got {seed!r}.')
        f = self._check_factors(factors, None, "factors")
        cond = self._encode(f)
        n = len(f)
        shape = self.image_shape_
        out = np.empty((n, *shape), dtype=np.float32)
        if n == 0:
            return out
        noise = row_noise(int(seed), n, shape, stream=0)
        chunk = int(self.sample_batch)
        dev = self.device_
        was_training = net.training
        net.eval()
        try:
            with torch.inference_mode(), autocast(dev, self.precision):
                for lo in range(0, n, chunk):
                    hi = min(n, lo + chunk)
                    xb = torch.zeros((chunk, *shape), dtype=torch.float32)
                    xb[:hi - lo] = torch.from_numpy(noise[lo:hi])
                    cb = torch.zeros((chunk, cond.shape[1]), dtype=torch.float32)
                    cb[:hi - lo] = torch.from_numpy(cond[lo:hi])
                    x = self._sample(net, xb.to(dev), cb.to(dev))
                    img = ((x[:hi - lo].float().clamp(-1.0, 1.0) + 1.0) / 2.0).clamp(0.0, 1.0)
                    out[lo:hi] = img.to("cpu").numpy()
        finally:
            net.train(was_training)
        return out

    def _predict(self, net: nn.Module, x: torch.Tensor, tau: float,
                 cond: torch.Tensor) -> torch.Tensor:
        """The network's prediction at noise level ``tau`` for every row, guided."""
        b = x.shape[0]
        t = torch.full((b,), float(tau), device=x.device)
        w = float(self.guidance)
        if w == 1.0:
            return net(x, t, cond).float()
        drop = torch.cat([torch.zeros(b, dtype=torch.bool, device=x.device),
                          torch.ones(b, dtype=torch.bool, device=x.device)])
        both = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, cond]), drop).float()
        c, u = both[:b], both[b:]
        return u + w * (c - u)

    def _sample(self, net: nn.Module, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """From the initial noise ``x`` to clean images in [-1, 1] (float32)."""
        steps = int(self.sample_steps)
        if self.objective == "eps":
            timesteps = int(self.timesteps)
            alpha_bar = _alpha_bar(self.schedule, timesteps)
            # "leading" spacing (DDIM's): 0, T/S, ..., T - T/S; the last timesteps of the
            # cosine schedule have alpha_bar ~ 1e-9, where an x0 derived from a noise
            # prediction is ill-posed (its error is amplified 1/sqrt(alpha_bar) times).
            ts = ((np.arange(steps, dtype=np.int64) * timesteps) // steps)[::-1]
            for k, t in enumerate(ts):
                a = float(alpha_bar[t])
                a_prev = float(alpha_bar[ts[k + 1]]) if k + 1 < len(ts) else 1.0
                eps = self._predict(net, x, (float(t) + 1.0) / timesteps, cond)
                x0 = ((x - math.sqrt(1.0 - a) * eps) / math.sqrt(a)).clamp(-1.0, 1.0)
                eps = (x - math.sqrt(a) * x0) / math.sqrt(1.0 - a)
                x = math.sqrt(a_prev) * x0 + math.sqrt(1.0 - a_prev) * eps
            return x
        grid = np.linspace(1.0, 0.0, steps + 1)
        for k in range(steps):
            t, t_next = float(grid[k]), float(grid[k + 1])
            h = t_next - t
            v = self._predict(net, x, t, cond)
            if self.sampler == "euler" or k == steps - 1:  # Heun's last step: Euler (EDM)
                x = x + h * v
            else:
                v_next = self._predict(net, x + h * v, t_next, cond)
                x = x + h * 0.5 * (v + v_next)
        return x

    # -- save and load ---------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the parameters, image shape, factor encoding, the weights ``generate``
        uses (the average when ``ema > 0``) and the training facts with ``torch.save``
        (plain containers and tensors only: :meth:`load` reads them with
        ``weights_only=True``)."""
        net = self._fitted()
        params = self.get_params()
        enc = self.encoding_
        torch.save({
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "plugin": self.name,
            "params": params,
            "image_shape": list(self.image_shape_),
            "n_factors": int(self.n_factors_),
            "factor_encoding": {"low": list(enc["low"]), "high": list(enc["high"]),
                                "values": [None if v is None else list(v)
                                           for v in enc["values"]],
                                "names": None if enc["names"] is None else list(enc["names"])},
            "state_dict": {k: v.detach().to("cpu") for k, v in net.state_dict().items()},
            "training": self.training_summary(),
            "history": list(getattr(self, "history_", [])),
        }, Path(path))

    @classmethod
    def load(cls, path: Path) -> Diffusion:
        """Read what :meth:`save` wrote, with ``torch.load(weights_only=True)``: a file of
        another kind, a corrupt one or one holding arbitrary pickled objects is a clear
        :class:`DataError`. The model goes to its ``device`` parameter's device ("cuda"
        falls back to the CPU when there is no GPU here) and generates exactly what the
        saved one did."""
        path = Path(path)
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"cannot load {path}: not a zsbench diffusion model file, or it "
                            f"holds objects that safe loading (weights_only) refuses "
                            f"({first}).") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(f"cannot load {path}: not a zsbench diffusion model file "
                            f'(expected format "{FORMAT}").')
        if data.get("format_version") != FORMAT_VERSION:
            raise DataError(f"cannot load {path}: file format version "
                            f"{data.get('format_version')!r}, this zsbench reads {FORMAT_VERSION}.")
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
            shape = tuple(int(v) for v in data["image_shape"])
            enc = data["factor_encoding"]
            encoding = {"low": [float(v) for v in enc["low"]],
                        "high": [float(v) for v in enc["high"]],
                        "values": [None if v is None else [float(u) for u in v]
                                   for v in enc["values"]],
                        "names": None if enc.get("names") is None else list(enc["names"])}
            n_factors = int(data["n_factors"])
            if len(shape) != 3 or len(encoding["values"]) != n_factors:
                raise ValueError("inconsistent shapes")
            net = model._build(shape, cls._cond_dim(encoding), seed=0)  # type: ignore[arg-type]
            net.load_state_dict(data["state_dict"])
        except DataError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, PluginParameterError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise DataError(f"cannot load {path}: a corrupt zsbench diffusion model file "
                            f"({type(exc).__name__}: {first}).") from None
        dev = resolve_device("auto" if model.device == "cuda" and not torch.cuda.is_available()
                             else model.device, model.name)
        net.to(dev).eval()
        model.module_ = net
        model.image_shape_ = shape  # type: ignore[assignment]
        model.n_factors_ = n_factors
        model.encoding_ = encoding
        model.device_ = dev
        model.history_ = list(data.get("history", []))
        model.training_ = dict(data.get("training", {}))
        return model
