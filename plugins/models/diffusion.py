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
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from zsbench.configurable import Interval, Items, Options
from zsbench.plugin import Monitor
from zsbench.training import LossContext, LossFn, TrainResult, monitor_hook
from zsbench_plugins.models._conditional import ConditionalGenerator, FactorCode
from zsbench_plugins.models.unet import CondUNet

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


class Diffusion(ConditionalGenerator):
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

    **Factors.** The ``"space"`` code, as for ``cvae``: continuous factors scaled to [0, 1]
    by the space's bounds (by the training factors' range when ``fit`` gets no ``space``; a
    request beyond them gives inputs beyond [0, 1]); a discrete factor one-hot over its
    values (the nearest one), see :func:`~zsbench_plugins.models._conditional.code_spec`.

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

    Parameters (all keyword-only), besides the training parameters of every conditional
    generator (:class:`~zsbench_plugins.models._conditional.ConditionalGenerator`: epochs,
    batch_size, optimizer, lr, lr_decay, weight_decay, precision, device, progress,
    eval_every, sample_batch; ``lr`` = 1e-3 suits this small GroupNorm'd U-Net, with
    zero-initialised residual branches and the weight average smoothing the steps' noise,
    better than the 2e-4 of large image models):
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
    """

    name = "diffusion"
    checkpoint_format: ClassVar[str] = "zsbench.diffusion"
    checkpoint_versions: ClassVar[tuple[int, ...]] = (2,)
    """2: the shared factor code (``"code"``); version 1's own encoding is not read."""
    noise_shape: ClassVar[str] = "image"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "objective": [Options(("eps", "flow"))],
        "schedule": [Options(("cosine", "linear"))],
        "timesteps": [Interval(int, 2)],
        "sample_steps": [Interval(int, 1)],
        "sampler": [Options(("euler", "heun"))],
        "guidance": [Interval(float, 0, note="1 is the conditional model alone, larger "
                                              "values extrapolate, e.g. 2")],
        "cond_dropout": [Interval(float, 0, 1, closed="left", note="e.g. 0.1; 0: never "
                                                                    "dropped")],
        "ema": [Interval(float, 0, 1, closed="left", note="e.g. 0.999; 0 turns the average "
                                                           "off")],
        "channels": [Interval(int, 4, 1024)],
        "channel_mults": [Items(Interval(int, 1, 16), 1, 4, note="one width multiplier per "
                                "resolution level, e.g. [1, 2, 2]")],
        "patch_size": [Interval(int, 1, 8)],
    }

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
        self._check_params()

    def _check_params(self) -> None:
        """The declared constraints, and two across parameters."""
        self.validate_parameters()
        if self.objective == "eps" and self.sample_steps > self.timesteps:
            self._bad_param("sample_steps", f"is {self.sample_steps}, more than the "
                            f"{self.timesteps} timesteps of the \"eps\" objective.",
                            f"give at most timesteps = {self.timesteps} sampling steps.")
        if float(self.guidance) != 1.0 and float(self.cond_dropout) == 0.0:
            self._bad_param("guidance", f"is {self.guidance!r}, which needs the unconditional "
                            "prediction, but cond_dropout = 0 never trains it.",
                            "give cond_dropout > 0 (e.g. 0.1), or guidance = 1.")

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

    # -- the network and its training -----------------------------------------------------

    def _network(self, image_shape: tuple[int, int, int], code: FactorCode) -> CondUNet:
        return CondUNet(image_shape[0], code, channels=int(self.channels),
                        channel_mults=tuple(int(m) for m in self.channel_mults),
                        patch_size=int(self.patch_size))

    def _training_net(self, net: nn.Module, dev: torch.device, monitor: Monitor | None
                      ) -> tuple[nn.Module, Any]:
        """The moving average of the weights (when ``ema > 0``) is what ``generate`` uses;
        ``after_step`` updates it, then calls the monitor."""
        hook = monitor_hook(monitor, self, int(self.eval_every))
        if float(self.ema) <= 0:
            return net, hook
        average = copy.deepcopy(net).to(dev).eval()
        average.requires_grad_(False)
        decay = float(self.ema)
        avg_params = list(average.parameters())
        params = list(net.parameters())

        def after_step(step: int) -> None:
            d = min(decay, (1.0 + step) / (EMA_WARMUP + step))
            torch._foreach_lerp_(avg_params, [p.detach() for p in params], 1.0 - d)
            if hook is not None:
                hook(step)

        return average, after_step

    def _keep(self, net: nn.Module, image_shape: tuple[int, int, int],
              result: TrainResult) -> None:
        super()._keep(net, image_shape, result)
        self.training_["weights"] = "ema" if float(self.ema) > 0 else "trained"

    def _loss_fn(self, dev: torch.device) -> LossFn:
        """The per-sample loss: the MSE of the noise (eps) or velocity (flow) prediction at
        a noise level and noise drawn from the loop's generator."""
        objective = self.objective
        timesteps = int(self.timesteps)
        alpha_bar = torch.from_numpy(
            _alpha_bar(self.schedule, timesteps).astype(np.float32)).to(dev)
        p_drop = float(self.cond_dropout)

        def loss(module: nn.Module, batch: Any, ctx: LossContext) -> torch.Tensor:
            images, factors = batch
            g = ctx.generator
            b = images.shape[0]
            x0 = images * 2.0 - 1.0
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
            pred = module(xt, tau, factors, drop)
            return (pred.float() - target).pow(2).flatten(1).mean(1)

        return loss

    # -- generation ------------------------------------------------------------------------

    def _draw(self, net: nn.Module) -> Any:
        """From the initial noise and the factors of a chunk to images in [0, 1]."""
        def draw(noise: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
            x = self._sample(net, noise, factors)
            return ((x.float().clamp(-1.0, 1.0) + 1.0) / 2.0).clamp(0.0, 1.0)

        return draw

    def _predict(self, net: nn.Module, x: torch.Tensor, tau: float,
                 factors: torch.Tensor) -> torch.Tensor:
        """The network's prediction at noise level ``tau`` for every row, guided."""
        b = x.shape[0]
        t = torch.full((b,), float(tau), device=x.device)
        w = float(self.guidance)
        if w == 1.0:
            return net(x, t, factors).float()
        drop = torch.cat([torch.zeros(b, dtype=torch.bool, device=x.device),
                          torch.ones(b, dtype=torch.bool, device=x.device)])
        both = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([factors, factors]),
                   drop).float()
        c, u = both[:b], both[b:]
        return u + w * (c - u)

    def _sample(self, net: nn.Module, x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
        """From the initial noise ``x [B, C, H, W]`` for ``factors [B, F]`` to clean images
        in [-1, 1] (float32)."""
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
                eps = self._predict(net, x, (float(t) + 1.0) / timesteps, factors)
                x0 = ((x - math.sqrt(1.0 - a) * eps) / math.sqrt(a)).clamp(-1.0, 1.0)
                eps = (x - math.sqrt(a) * x0) / math.sqrt(1.0 - a)
                x = math.sqrt(a_prev) * x0 + math.sqrt(1.0 - a_prev) * eps
            return x
        grid = np.linspace(1.0, 0.0, steps + 1)
        for k in range(steps):
            t, t_next = float(grid[k]), float(grid[k + 1])
            h = t_next - t
            v = self._predict(net, x, t, factors)
            if self.sampler == "euler" or k == steps - 1:  # Heun's last step: Euler (EDM)
                x = x + h * v
            else:
                v_next = self._predict(net, x + h * v, t_next, factors)
                x = x + h * 0.5 * (v + v_next)
        return x
