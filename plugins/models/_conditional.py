"""What the standard conditional generators (``cvae``, ``factor_decoder``, ``diffusion``)
share: the factor encoding, the training parameters, ``fit`` through
:func:`zsbench.training.train`, batched seeded ``generate``, ``save`` and one ``load``.

A new conditional generator subclasses :class:`ConditionalGenerator` and writes only what
is its own: its network (:meth:`~ConditionalGenerator._build`, holding the
:class:`FactorCode` as ``code``), its per-sample loss (:meth:`~ConditionalGenerator._loss_fn`)
and how a batch of rows becomes images (:meth:`~ConditionalGenerator._draw`).
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zsbench.configurable import Interval, Options
from zsbench.errors import DataError, PluginParameterError
from zsbench.plugin import Model, Monitor, row_noise
from zsbench.space import LatentSpace
from zsbench.training import (
    LossFn,
    init_module,
    monitor_hook,
    resolve_device,
    rowwise_batched,
    train,
)
from zsbench_plugins.models.base import TrainedModule, _check_images, read_checkpoint

CODES = ("space", "scaled", "raw", "population", "onehot")
"""The factor codes of :func:`code_spec` (``factor_decoder`` offers the last four)."""

NOISE_STREAM = 0
"""The :func:`~zsbench.plugin.row_noise` stream of ``generate``'s initial noise."""


# -- the factors ---------------------------------------------------------------------------

def check_factors(factors: Any, n_factors: int, model: str,
                  names: Sequence[str] | None = None) -> np.ndarray:
    """A request ``[N, n_factors]`` of finite numbers as float32, else :class:`DataError`."""
    f = np.asarray(factors)
    if f.ndim != 2 or f.shape[1] != n_factors or not (
            np.issubdtype(f.dtype, np.number) or f.dtype == np.bool_):
        cols = f" (columns {', '.join(names)})" if names else ""
        raise DataError(f'model "{model}": factors must be [N, {n_factors}] numbers{cols}; '
                        f"got shape {list(f.shape)} ({f.dtype}).")
    if not np.isfinite(f).all():
        raise DataError(f'model "{model}": factors must be finite (no NaN or inf).')
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


def check_name_list(value: Any, model: str, key: str) -> None:
    """A model parameter that names factors (``periodic``, ``categorical``): None or a list
    of strings, else :class:`PluginParameterError`."""
    if value is not None and (not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) for v in value)):
        raise PluginParameterError("model", model, key, f"must be a list of factor names; "
                                   f"got {value!r}.",
                                   f'give e.g. {key} = ["orientation"] (or leave it out).')


def check_known_factors(key: str, given: Sequence[str], names: Sequence[str],
                        model: str | None = None) -> None:
    """:class:`DataError` when parameter ``key`` names factors ``given`` that are not among
    the dataset's ``names`` (no names: the dataset states no factor space); the message
    starts ``model "MODEL", `` when ``model`` is given."""
    unknown = [n for n in given if n not in names]
    if unknown:
        where = f'model "{model}", ' if model else ""
        raise DataError(f'{where}parameter "{key}": {unknown} are no factors of the dataset'
                        + (f"; its factors: {', '.join(names)}." if names else
                           " (it states no factor space)."))


def check_space(space: LatentSpace | None, n_factors: int, model: str) -> None:
    """``space`` must describe the ``n_factors`` columns of the factors (or be None)."""
    if space is None:
        return
    if not isinstance(space, LatentSpace) or space.dim != n_factors:
        got = f"{space.dim} factors" if isinstance(space, LatentSpace) else type(space).__name__
        raise DataError(f'model "{model}": space must be the dataset\'s LatentSpace with one '
                        f"factor per column of factors ({n_factors}); got {got}.")


