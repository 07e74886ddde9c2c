"""The one training loop shared by every torch model (it knows no concrete model).

A model builds its ``torch.nn.Module`` (with :func:`init_module`, so the initial weights come
from the seed alone) and a *loss function* that returns one loss per sample, then calls
:func:`train`. The loop owns everything else: the device, seeding, shuffling, mini-batches,
per-sample weights, the optimiser and its learning-rate decay, validation, early stopping,
the NaN guard and the progress bar.

Seeding: ``seed`` is split with :class:`numpy.random.SeedSequence` into independent streams
for the initial weights, the shuffling, the training noise and the validation noise. Each
stream drives an explicit :class:`torch.Generator`; the global torch RNG is never read nor
changed (weights are built under :func:`torch.random.fork_rng`). On CPU the same seed gives
bit-identical weights; on CUDA the loop asks cuDNN for deterministic kernels while it runs,
but some CUDA kernels (e.g. transposed-convolution backward) may still differ in the last bits.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from zsbench.errors import DataError, TrainingError
from zsbench.seeds import derive_seed
from zsbench.torch_env import torch_threads


Device = Literal["auto", "cpu", "cuda"]
OptimizerName = Literal["adam", "adamw", "rmsprop"]
Precision = Literal["fp32", "bf16"]

logger = logging.getLogger("zsbench.training")


@dataclass(frozen=True)
class LossContext:
    """What a loss function knows besides the module and the batch.

    ``generator``: a :class:`torch.Generator` on the training device, the only source of
    randomness the loss may use (e.g. the reparameterisation noise: ``torch.randn(shape,
    generator=ctx.generator, device=batch.device)``). ``n_train``: the number of training
    images N (a minibatch estimator of a total-correlation term needs the dataset size).
    ``epoch`` counts from 1 and ``epochs`` is the number asked for; ``step`` counts training
    steps from 0 over the whole run and ``steps_per_epoch`` is ceil(N / batch_size), so an
    annealing schedule can read ``step / (epochs * steps_per_epoch)``. ``training`` is False
    for the validation loss (the module is then in ``eval()`` mode under ``torch.no_grad``,
    and ``step`` is the number of steps taken so far). ``index`` (training steps only, else
    None) holds the rows of ``images`` in the batch, ``[B]`` on the device, so a loss can
    read per-sample side data it holds itself (e.g. the true factors of a conditional
    decoder)."""

    generator: torch.Generator
    n_train: int
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    training: bool = True
    index: torch.Tensor | None = None


LossFn = Callable[[torch.nn.Module, torch.Tensor, LossContext], torch.Tensor]
"""``loss_fn(module, batch [B, C, H, W], ctx: LossContext) -> per-sample losses [B]``.

``batch`` is on the training device. Return one loss per sample, unreduced: the loop
multiplies each by its sample's weight (when :func:`train` was given ``weights``) and takes
the batch mean itself. The module is in ``train()`` mode for training steps and in
``eval()`` mode (under ``torch.no_grad``) for the validation loss."""

CHECK_EVERY = 25
"""Steps between two reads of the loss on the host (the NaN guard and the progress bar):
the losses stay on the device in between, so a GPU is not synchronised at every step."""

EVAL_BATCH = 256
"""Batch size for validation and inference passes (no gradients, so larger is cheaper)."""


def autocast(dev: torch.device, precision: Precision) -> contextlib.AbstractContextManager:
    """The forward passes' precision: ``"fp32"`` changes nothing (bit-identical to no
    context at all); ``"bf16"`` runs them under ``torch.autocast`` in bfloat16 on ``dev``
    (CPU or CUDA; weights, optimiser state and losses stay float32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16)
    raise DataError(f'unknown precision "{precision}"; use "fp32" or "bf16".')


def native_bf16(dev: torch.device) -> bool:
    """Whether ``dev`` computes bfloat16 in hardware: CUDA with bf16 support, or a CPU whose
    oneDNN kernels have bf16 instructions (AVX-512 BF16/AMX). Elsewhere autocast emulates
    bf16, and is *slower* than fp32 (on a 2-core AVX2 EPYC: 10x slower on the E3 body)."""
    if dev.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # not exposed by this build: assume it is
        return True


