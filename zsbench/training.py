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
    x_cpu, w_cpu, v_cpu = _checked_inputs(
        dev, images, weights, validation, label, precision=precision, epochs=epochs,
        batch_size=batch_size, early_stopping=early_stopping, lr=lr, lr_decay=lr_decay)
    module.to(dev)
    result = TrainResult(epochs_run=0, best_epoch=0, weights_epoch=0, stopped_early=False,
                         device=str(dev), seconds=0.0, steps=0,
                         monitor="validation" if v_cpu is not None else "train")
    if epochs > 0:
        loop = _Loop(module, loss_fn, result, dev, x_cpu, w_cpu, v_cpu, seed=seed,
                     epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                     lr_decay=lr_decay, early_stopping=early_stopping, progress=progress,
                     label=label, precision=precision, after_step=after_step)
        loop.run(num_threads)
    module.eval()
    result.seconds = time.perf_counter() - start
    return result


def _checked_inputs(dev: torch.device, images: np.ndarray, weights: np.ndarray | None,
                    validation: np.ndarray | None, label: str, *, precision: Precision,
                    epochs: int, batch_size: int, early_stopping: int, lr: float, lr_decay: float
                    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """:func:`train`'s arguments checked (a :class:`DataError` names the first problem), as
    float32 CPU tensors: images ``[N, C, H, W]``, weights ``[N]`` or None, validation
    images ``[M, C, H, W]`` or None (also when M = 0). Warns when bf16 would be emulated."""
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
    if validation is None:
        return x_cpu, w_cpu, None
    v_cpu = _as_tensor(validation, "validation", label)
    if v_cpu.shape[1:] != x_cpu.shape[1:]:
        raise DataError(f'model "{label}": validation images are {tuple(v_cpu.shape[1:])} '
                        f"but training images are {tuple(x_cpu.shape[1:])} (C, H, W).")
    return x_cpu, w_cpu, (None if v_cpu.shape[0] == 0 else v_cpu)


class _Loop:
    """The state :func:`train`'s loop carries across steps and epochs. From the checked CPU
    ``x_cpu [N, C, H, W]``, ``w_cpu [N]``, ``v_cpu [M, C, H, W]``, it moves the data to the
    device, seeds the generators, builds the optimiser and the progress bar, in that order."""

    def __init__(self, module: torch.nn.Module, loss_fn: LossFn, result: TrainResult,
                 dev: torch.device, x_cpu: torch.Tensor, w_cpu: torch.Tensor | None,
                 v_cpu: torch.Tensor | None, *, seed: int, epochs: int, batch_size: int,
                 optimizer: OptimizerName, lr: float, lr_decay: float, early_stopping: int,
                 progress: bool, label: str, precision: Precision,
                 after_step: Callable[[int], None] | None) -> None:
        self.module, self.loss_fn, self.result, self.dev = module, loss_fn, result, dev
        self.v_cpu, self.epochs, self.batch_size, self.lr, self.lr_decay = (
            v_cpu, epochs, batch_size, lr, lr_decay)
        self.early_stopping, self.progress, self.label = early_stopping, progress, label
        self.precision, self.after_step = precision, after_step
        self.best_loss, self.bad_epochs = math.inf, 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.n = x_cpu.shape[0]
        # Data: move everything to the device once when it is small, else batch by batch.
        self.on_device = dev.type == "cpu" or x_cpu.element_size() * x_cpu.nelement() <= 2**30
        self.x_src = x_cpu.to(dev) if self.on_device else x_cpu
        self.w_src = None if w_cpu is None else w_cpu.to(dev)
        self.shuffle_gen = torch.Generator(device="cpu").manual_seed(derive_seed(seed, "shuffle"))
        self.noise_gen = torch.Generator(device=dev).manual_seed(derive_seed(seed, "noise"))
        self.val_seed = derive_seed(seed, "validation")
        self.opt = _make_optimizer(optimizer, module.parameters(), lr)
        self.steps_per_epoch = math.ceil(self.n / batch_size)
        self.bar = tqdm(total=epochs * self.steps_per_epoch, desc=label, unit="step",
                        file=sys.stderr, disable=not progress, leave=False,
                        dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30.0)

    def run(self, num_threads: int | None) -> None:
        """Every epoch until the last or early stopping; then, if early stopping kept a
        better epoch's weights, restore them."""
        try:
            with _deterministic(self.dev), torch_threads(num_threads):
                for epoch in range(1, self.epochs + 1):
                    if self._epoch(epoch):
                        break
        finally:
            self.bar.close()
        result = self.result
        result.weights_epoch = result.epochs_run
        if (self.early_stopping > 0 and self.best_state is not None
                and result.best_epoch != result.epochs_run):
            self.module.load_state_dict(self.best_state)
            result.weights_epoch = result.best_epoch

    def _epoch(self, epoch: int) -> bool:
        """Epoch ``epoch`` (from 1): learning rate, training steps, validation loss, record;
        True when early stopping ends training after it."""
        t0 = time.perf_counter()
        epoch_lr = self.lr * self.lr_decay ** (epoch - 1)
        for group in self.opt.param_groups:
            group["lr"] = epoch_lr
        self.module.train()
        train_loss = self._epoch_loss(self._train_steps(epoch))
        val_loss = self._validation_loss(epoch)
        result = self.result
        result.history.append(EpochRecord(epoch, train_loss, val_loss, epoch_lr,
                                          time.perf_counter() - t0))
        result.epochs_run = epoch
        result.steps += self.steps_per_epoch
        if self.progress:
            tail = f" val {val_loss:.4g}" if val_loss is not None else ""
            self.bar.set_postfix_str(f"epoch {epoch}/{self.epochs} loss {train_loss:.4g}{tail}")
        return self._stops(epoch, val_loss if val_loss is not None else train_loss)

    def _train_steps(self, epoch: int) -> torch.Tensor:
        """One pass over the images in a fresh shuffled order; returns each step's
        (weighted) batch-mean loss ``[steps_per_epoch]``, on the device."""
        losses = torch.zeros(self.steps_per_epoch, device=self.dev)
        order = torch.randperm(self.n, generator=self.shuffle_gen)
        order_dev = order.to(self.dev)
        checked = 0
        for step in range(self.steps_per_epoch):
            lo, hi = step * self.batch_size, (step + 1) * self.batch_size
            idx = order_dev[lo:hi]
            if self.on_device:
                xb = self.x_src[idx]
            else:
                xb = self.x_src[order[lo:hi]].to(self.dev, non_blocking=True)
            loss = self._batch_loss(xb, idx, epoch, step)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            losses[step] = loss.detach()
            if (step + 1) % CHECK_EVERY == 0 or step + 1 == self.steps_per_epoch:
                checked = self._check_losses(losses, checked, step + 1, epoch)
            self.opt.step()
            if self.after_step is not None:
                with torch.no_grad():
                    self.after_step(self.result.steps + step + 1)
                self.module.train()
        return losses

    def _batch_loss(self, xb: torch.Tensor, idx: torch.Tensor, epoch: int,
                    step: int) -> torch.Tensor:
        """The (weighted) mean loss, a scalar, of batch ``xb [B, C, H, W]`` (rows ``idx
        [B]``) at step ``step`` (from 0) of the epoch."""
        ctx = LossContext(self.noise_gen, self.n, epoch, self.epochs, self.result.steps + step,
                          self.steps_per_epoch, index=idx)
        with autocast(self.dev, self.precision):
            per_sample = self.loss_fn(self.module, xb, ctx)
        if self.precision != "fp32":
            per_sample = per_sample.float()
        if per_sample.shape != (xb.shape[0],):
            raise TrainingError(
                self.label, f"the loss function returned shape {tuple(per_sample.shape)} "
                f"for a batch of {xb.shape[0]}; it must return one loss per sample.",
                "return a tensor of shape [B] (no reduction over the batch).")
        if self.w_src is not None:
            per_sample = per_sample * self.w_src[idx]
        return per_sample.mean()

    def _check_losses(self, losses: torch.Tensor, checked: int, done: int, epoch: int) -> int:
        """Read ``losses [steps_per_epoch]`` of steps ``checked`` to ``done`` on the host: the
        NaN guard and the progress bar. Returns ``done``, the new ``checked``."""
        window = losses[checked:done]
        finite = torch.isfinite(window)
        if not bool(finite.all()):
            step = checked + int(torch.nonzero(~finite)[0, 0]) + 1
            raise TrainingError(
                self.label, f"the loss became {_kind(float(window[step - checked - 1]))} at "
                f"epoch {epoch}, step {step}.",
                "lower lr, check the images are in [0, 1] and the per-sample weights are "
                "finite, or lower the weights of the loss's terms.")
        self.bar.update(done - checked)
        if self.progress:
            self.bar.set_postfix_str(
                f"epoch {epoch}/{self.epochs} loss {float(losses[:done].mean()):.4g}",
                refresh=False)
        return done

    def _epoch_loss(self, losses: torch.Tensor) -> float:
        """The mean loss over the epoch's samples: the batch means ``losses
        [steps_per_epoch]`` weighted by batch size (the last batch may be smaller)."""
        sizes = torch.full((self.steps_per_epoch,), float(self.batch_size), device=self.dev)
        sizes[-1] = self.n - self.batch_size * (self.steps_per_epoch - 1)
        return float((losses * sizes).sum() / self.n)

    def _validation_loss(self, epoch: int) -> float | None:
        """The mean loss over ``v_cpu [M, C, H, W]`` in ``eval()`` mode, noise from a
        generator reset each epoch (so epochs compare on the same draws); None without."""
        if self.v_cpu is None:
            return None
        ctx = LossContext(torch.Generator(device=self.dev).manual_seed(self.val_seed), self.n,
                          epoch, self.epochs, self.result.steps + self.steps_per_epoch,
                          self.steps_per_epoch, training=False)
        self.module.eval()
        total = torch.zeros((), device=self.dev, dtype=torch.float64)
        with torch.inference_mode(), autocast(self.dev, self.precision):
            for i in range(0, self.v_cpu.shape[0], EVAL_BATCH):
                batch = self.v_cpu[i:i + EVAL_BATCH].to(self.dev)
                total += self.loss_fn(self.module, batch, ctx).sum(dtype=torch.float64)
        value = float(total) / self.v_cpu.shape[0]
        if not math.isfinite(value):
            raise TrainingError(self.label, f"the validation loss became {_kind(value)} at "
                                f"epoch {epoch}.", "lower lr, or the weights of the loss's terms.")
        return value

    def _stops(self, epoch: int, monitored: float) -> bool:
        """Track the best epoch by the ``monitored`` loss (keeping its weights when early
        stopping is on); True when the patience is spent."""
        if monitored < self.best_loss:
            self.best_loss = monitored
            self.result.best_epoch = epoch
            self.bad_epochs = 0
            if self.early_stopping > 0:
                self.best_state = copy.deepcopy(self.module.state_dict())
            return False
        self.bad_epochs += 1
        if self.early_stopping > 0 and self.bad_epochs >= self.early_stopping:
            self.result.stopped_early = epoch < self.epochs
            return True
        return False

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
    if name in ("adam", "adamw"):  # torch defaults besides lr (AdamW: weight_decay 0.01)
        adam = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        try:
            return adam(plist, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):
            return adam(plist, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(plist, lr=lr, foreach=True)
    raise DataError(f'unknown optimizer "{name}"; use "adam", "adamw" or "rmsprop".')


def _kind(value: float) -> str:
    return "NaN" if math.isnan(value) else "infinite"


@contextlib.contextmanager
def _deterministic(dev: torch.device) -> Iterator[None]:
    """Ask cuDNN for deterministic kernels while training on CUDA; restore afterwards."""
    if dev.type != "cuda":
        yield
        return
    with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=True):
        yield


