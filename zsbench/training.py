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
from typing import Any, Literal, Union

import numpy as np
import torch
from tqdm import tqdm

from zsbench.errors import DataError, TrainingError
from zsbench.inference import (
    EVAL_BATCH,
    ROW_BATCH,
    Arrays,
    Device,
    Precision,
    as_arrays,
    autocast,
    batched,
    loaded_device,
    native_bf16,
    resolve_device,
    rowwise_batched,
)
from zsbench.seeds import derive_seed
from zsbench.torch_env import torch_threads

__all__ = [
    "EVAL_BATCH", "ROW_BATCH", "Device", "EpochRecord", "LossContext", "LossFn",
    "OptimizerName", "Precision", "TrainResult", "autocast", "batched", "init_module",
    "loaded_device", "monitor_hook", "native_bf16", "resolve_device", "rowwise_batched",
    "train",
]

OptimizerName = Literal["adam", "adamw", "rmsprop"]

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
    None) holds the rows of ``images`` in the batch, ``[B]`` on the device, (per-sample side
    data is best passed to :func:`train` as a row-aligned array, e.g. ``(images,
    factors)``: the loss then gets the batch's rows of each, validation included)."""

    generator: torch.Generator
    n_train: int
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    training: bool = True
    index: torch.Tensor | None = None


Batch = Union[torch.Tensor, tuple[torch.Tensor, ...]]
"""What a loss function gets: the images ``[B, C, H, W]`` when :func:`train` was given
one array, else the tuple of the same ``B`` rows of each row-aligned array it was given
(e.g. ``(images [B, C, H, W], factors [B, F])``)."""

LossFn = Callable[[torch.nn.Module, Batch, LossContext], torch.Tensor]
"""``loss_fn(module, batch, ctx: LossContext) -> per-sample losses [B]``.

``batch`` (see :data:`Batch`) is on the training device. Return one loss per sample,
unreduced: the loop multiplies each by its sample's weight (when :func:`train` was given
``weights``) and takes the batch mean itself. The module is in ``train()`` mode for
training steps and in ``eval()`` mode (under ``torch.no_grad``) for the validation loss."""

CHECK_EVERY = 25
"""Steps between two reads of the loss on the host (the NaN guard and the progress bar):
the losses stay on the device in between, so a GPU is not synchronised at every step."""

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
    images: Arrays,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    optimizer: OptimizerName = "adam",
    lr: float = 1e-3,
    lr_decay: float = 1.0,
    weight_decay: float | None = None,
    weights: np.ndarray | None = None,
    validation: Arrays | None = None,
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
        loss_fn: ``loss_fn(module, batch, ctx)`` -> per-sample losses ``[B]`` (see
            :data:`LossFn`, :data:`Batch` and :class:`LossContext`).
        images: training images, float32 ``[N, C, H, W]`` in [0, 1], or a tuple of
            row-aligned arrays, the images first (``(images, factors [N, F])``, each as
            float32): the loss then gets the same rows of each. Moved to the device once
            when they fit comfortably, else batch by batch.
        seed: seeds the shuffling and the training/validation noise (``ctx.generator``;
            the initial weights come from :func:`init_module`); no global state is used.
        epochs: passes over ``images``; 0 is allowed and returns the module untrained.
        batch_size: samples per step; the last batch of an epoch may be smaller.
        optimizer: "adam", "adamw" or "rmsprop" (torch defaults besides ``lr`` and
            ``weight_decay``).
        lr: learning rate of the first epoch.
        lr_decay: exponential decay: epoch ``e`` (from 1) uses ``lr * lr_decay ** (e - 1)``.
        weight_decay: the optimiser's; None keeps torch's default (0.01 for "adamw", else 0).
        weights: ``[N]`` non-negative per-sample weights of the losses (None: all ones).
        validation: ``[M, C, H, W]`` images (or a tuple like ``images``): their
            (unweighted) mean loss after every epoch, noise from a generator reset each
            epoch (epochs compare on the same draws).
        early_stopping: patience in epochs (0: off): stop when the monitored loss (the
            validation's, else the training's) has not improved for that many epochs, and
            restore the weights of the best epoch.
        device: "auto" (CUDA when present, CPU otherwise), "cpu" or "cuda".
        progress: show a tqdm bar on stderr (steps, epoch, loss); False prints nothing.
        label: the model's name in errors and on the progress bar.
        num_threads: CPU threads torch may use while training (None: torch's setting).
        precision: "fp32" (default) or "bf16": forward passes and losses under bfloat16
            autocast (see :func:`autocast`), on the CPU as on CUDA.
        after_step: called as ``after_step(step)`` after every optimiser step (see
            :func:`monitor_hook`).

    Returns a :class:`TrainResult`; ``module`` is left on the device in ``eval()`` mode.
    Raises :class:`TrainingError` when the loss becomes NaN or infinite (naming the epoch
    and step) or the device cannot be used, :class:`DataError` for inconsistent arguments.
    """
    start = time.perf_counter()
    dev = resolve_device(device, label)
    x_cpu, w_cpu, v_cpu = _checked_inputs(
        dev, images, weights, validation, label, precision=precision, epochs=epochs,
        batch_size=batch_size, early_stopping=early_stopping, lr=lr, lr_decay=lr_decay,
        weight_decay=weight_decay)
    module.to(dev)
    result = TrainResult(epochs_run=0, best_epoch=0, weights_epoch=0, stopped_early=False,
                         device=str(dev), seconds=0.0, steps=0,
                         monitor="validation" if v_cpu is not None else "train")
    if epochs > 0:
        loop = _Loop(module, loss_fn, result, dev, x_cpu, w_cpu, v_cpu, seed=seed,
                     epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                     lr_decay=lr_decay, weight_decay=weight_decay, early_stopping=early_stopping,
                     progress=progress, label=label, precision=precision, after_step=after_step)
        loop.run(num_threads)
    module.eval()
    result.seconds = time.perf_counter() - start
    return result


def _checked_inputs(dev: torch.device, images: Arrays, weights: np.ndarray | None,
                    validation: Arrays | None, label: str, *, precision: Precision,
                    epochs: int, batch_size: int, early_stopping: int, lr: float,
                    lr_decay: float, weight_decay: float | None
                    ) -> tuple[_Rows, torch.Tensor | None, _Rows | None]:
    """:func:`train`'s arguments checked (a :class:`DataError` names the first problem), as
    float32 CPU tensors: the training rows (images ``[N, C, H, W]`` first), weights ``[N]``
    or None, the validation rows or None (also when M = 0). Warns when bf16 would be
    emulated."""
    autocast(dev, precision)  # validates the name before any work
    if precision == "bf16" and not native_bf16(dev):
        logger.warning('model "%s": precision "bf16" on a %s without bfloat16 instructions '
                       'is emulated and usually several times slower than "fp32"; '
                       'use "fp32" here.', label, dev.type.upper())
    x_cpu = _Rows.of(images, "images", label)
    n = x_cpu.n
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
    if weight_decay is not None and not (weight_decay >= 0 and math.isfinite(weight_decay)):
        raise DataError(f'model "{label}": weight_decay must be a number >= 0 (or None for '
                        f"the optimiser's default); got {weight_decay}.")
    w_cpu = None if weights is None else _check_weights(weights, n, label)
    if validation is None:
        return x_cpu, w_cpu, None
    v_cpu = _Rows.of(validation, "validation", label)
    if v_cpu.shapes() != x_cpu.shapes():
        what = ("validation images are {} but training images are {} (C, H, W)" if v_cpu.single
                else "validation rows are {} but training rows are {} (a row of each array)")
        shapes = [v_cpu.shapes(), x_cpu.shapes()] if not v_cpu.single else [
            v_cpu.shapes()[0], x_cpu.shapes()[0]]
        raise DataError(f'model "{label}": ' + what.format(*shapes) + ".")
    return x_cpu, w_cpu, (None if v_cpu.n == 0 else v_cpu)


@dataclass(frozen=True)
class _Rows:
    """Row-aligned float32 tensors (the images first) and whether :func:`train` was given
    one bare array (the loss then gets a tensor, else a tuple)."""

    tensors: tuple[torch.Tensor, ...]
    single: bool

    @classmethod
    def of(cls, data: Arrays, what: str, label: str) -> _Rows:
        try:
            arrays, single = as_arrays(data)
        except DataError as exc:
            raise DataError(f'model "{label}": {what}: {exc.message}') from None
        if arrays[0].ndim != 4:
            raise DataError(f'model "{label}": {what} must be [N, C, H, W]'
                            f"{'' if single else ' (the first array)'}; got shape "
                            f"{arrays[0].shape}.")
        return cls(tuple(torch.from_numpy(a) for a in arrays), single)

    @property
    def n(self) -> int:
        return int(self.tensors[0].shape[0])

    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in self.tensors)

    def shapes(self) -> list[tuple[int, ...]]:
        return [tuple(t.shape[1:]) for t in self.tensors]

    def to(self, dev: torch.device) -> _Rows:
        return _Rows(tuple(t.to(dev) for t in self.tensors), self.single)

    def take(self, rows: torch.Tensor | slice, dev: torch.device) -> Batch:
        """The ``rows`` of every tensor, on ``dev``: a tensor, or a tuple (see :data:`Batch`)."""
        out = tuple(t[rows].to(dev, non_blocking=True) for t in self.tensors)
        return out[0] if self.single else out


class _Loop:
    """The state :func:`train`'s loop carries across steps and epochs. From the checked CPU
    rows ``x_cpu`` (N rows), ``w_cpu [N]``, ``v_cpu`` (M rows), it moves the data to the
    device, seeds the generators, builds the optimiser and the progress bar, in that order."""

    def __init__(self, module: torch.nn.Module, loss_fn: LossFn, result: TrainResult,
                 dev: torch.device, x_cpu: _Rows, w_cpu: torch.Tensor | None,
                 v_cpu: _Rows | None, *, seed: int, epochs: int, batch_size: int,
                 optimizer: OptimizerName, lr: float, lr_decay: float,
                 weight_decay: float | None, early_stopping: int, progress: bool, label: str,
                 precision: Precision, after_step: Callable[[int], None] | None) -> None:
        self.module, self.loss_fn, self.result, self.dev = module, loss_fn, result, dev
        self.v_cpu, self.epochs, self.batch_size, self.lr, self.lr_decay = (
            v_cpu, epochs, batch_size, lr, lr_decay)
        self.early_stopping, self.progress, self.label = early_stopping, progress, label
        self.precision, self.after_step = precision, after_step
        self.best_loss, self.bad_epochs = math.inf, 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.n = x_cpu.n
        # Data: move everything to the device once when it is small, else batch by batch.
        self.on_device = dev.type == "cpu" or x_cpu.nbytes() <= 2**30
        self.x_src = x_cpu.to(dev) if self.on_device else x_cpu
        self.w_src = None if w_cpu is None else w_cpu.to(dev)
        self.shuffle_gen = torch.Generator(device="cpu").manual_seed(derive_seed(seed, "shuffle"))
        self.noise_gen = torch.Generator(device=dev).manual_seed(derive_seed(seed, "noise"))
        self.val_seed = derive_seed(seed, "validation")
        self.opt = _make_optimizer(optimizer, module.parameters(), lr, weight_decay)
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
            xb = self.x_src.take(idx if self.on_device else order[lo:hi], self.dev)
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

    def _batch_loss(self, xb: Batch, idx: torch.Tensor, epoch: int,
                    step: int) -> torch.Tensor:
        """The (weighted) mean loss, a scalar, of batch ``xb`` (rows ``idx [B]``) at step
        ``step`` (from 0) of the epoch."""
        ctx = LossContext(self.noise_gen, self.n, epoch, self.epochs, self.result.steps + step,
                          self.steps_per_epoch, index=idx)
        with autocast(self.dev, self.precision):
            per_sample = self.loss_fn(self.module, xb, ctx)
        if self.precision != "fp32":
            per_sample = per_sample.float()
        b = idx.shape[0]
        if per_sample.shape != (b,):
            raise TrainingError(
                self.label, f"the loss function returned shape {tuple(per_sample.shape)} "
                f"for a batch of {b}; it must return one loss per sample.",
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
        """The mean loss over the validation rows ``v_cpu`` in ``eval()`` mode, noise from a
        generator reset each epoch (so epochs compare on the same draws); None without."""
        if self.v_cpu is None:
            return None
        ctx = LossContext(torch.Generator(device=self.dev).manual_seed(self.val_seed), self.n,
                          epoch, self.epochs, self.result.steps + self.steps_per_epoch,
                          self.steps_per_epoch, training=False)
        self.module.eval()
        total = torch.zeros((), device=self.dev, dtype=torch.float64)
        with torch.inference_mode(), autocast(self.dev, self.precision):
            for i in range(0, self.v_cpu.n, EVAL_BATCH):
                batch = self.v_cpu.take(slice(i, i + EVAL_BATCH), self.dev)
                total += self.loss_fn(self.module, batch, ctx).sum(dtype=torch.float64)
        value = float(total) / self.v_cpu.n
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


def _make_optimizer(name: str, params: Iterator[torch.nn.Parameter], lr: float,
                    weight_decay: float | None = None) -> torch.optim.Optimizer:
    # The fused Adam kernel is much cheaper per step than the per-parameter loop for the
    # small networks trained here, on CPU and CUDA alike (older torch: the default Adam).
    plist = list(params)
    # torch defaults besides lr, and weight_decay when given (AdamW's default: 0.01)
    extra = {} if weight_decay is None else {"weight_decay": float(weight_decay)}
    if name in ("adam", "adamw"):
        adam = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        try:
            return adam(plist, lr=lr, fused=True, **extra)
        except (RuntimeError, TypeError, ValueError):
            return adam(plist, lr=lr, **extra)
    if name == "rmsprop":
        return torch.optim.RMSprop(plist, lr=lr, foreach=True, **extra)
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


