"""Running a torch network outside the training loop: the device, the precision, and batched
inference over one or several row-aligned arrays (re-exported by :mod:`zsbench.training`,
where plugin authors import them from).

Several arrays travel together when a network takes more than one input (a conditional
generator's initial noise and requested factors): ``batched(net, fn, (noise, factors),
dev)`` calls ``fn(noise_batch, factors_batch)`` on the same rows of each.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from typing import Literal, Union

import numpy as np
import torch

from zsbench.errors import DataError, TrainingError

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["fp32", "bf16"]

Arrays = Union[np.ndarray, Sequence[np.ndarray]]
"""One array ``[N, ...]`` or a tuple of row-aligned arrays (the same ``N``)."""

EVAL_BATCH = 256
"""Batch size for validation and inference passes (no gradients, so larger is cheaper)."""

ROW_BATCH = 64
"""Rows per network evaluation in :func:`rowwise_batched`: every batch is padded to this."""


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


def loaded_device(device: Device, label: str = "model") -> torch.device:
    """The device a loaded checkpoint goes to: its ``device`` parameter's, except that
    ``"cuda"`` falls back to the CPU when this machine has no GPU."""
    if device == "cuda" and not torch.cuda.is_available():
        device = "auto"
    return resolve_device(device, label)


def as_arrays(data: Arrays) -> tuple[tuple[np.ndarray, ...], bool]:
    """``(arrays, single)``: ``data`` as a tuple of row-aligned contiguous float32 arrays
    (each at least 1-D), and whether it was one bare array. Raises :class:`DataError` for
    an empty tuple, non-numeric arrays or arrays of different lengths."""
    single = not isinstance(data, (tuple, list))
    raw = (data,) if single else tuple(data)
    if not raw:
        raise DataError("expected one array or a tuple of row-aligned arrays; got an empty tuple.")
    out = []
    for a in raw:
        arr = np.asarray(a)
        if arr.ndim == 0:
            raise DataError(f"expected arrays with one row per sample; got a scalar {arr!r}.")
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise DataError(f"expected arrays of numbers; got dtype {arr.dtype}.")
        out.append(np.ascontiguousarray(arr, dtype=np.float32))
    lengths = {len(a) for a in out}
    if len(lengths) > 1:
        raise DataError("the arrays must be row-aligned (one row per sample); got lengths "
                        f"{[len(a) for a in out]}.")
    return tuple(out), single


def batched(module: torch.nn.Module, fn: Callable[..., torch.Tensor], data: Arrays,
            device: torch.device, batch_size: int = EVAL_BATCH,
            precision: Precision = "fp32") -> np.ndarray:
    """Apply ``fn`` (a method of ``module``) to ``data`` in batches on ``device``, in
    ``eval()`` mode (the module's mode is restored afterwards) under
    ``torch.inference_mode`` (and the ``precision``'s autocast). ``data`` is one array
    ``[N, ...]`` (``fn(batch)``) or a tuple of row-aligned arrays (``fn(batch_a, batch_b,
    ...)``: the same rows of each). Returns the concatenated float32 numpy result ``[N,
    ...]`` on the CPU."""
    arrays, _ = as_arrays(data)
    with warnings.catch_warnings():  # read-only views (the evaluation's) are only read here
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensors = [torch.from_numpy(a) for a in arrays]
    n = int(tensors[0].shape[0])
    was_training = module.training
    module.eval()
    out: list[torch.Tensor] = []
    try:
        with torch.inference_mode(), autocast(device, precision):
            for i in range(0, n, batch_size):
                out.append(fn(*(t[i:i + batch_size].to(device, non_blocking=True)
                                for t in tensors)).float())
            if not out:
                return fn(*(t[:0].to(device) for t in tensors)).to("cpu", torch.float32).numpy()
            # one transfer (and one synchronisation) at the end, not one per batch
            return torch.cat(out).to("cpu", torch.float32).numpy()
    finally:
        module.train(was_training)


def rowwise_batched(module: torch.nn.Module, fn: Callable[..., torch.Tensor], data: Arrays,
                    device: torch.device, batch_size: int = ROW_BATCH,
                    precision: Precision = "fp32") -> np.ndarray:
    """:func:`batched` with every batch padded (with zero rows) to exactly ``batch_size``
    rows, so that row ``i`` of the result does not depend on how many rows ``data`` has:
    ``rowwise_batched(..., data[:k], ...)`` is bit-for-bit the first ``k`` rows of
    ``rowwise_batched(..., data, ...)``. (Plain batching does not give that: the CPU matrix
    kernels take other code paths, with another order of summation, for a batch of a few
    rows than for a larger one, which changes the last bits.) ``data``: one array or a
    tuple of row-aligned arrays, as for :func:`batched` (a conditional generator passes
    ``(noise, factors)``)."""
    arrays, single = as_arrays(data)
    n = int(arrays[0].shape[0])
    pad = (-n) % batch_size if n else 0
    if pad:
        arrays = tuple(np.concatenate([a, np.zeros((pad, *a.shape[1:]), dtype=a.dtype)])
                       for a in arrays)
    out = batched(module, fn, arrays[0] if single else arrays, device,
                  batch_size=batch_size if n else EVAL_BATCH, precision=precision)
    return np.ascontiguousarray(out[:n]) if pad else out