def write_archive(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """A model that keeps arrays, not a network (the baselines), saved as a compressed
    NumPy archive: a JSON ``header`` (``format``, ``format_version``, ``params``, ...) and
    the ``arrays``; no pickles. :func:`read_archive` reads it back."""
    with open(Path(path), "wb") as fh:
        np.savez_compressed(fh, header=np.array(json.dumps(header)), **arrays)


def read_archive(path: Path, *, model: str, fmt: str, version: int,
                 keys: Sequence[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and the arrays ``keys`` of what :func:`write_archive` wrote, checked:
    a file that is not one, of another format or another version is a
    :class:`~zsbench.errors.DataError` naming ``path`` (``numpy.load(allow_pickle=False)``)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            arrays = {k: np.asarray(data[k]) for k in keys}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise DataError(f"cannot load {path}: not a zsbench {model} file "
                        f"({type(exc).__name__}).") from None
    if not isinstance(header, dict) or header.get("format") != fmt:
        raise DataError(f"cannot load {path}: not a zsbench {model} file.")
    if header.get("format_version") != version:
        raise DataError(f"cannot load {path}: file format version "
                        f"{header.get('format_version')!r}, this zsbench reads {version}.")
    return header, arrays


def _entry(kind: str, low: float = 0.0, high: float = 1.0, width: int = 1,
           values: Sequence[float] | None = None, name: str | None = None) -> dict[str, Any]:
    span = high - low if high > low else 1.0
    return {"kind": kind, "low": float(low), "span": float(span), "width": int(width),
            "values": None if values is None else [float(v) for v in values], "name": name}


def code_spec(code: str, factors: np.ndarray, space: LatentSpace | None,
              width: int = 1, *, periodic: Sequence[str] = (),
              harmonics: int = 4) -> list[dict[str, Any]]:
    """The one factor encoding: the per-factor layout of :class:`FactorCode`, from the
    training ``factors [N, F]`` and the dataset's ``space`` (or None). It is saved in the
    checkpoint, so a loaded model encodes requests exactly as it was trained.

    - ``"space"`` (``cvae``, ``diffusion``): a continuous factor scaled to [0, 1] by the
      space's bounds, a discrete one one-hot over its values; without a space, every factor
      scaled by the training factors' range;
    - ``"scaled"``: ``(f - low) / span`` with the *training* factors' range (one unit each);
    - ``"raw"``: the values as given (one unit each);
    - ``"population"``: ``width`` Gaussian units over the factor's range (the space's bounds,
      else the training range);
    - ``"onehot"``: one-hot over a discrete factor's values (with a space), else over
      ``width`` equal bins of its range.

    A continuous factor named in ``periodic`` (an angle: its range is one turn, so its two
    ends are the same image) is coded ``"fourier"`` whatever ``code`` says: ``sin`` and
    ``cos`` of ``k`` times its phase, ``k = 1 .. harmonics``, so a shape that repeats
    every ``1/k`` turn (a square: a quarter turn, ``k = 4``) is a smooth function of the
    code instead of ``k`` oscillations along one unit. Naming a factor the space does not
    have, or a discrete one, raises :class:`DataError` (``periodic`` needs a ``space``)."""
    lo_tr, hi_tr = factors.min(axis=0), factors.max(axis=0)
    if code == "space" and space is None:
        code = "scaled"
    check_known_factors("periodic", periodic, space.names if space is not None else [])
    out = []
    for i in range(factors.shape[1]):
        fac = space.factors[i] if space is not None else None
        name = fac.name if fac is not None else None
        low, high = (fac.bounds if fac is not None else (float(lo_tr[i]), float(hi_tr[i])))
        discrete = fac is not None and fac.values is not None
        if name in periodic and discrete:
            raise DataError(f'parameter "periodic": factor "{name}" is discrete (values '
                            f"{list(fac.values or ())}); only a continuous factor wraps around.")
        if name in periodic:
            out.append(_entry("fourier", low, high, 2 * harmonics, name=name))
        elif code == "space" and not discrete:
            out.append(_entry("scaled", low, high, name=name))
        elif code == "scaled":
            out.append(_entry("scaled", float(lo_tr[i]), float(hi_tr[i]), name=name))
        elif code == "raw":
            out.append(_entry("raw", name=name))
        elif code == "population":
            out.append(_entry("population", low, high, width, name=name))
        elif code in ("onehot", "space") and discrete:
            assert fac is not None and fac.values is not None
            out.append(_entry("values", low, high, len(fac.values), fac.values, name=name))
        elif code == "onehot":
            out.append(_entry("bins", low, high, width, name=name))
        else:
            raise DataError(f'unknown factor code "{code}"; use one of {", ".join(CODES)}.')
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
    - ``"fourier"``: ``width = 2 H`` units ``sin(2 pi k u)``, ``cos(2 pi k u)``, ``k = 1 ..
      H`` (a periodic factor whose range is one period);
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
            elif kind == "fourier":
                phase = (2.0 * math.pi) * col * torch.arange(
                    1, width // 2 + 1, device=u.device, dtype=u.dtype)
                parts.extend((torch.sin(phase), torch.cos(phase)))
            elif kind == "bins":
                idx = torch.floor(col[:, 0] * width).clamp(0, width - 1).long()
                parts.append(F.one_hot(idx, width).to(u.dtype))
            else:  # "values"
                values = getattr(self, f"values_{i}")
                idx = (factors[:, i:i + 1] - values).abs().argmin(1)
                parts.append(F.one_hot(idx, width).to(u.dtype))
        return torch.cat(parts, 1)


# -- the base class ------------------------------------------------------------------------

class ConditionalGenerator(TrainedModule, Model):
    """Base of the standard conditional generators (not a plugin by itself).

    The runner passes the training images' true factors to ``fit(images, ...,
    factors=[N, F], space=..., monitor=...)`` and evaluates the model through
    ``generate(factors, *, seed)``; it has no ``encode``, so the scores of latents are n/a.
    The factors enter the network through its :class:`FactorCode` (``code_spec``, saved in
    the checkpoint). Training goes through :func:`zsbench.training.train` with batches of
    ``(images, factors)``; ``generate`` draws row ``i``'s noise from
    :func:`~zsbench.plugin.row_noise` ``(seed, stream 0)`` alone and evaluates the network on
    chunks of exactly ``sample_batch`` rows (:func:`~zsbench.training.rowwise_batched`), so
    a row's image does not depend, to the last bit, on the other rows of the request.
    There is no early stopping: the validation images come without factors.

    Training parameters, the same for every conditional generator (keyword-only):
        epochs: passes over the training images (default 20).
        min_steps: train at least this many optimiser steps: ``epochs`` is raised to
            ``ceil(min_steps / ceil(N / batch_size))`` when that is more (default 0), so a
            sweep over training-set sizes can give every size one step budget.
        batch_size: images per optimiser step (default 64).
        optimizer: "adam" (default), "adamw" or "rmsprop" (torch's defaults besides lr and
            weight_decay).
        lr: learning rate (default 1e-3).
        lr_decay: the learning rate of epoch e is ``lr * lr_decay ** (e - 1)`` (default 1:
            no decay).
        weight_decay: the optimiser's weight decay; absent (default): torch's default for
            the optimizer (0, and 0.01 for "adamw").
        precision: "fp32" (default) or "bf16" (bfloat16 autocast for training and
            sampling; only worth it on hardware with bfloat16 instructions).
        device: "auto" (CUDA when present, else the CPU; the default), "cpu" or "cuda".
        progress: show a progress bar while training (default True).
        eval_every: with a monitor given to ``fit``, call ``monitor(step, self)`` after
            every ``eval_every``-th optimiser step (default 0: never); ``generate`` then
            uses the current weights.
        sample_batch: rows per network evaluation in ``generate`` (default 64); every chunk
            is padded to exactly this size, so it is part of what decides the output bits.
        periodic: names of continuous factors whose range is one turn (an orientation):
            coded by ``harmonics`` sine/cosine pairs instead of the model's code (default
            None: none; see :func:`code_spec`).
        harmonics: sine/cosine pairs of a ``periodic`` factor (default 4: a quarter-turn
            symmetry is its 4th harmonic).
    """

    needs_factors: ClassVar[bool] = True
    checkpoint_format: ClassVar[str] = ""
    """The ``format`` of the checkpoint (``"zsbench.NAME"``)."""
    checkpoint_versions: ClassVar[tuple[int, ...]] = (1,)
    """The format versions :meth:`load` reads; the last is the one :meth:`save` writes
    (older ones go through :meth:`_upgrade`)."""
    noise_shape: ClassVar[str] = ""
    """What ``generate`` draws per row: "" (nothing: deterministic), "latent"
    (``[latent_dim]``) or "image" (``[C, H, W]``)."""
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "epochs": [Interval(int, 0)],
        "min_steps": [Interval(int, 0, note="0: epochs alone")],
        "batch_size": [Interval(int, 1)],
        "optimizer": [Options(("adam", "adamw", "rmsprop"))],
        "lr": [Interval(float, 0, closed="neither", note="e.g. 1e-3")],
        "lr_decay": [Interval(float, 0, closed="neither", note="1 means no decay")],
        "weight_decay": [None, Interval(float, 0)],
        "precision": [Options(("fp32", "bf16"))],
        "device": [Options(("auto", "cpu", "cuda"))],
        "progress": ["boolean"],
        "eval_every": [Interval(int, 0, note="0: never")],
        "sample_batch": [Interval(int, 1)],
        "harmonics": [Interval(int, 1)],
    }

    def __init__(
        self,
        *,
        epochs: int = 20,
        min_steps: int = 0,
        batch_size: int = 64,
        optimizer: Literal["adam", "adamw", "rmsprop"] = "adam",
        lr: float = 1e-3,
        lr_decay: float = 1.0,
        weight_decay: float | None = None,
        precision: Literal["fp32", "bf16"] = "fp32",
        device: Literal["auto", "cpu", "cuda"] = "auto",
        progress: bool = True,
        eval_every: int = 0,
        sample_batch: int = 64,
        periodic: Sequence[str] | None = None,
        harmonics: int = 4,
    ) -> None:
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.lr_decay = lr_decay
        self.weight_decay = weight_decay
        self.precision = precision
        self.device = device
        self.progress = progress
        self.eval_every = eval_every
        self.sample_batch = sample_batch
        self.periodic = periodic
        self.harmonics = harmonics
        self.validate_parameters()
        check_name_list(periodic, self.name, "periodic")

    # -- what a subclass defines -----------------------------------------------------------

    def _code_spec(self, factors: np.ndarray, space: LatentSpace | None) -> list[dict[str, Any]]:
        """The factor encoding of this model (default: the ``"space"`` code)."""
        return code_spec("space", factors, space, **self._periodic_code())

    def _periodic_code(self) -> dict[str, Any]:
        """The ``periodic`` and ``harmonics`` arguments of :func:`code_spec`."""
        return {"periodic": tuple(self.periodic or ()), "harmonics": int(self.harmonics)}

    def _network(self, image_shape: tuple[int, int, int], code: FactorCode) -> nn.Module:
        """A fresh network for images ``(C, H, W)`` holding ``code`` as its ``code``."""
        raise NotImplementedError

    def _loss_fn(self, dev: torch.device) -> LossFn:
        """The per-sample loss over a batch ``(images [B, C, H, W], factors [B, F])``."""
        raise NotImplementedError

    def _draw(self, net: nn.Module) -> Callable[..., torch.Tensor]:
        """``fn(noise [B, ...], factors [B, F]) -> images [B, C, H, W]`` in [0, 1] (without
        ``noise`` when :attr:`noise_shape` is "")."""
        raise NotImplementedError

    def _training_net(self, net: nn.Module, dev: torch.device, monitor: Monitor | None
                      ) -> tuple[nn.Module, Callable[[int], None] | None]:
        """The network ``generate`` uses while and after training, and the loop's
        ``after_step`` (default: ``net`` itself, and the monitor every ``eval_every``)."""
        return net, monitor_hook(monitor, self, int(self.eval_every))

    def _check_params(self) -> None:
        """Every declared constraint; a subclass adds checks across parameters."""
        self.validate_parameters()

    def check_image_shape(self, image_shape: tuple[int, int, int]) -> None:
        """Raise :class:`PluginParameterError` when the network cannot take images of
        ``image_shape (C, H, W)``."""
        shape: Any = tuple(int(v) for v in image_shape)
        try:  # under init_module: the global RNG is left alone
            init_module(lambda: self._network(shape, FactorCode([_entry("scaled")])), 0)
        except DataError as exc:
            self._bad_param("architecture", exc.message, "choose an architecture that takes "
                            "these images, or change the dataset's image size.")

    # -- the Model contract ----------------------------------------------------------------

    def _build(self, image_shape: tuple[int, int, int], spec: Sequence[dict[str, Any]],
               seed: int) -> nn.Module:
        try:  # the code has no parameters: building it draws nothing from the RNG
            return init_module(lambda: self._network(image_shape, FactorCode(spec)), seed)
        except DataError as exc:
            raise DataError(f'model "{self.name}": {exc.message}') from None

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None, factors: np.ndarray | None = None,
            space: LatentSpace | None = None, monitor: Monitor | None = None) -> Any:
        """Train on ``images [N, C, H, W]`` in [0, 1] and their true ``factors [N, F]``
        (required; columns as in ``space.names``), from ``seed`` alone. ``space`` (the
        dataset's :class:`~zsbench.space.LatentSpace`) fixes the factors' scaling and which
        are discrete (see :func:`code_spec`); ``weights [N]`` scale each sample's loss;
        ``validation`` is ignored (it comes without factors). ``monitor(step, self)`` is
        called every ``eval_every`` steps; ``generate`` then works. Returns ``self``."""
        self._check_params()
        x = _check_images(images, self.name, "images")
        f = check_training_factors(factors, len(x), self.name)
        if len(x) == 0:
            raise DataError(f'model "{self.name}": fit got no images (an empty array).')
        check_space(space, f.shape[1], self.name)
        image_shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
        self.check_image_shape(image_shape)
        try:
            spec = self._code_spec(f, space)
        except DataError as exc:
            raise DataError(f'model "{self.name}", {exc.message}') from None
        net = self._build(image_shape, spec, seed)
        dev = resolve_device(self.device, self.name)
        gen_net, after_step = self._training_net(net, dev, monitor)
        keys = ("module_", "image_shape_", "device_", "n_factors_", "code_spec_")
        before = {k: getattr(self, k) for k in keys if hasattr(self, k)}
        # generate() works from the first monitor call on (train moves net to dev first)
        self.module_, self.image_shape_, self.device_ = gen_net, image_shape, dev
        self.n_factors_, self.code_spec_ = int(f.shape[1]), spec
        try:
            result = train(net, self._loss_fn(dev), (x, f.astype(np.float32)), seed=seed,
                           epochs=self.epochs_for(len(x)), batch_size=self.batch_size,
                           optimizer=self.optimizer, lr=self.lr, lr_decay=self.lr_decay,
                           weight_decay=self.weight_decay, weights=weights,
                           device=self.device, progress=self.progress, label=self.name,
                           precision=self.precision, after_step=after_step)
        except BaseException:
            for k in keys:
                if k in before:
                    setattr(self, k, before[k])
                else:
                    self.__dict__.pop(k, None)
            raise
        gen_net.to(dev).eval()
        self._keep(gen_net, image_shape, result)
        return self

    def epochs_for(self, n_images: int) -> int:
        """The passes ``fit`` makes over ``n_images`` training images: ``epochs``, or more
        to reach ``min_steps`` optimiser steps."""
        steps_per_epoch = math.ceil(n_images / self.batch_size)
        return max(int(self.epochs), math.ceil(int(self.min_steps) / steps_per_epoch))

    def _request(self, factors: np.ndarray) -> np.ndarray:
        names = [s.get("name") for s in getattr(self, "code_spec_", [])]
        return check_factors(factors, self.n_factors_, self.name,
                             names if all(names) else None)  # type: ignore[arg-type]

    def factor_code(self, factors: np.ndarray) -> np.ndarray:
        """The network's input ``float32 [N, width]`` for ``factors [N, F]`` (see
        :class:`FactorCode`), as the fitted model computes it."""
        net = self._fitted()
        return rowwise_batched(net, net.code, self._request(factors), self.device_,
                               batch_size=int(self.sample_batch))

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        """Images float32 ``[N, C, H, W]`` in [0, 1] for the requested ``factors [N, F]``
        (any point, in the hole or beyond the training range), seeded by ``seed`` alone:
        the same call gives the same images, every row gets its own noise, and row ``i``
        does not depend on the other rows (``generate(f[:k], seed=s)`` is bit-for-bit the
        first ``k`` rows of ``generate(f, seed=s)``)."""
        net = self._fitted()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise DataError(f'model "{self.name}": seed must be an integer >= 0; got {seed!r}.')
        f = self._request(factors)
        if not self.noise_shape:
            rows: Any = f
        else:
            shape = ((int(getattr(self, "latent_dim")),) if self.noise_shape == "latent"
                     else self.image_shape_)
            rows = (row_noise(int(seed), len(f), shape, stream=NOISE_STREAM), f)
        return rowwise_batched(net, self._draw(net), rows, self.device_,
                               batch_size=int(self.sample_batch), precision=self.precision)

    # -- save and load ---------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Parameters, image shape, the factor code, the weights ``generate`` uses and the
        training facts, written with ``torch.save`` as plain containers and tensors (so
        :meth:`load` reads them with ``weights_only=True``)."""
        net = self._fitted()
        torch.save({"format": self.checkpoint_format,
                    "format_version": self.checkpoint_versions[-1], "plugin": self.name,
                    "params": self.get_params(), "image_shape": list(self.image_shape_),
                    "n_factors": int(self.n_factors_), "code": [dict(s) for s in net.code.spec],
                    "state_dict": {k: v.detach().to("cpu") for k, v in net.state_dict().items()},
                    "training": self.training_summary(),
                    "history": list(getattr(self, "history_", []))}, Path(path))

    @classmethod
    def _upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """A checkpoint of an older format ``version`` in the current layout."""
        return data

    @classmethod
    def load(cls, path: Path) -> Any:
        """Read what :meth:`save` wrote (see :func:`~zsbench_plugins.models.base.read_checkpoint`
        for the checks); the model goes to its ``device`` parameter's device ("cuda" falls
        back to the CPU without a GPU) and generates exactly what the saved one did."""
        what = f"{cls.checkpoint_format.removeprefix('zsbench.').replace('_', '-')} model"
        with read_checkpoint(path, cls, cls.checkpoint_format, cls.checkpoint_versions,
                             what) as (data, model, dev):
            data = cls._upgrade(data, int(data["format_version"]))
            shape = tuple(int(v) for v in data["image_shape"])
            spec = [dict(s) for s in data["code"]]
            n_factors = int(data["n_factors"])
            if len(shape) != 3 or len(spec) != n_factors:
                raise ValueError("inconsistent shapes")
            net = model._build(shape, spec, seed=0)
            net.load_state_dict(data["state_dict"])
            net.to(dev).eval()
            model.module_, model.image_shape_, model.device_ = net, shape, dev
            model.n_factors_, model.code_spec_ = n_factors, spec
        return model