def resolve_device(device: Device, label: str = "model") -> torch.device:
    """``"auto"``: CUDA when ``torch.cuda.is_available()``, else the CPU. ``"cuda"`` without
    CUDA is a :class:`TrainingError` naming ``label``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(label, 'device = "cuda" was asked for but torch sees no CUDA GPU.',
                                'use device = "auto" (CUDA when present, CPU otherwise) or "cpu".')
        return torch.device("cuda")
    if device == "cpu":
        return torch.device("cpu")
    raise TrainingError(label, f"unknown device {device!r}.", 'use "auto", "cpu" or "cuda".')


def init_module(factory: Callable[[], torch.nn.Module], seed: int) -> torch.nn.Module:
    """Call ``factory()`` with the torch RNG seeded from ``seed`` (stream "init") inside
    :func:`torch.random.fork_rng`, so the initial weights depend on ``seed`` alone and the
    caller's global RNG state is left exactly as it was. Returns the module (on the CPU)."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(derive_seed(seed, "init"))  # also seeds every CUDA device
        return factory()


@dataclass
class EpochRecord:
    """One epoch: mean (weighted) training loss, validation loss (None without validation),
    learning rate used and seconds taken."""

    epoch: int
    train_loss: float
    val_loss: float | None
    lr: float
    seconds: float


@dataclass
class TrainResult:
    """What :func:`train` reports. Epochs count from 1 (0: no epoch ran). ``best_epoch`` has
    the lowest monitored loss (``monitor``: the validation loss when there was validation
    data, else the training loss); ``weights_epoch`` is the epoch whose weights the module
    holds at the end: the last one, unless early stopping restored the best one."""

    epochs_run: int
    best_epoch: int
    weights_epoch: int
    stopped_early: bool
    device: str
    seconds: float
    steps: int
    monitor: Literal["validation", "train"]
    history: list[EpochRecord] = field(default_factory=list)

    @property
    def final_train_loss(self) -> float | None:
        return self.history[-1].train_loss if self.history else None

    @property
    def final_val_loss(self) -> float | None:
        return self.history[-1].val_loss if self.history else None

    @property
    def best_loss(self) -> float | None:
        """The monitored loss at ``best_epoch``."""
        if not self.history or self.best_epoch == 0:
            return None
        rec = self.history[self.best_epoch - 1]
        return rec.val_loss if self.monitor == "validation" else rec.train_loss

    def summary(self) -> dict[str, object]:
        """Plain-typed facts for a manifest (no history)."""
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "weights_epoch": self.weights_epoch,
            "final_train_loss": self.final_train_loss,
            "final_val_loss": self.final_val_loss,
            "best_loss": self.best_loss,
            "monitor": self.monitor,
            "stopped_early": self.stopped_early,
            "device": self.device,
            "seconds": round(self.seconds, 3),
            "steps": self.steps,
        }


def train(
    module: torch.nn.Module,
    loss_fn: LossFn,
    images: np.ndarray,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    optimizer: OptimizerName = "adam",
    lr: float = 1e-3,
    lr_decay: float = 1.0,
    weights: np.ndarray | None = None,
    validation: np.ndarray | None = None,
    early_stopping: int = 0,
    device: Device = "auto",
    progress: bool = True,
    label: str = "model",
    num_threads: int | None = None,
    precision: Precision = "fp32",
    after_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train ``module`` in place by mini-batch gradient descent on ``loss_fn``.

    Args:
        module: the network, freshly built (see :func:`init_module`); moved to the device.
        loss_fn: ``loss_fn(module, batch [B, C, H, W], ctx)`` -> per-sample losses ``[B]``
            (see :data:`LossFn` and :class:`LossContext`).
        images: training images, float32 ``[N, C, H, W]`` in [0, 1] (kept on the CPU and
            moved to the device once when they fit comfortably, else batch by batch).
        seed: seeds the shuffling and the training/validation noise (``ctx.generator``;
            not the initial weights: those come from :func:`init_module`). The global
            torch, numpy and random states are neither read nor changed.
        epochs: passes over ``images``; 0 is allowed and returns the module untrained.
        batch_size: samples per step; the last batch of an epoch may be smaller.
        optimizer: "adam", "adamw" or "rmsprop" (torch defaults besides ``lr``).
        lr: learning rate of the first epoch.
        lr_decay: exponential decay: epoch ``e`` (from 1) uses ``lr * lr_decay ** (e - 1)``.
        weights: ``[N]`` non-negative per-sample weights, each multiplying that sample's loss
            before the batch mean; None means all ones.
        validation: ``[M, C, H, W]`` images whose (unweighted) mean loss is computed after
            every epoch, with noise drawn from a generator reset each epoch so that epochs
            compare on the same draws.
        early_stopping: patience in epochs: stop when the monitored loss (validation loss,
            or the training loss when ``validation`` is None) has not improved for that many
            epochs, and restore the weights of the best epoch. 0 turns it off.
        device: "auto" (CUDA when present, CPU otherwise), "cpu" or "cuda".
        progress: show a tqdm bar on stderr (steps, epoch, loss); False prints nothing.
        label: the model's name in errors and on the progress bar.
        num_threads: CPU threads torch may use while training (restored afterwards); None
            keeps torch's setting. The small networks trained here gain little from a
            second thread, and lose a lot when another process holds the other cores.
        precision: "fp32" (default) or "bf16": forward passes and losses under bfloat16
            autocast (see :func:`autocast`), on the CPU as on CUDA.

    Returns:
        A :class:`TrainResult`; ``module`` is left on the device in ``eval()`` mode.

    Raises:
        TrainingError: the loss became NaN or infinite (names the epoch and step), or the
            device cannot be used.
        DataError: inconsistent arguments (shapes, weights, sizes).
    """
    start = time.perf_counter()
    dev = resolve_device(device, label)
    autocast(dev, precision)  # validates the name before any work
    if precision == "bf16" and not native_bf16(dev):
        logger.warning('model "%s": precision "bf16" on a %s without bfloat16 instructions '
                       'is emulated and usually several times slower than "fp32"; '
                       'use "fp32" here.', label, dev.type.upper())
    x_cpu = _as_tensor(images, "images", label)
    n = x_cpu.shape[0]
    if n == 0:
        raise DataError(f'model "{label}": no training images (got an empty array).')
    if epochs < 0:
        raise DataError(f'model "{label}": epochs must be >= 0; got {epochs}.')
    if batch_size < 1:
        raise DataError(f'model "{label}": batch_size must be >= 1; got {batch_size}.')
    if early_stopping < 0:
        raise DataError(f'model "{label}": early_stopping must be >= 0; got {early_stopping}.')
    if not (lr > 0 and math.isfinite(lr)):
        raise DataError(f'model "{label}": lr must be a positive number; got {lr}.')
    if not (lr_decay > 0 and math.isfinite(lr_decay)):
        raise DataError(f'model "{label}": lr_decay must be a positive number; got {lr_decay}.')
    w_cpu = None if weights is None else _check_weights(weights, n, label)
    v_cpu = None
    if validation is not None:
        v_cpu = _as_tensor(validation, "validation", label)
        if v_cpu.shape[1:] != x_cpu.shape[1:]:
            raise DataError(f'model "{label}": validation images are {tuple(v_cpu.shape[1:])} '
                            f"but training images are {tuple(x_cpu.shape[1:])} (C, H, W).")
        if v_cpu.shape[0] == 0:
            v_cpu = None
    monitor: Literal["validation", "train"] = "validation" if v_cpu is not None else "train"

    module.to(dev)
    result = TrainResult(epochs_run=0, best_epoch=0, weights_epoch=0, stopped_early=False,
                         device=str(dev), seconds=0.0, steps=0, monitor=monitor)
    if epochs == 0:
        module.eval()
        result.seconds = time.perf_counter() - start
        return result

    # Data: move everything to the device once when it is small, else batch by batch.
    on_device = dev.type == "cpu" or x_cpu.element_size() * x_cpu.nelement() <= 2**30
    x_src = x_cpu.to(dev) if on_device else x_cpu
    w_src = None if w_cpu is None else w_cpu.to(dev)
    shuffle_gen = torch.Generator(device="cpu").manual_seed(derive_seed(seed, "shuffle"))
    noise_gen = torch.Generator(device=dev).manual_seed(derive_seed(seed, "noise"))
    val_seed = derive_seed(seed, "validation")

    opt = _make_optimizer(optimizer, module.parameters(), lr)
    steps_per_epoch = math.ceil(n / batch_size)
    best_loss = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    bad_epochs = 0
    bar = tqdm(total=epochs * steps_per_epoch, desc=label, unit="step", file=sys.stderr,
               disable=not progress, leave=False, dynamic_ncols=True,
               mininterval=0.5 if sys.stderr.isatty() else 30.0)
    try:
        with _deterministic(dev), torch_threads(num_threads):
            for epoch in range(1, epochs + 1):
                t0 = time.perf_counter()
                epoch_lr = lr * lr_decay ** (epoch - 1)
                for group in opt.param_groups:
                    group["lr"] = epoch_lr
                module.train()
                losses = torch.zeros(steps_per_epoch, device=dev)
                order = torch.randperm(n, generator=shuffle_gen)
                order_dev = order.to(dev)
                checked = 0
                for step in range(steps_per_epoch):
                    lo, hi = step * batch_size, (step + 1) * batch_size
                    idx = order_dev[lo:hi]
                    if on_device:
                        xb = x_src[idx]
                    else:
                        xb = x_src[order[lo:hi]].to(dev, non_blocking=True)
                    ctx = LossContext(noise_gen, n, epoch, epochs, result.steps + step,
                                      steps_per_epoch, index=idx)
                    with autocast(dev, precision):
                        per_sample = loss_fn(module, xb, ctx)
                    if precision != "fp32":
                        per_sample = per_sample.float()
                    if per_sample.shape != (xb.shape[0],):
                        raise TrainingError(
                            label, f"the loss function returned shape {tuple(per_sample.shape)} "
                            f"for a batch of {xb.shape[0]}; it must return one loss per sample.",
                            "return a tensor of shape [B] (no reduction over the batch).")
                    if w_src is not None:
                        per_sample = per_sample * w_src[idx]
                    loss = per_sample.mean()
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    losses[step] = loss.detach()
                    if (step + 1) % CHECK_EVERY == 0 or step + 1 == steps_per_epoch:
                        _guard(losses, checked, step + 1, epoch, label)
                        bar.update(step + 1 - checked)
                        checked = step + 1
                        if progress:
                            bar.set_postfix_str(
                                f"epoch {epoch}/{epochs} loss {float(losses[:checked].mean()):.4g}",
                                refresh=False)
                    opt.step()
                    if after_step is not None:
                        with torch.no_grad():
                            after_step(result.steps + step + 1)
                        module.train()
                # Weighted mean over the epoch's steps (each step is a batch mean).
                sizes = torch.full((steps_per_epoch,), float(batch_size), device=dev)
                sizes[-1] = n - batch_size * (steps_per_epoch - 1)
                train_loss = float((losses * sizes).sum() / n)
                val_loss = None
                if v_cpu is not None:
                    val_ctx = LossContext(torch.Generator(device=dev).manual_seed(val_seed), n,
                                          epoch, epochs, result.steps + steps_per_epoch,
                                          steps_per_epoch, training=False)
                    val_loss = _validation_loss(module, loss_fn, v_cpu, dev, val_ctx, label,
                                                precision)
                result.history.append(EpochRecord(epoch, train_loss, val_loss, epoch_lr,
                                                  time.perf_counter() - t0))
                result.epochs_run = epoch
                result.steps += steps_per_epoch
                if progress:
                    tail = f" val {val_loss:.4g}" if val_loss is not None else ""
                    bar.set_postfix_str(f"epoch {epoch}/{epochs} loss {train_loss:.4g}{tail}")
                monitored = val_loss if val_loss is not None else train_loss
                if monitored < best_loss:
                    best_loss = monitored
                    result.best_epoch = epoch
                    bad_epochs = 0
                    if early_stopping > 0:
                        best_state = copy.deepcopy(module.state_dict())
                else:
                    bad_epochs += 1
                    if early_stopping > 0 and bad_epochs >= early_stopping:
                        result.stopped_early = epoch < epochs
                        break
    finally:
        bar.close()
    result.weights_epoch = result.epochs_run
    if early_stopping > 0 and best_state is not None and result.best_epoch != result.epochs_run:
        module.load_state_dict(best_state)
        result.weights_epoch = result.best_epoch
    module.eval()
    result.seconds = time.perf_counter() - start
    return result


ROW_BATCH = 64
"""Rows per network evaluation in :func:`rowwise_batched`: every batch is padded to this."""


def monitor_hook(monitor: Callable[[int, Any], None] | None, model: Any,
                 every: int) -> Callable[[int], None] | None:
    """An ``after_step`` for :func:`train` that calls ``monitor(step, model)`` every
    ``every`` steps (see :data:`zsbench.plugin.Monitor`); None when there is no monitor or
    ``every`` is 0. A model that needs its own ``after_step`` too (an average of the
    weights) calls this one from it."""
    if monitor is None or not every:
        return None

    def hook(step: int) -> None:
        if step % every == 0:
            monitor(step, model)

    return hook


def batched(module: torch.nn.Module, fn: Callable[[torch.Tensor], torch.Tensor],
            data: np.ndarray, device: torch.device, batch_size: int = EVAL_BATCH,
            precision: Precision = "fp32") -> np.ndarray:
    """Apply ``fn`` (a method of ``module``) to ``data [N, ...]`` in batches on ``device``,
    in ``eval()`` mode under ``torch.inference_mode`` (and the ``precision``'s autocast);
    returns the concatenated float32 numpy result ``[N, ...]`` on the CPU."""
    module.eval()
    x = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
    out: list[torch.Tensor] = []
    with torch.inference_mode(), autocast(device, precision):
        for i in range(0, x.shape[0], batch_size):
            out.append(fn(x[i:i + batch_size].to(device, non_blocking=True)).float())
        if not out:
            return fn(x[:0].to(device)).to("cpu", torch.float32).numpy()
        # one transfer (and one synchronisation) at the end, not one per batch
        return torch.cat(out).to("cpu", torch.float32).numpy()


def rowwise_batched(module: torch.nn.Module, fn: Callable[[torch.Tensor], torch.Tensor],
                    data: np.ndarray, device: torch.device,
                    batch_size: int = ROW_BATCH) -> np.ndarray:
    """:func:`zsbench.training.batched` with every batch padded (with zero rows) to exactly
    ``batch_size`` rows, so that row ``i`` of the result does not depend on how many rows
    ``data`` has: ``rowwise_batched(..., data[:k], ...)`` is bit-for-bit the first ``k``
    rows of ``rowwise_batched(..., data, ...)``. (Plain batching does not give that: the
    CPU matrix kernels take other code paths, with another order of summation, for a batch
    of a few rows than for a larger one, which changes the last bits.)"""
    x = np.ascontiguousarray(data, dtype=np.float32)
    n = int(x.shape[0])
    if n == 0:
        return batched(module, fn, x, device)
    pad = (-n) % batch_size
    if pad:
        x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), dtype=np.float32)])
    out = batched(module, fn, x, device, batch_size=batch_size)
    return np.ascontiguousarray(out[:n]) if pad else out


def _as_tensor(images: np.ndarray, what: str, label: str) -> torch.Tensor:
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise DataError(f'model "{label}": {what} must be [N, C, H, W]; got shape {arr.shape}.')
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def _check_weights(weights: np.ndarray, n: int, label: str) -> torch.Tensor:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise DataError(f'model "{label}": weights must have shape [{n}] (one per training '
                        f"image); got {w.shape}.")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DataError(f'model "{label}": weights must be finite and non-negative.')
    if not np.any(w > 0):
        raise DataError(f'model "{label}": every weight is 0, so nothing would be learned.')
    return torch.from_numpy(w.astype(np.float32))


def _make_optimizer(name: str, params: Iterator[torch.nn.Parameter],
                    lr: float) -> torch.optim.Optimizer:
    # The fused Adam kernel is much cheaper per step than the per-parameter loop for the
    # small networks trained here, on CPU and CUDA alike (older torch: the default Adam).
    plist = list(params)
    if name == "adam":
        try:
            return torch.optim.Adam(plist, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):
            return torch.optim.Adam(plist, lr=lr)
    if name == "adamw":  # torch defaults besides lr (weight_decay 0.01)
        try:
            return torch.optim.AdamW(plist, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):
            return torch.optim.AdamW(plist, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(plist, lr=lr, foreach=True)
    raise DataError(f'unknown optimizer "{name}"; use "adam", "adamw" or "rmsprop".')


def _guard(losses: torch.Tensor, lo: int, hi: int, epoch: int, label: str) -> None:
    window = losses[lo:hi]
    finite = torch.isfinite(window)
    if not bool(finite.all()):
        step = lo + int(torch.nonzero(~finite)[0, 0]) + 1
        raise TrainingError(
            label,
            f"the loss became {_kind(float(window[step - lo - 1]))} at epoch {epoch}, step {step}.",
            "lower lr, check the images are in [0, 1] and the per-sample weights are finite, "
            "or lower the weights of the loss's terms.",
        )


def _kind(value: float) -> str:
    return "NaN" if math.isnan(value) else "infinite"


def _validation_loss(module: torch.nn.Module, loss_fn: LossFn, v_cpu: torch.Tensor,
                     dev: torch.device, ctx: LossContext, label: str,
                     precision: Precision = "fp32") -> float:
    module.eval()
    total = torch.zeros((), device=dev, dtype=torch.float64)
    with torch.inference_mode(), autocast(dev, precision):
        for i in range(0, v_cpu.shape[0], EVAL_BATCH):
            total += loss_fn(module, v_cpu[i:i + EVAL_BATCH].to(dev), ctx).sum(dtype=torch.float64)
    value = float(total) / v_cpu.shape[0]
    if not math.isfinite(value):
        raise TrainingError(label, f"the validation loss became {_kind(value)} at epoch "
                            f"{ctx.epoch}.", "lower lr, or the weights of the loss's terms.")
    return value


@contextlib.contextmanager
def _deterministic(dev: torch.device) -> Iterator[None]:
    """Ask cuDNN for deterministic kernels while training on CUDA; restore afterwards."""
    if dev.type != "cuda":
        yield
        return
    with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True):
        yield


