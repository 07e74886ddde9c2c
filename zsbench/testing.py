"""The conformance kit: checks that a plugin keeps zsbench's contracts.

Run it in your own tests, in the spirit of scikit-learn's ``parametrize_with_checks``::

    from zsbench.testing import parametrize_with_checks
    from mypkg.models import MyModel

    @parametrize_with_checks([MyModel(epochs=1)])
    def test_conformance(plugin, check):
        check()

Each (plugin, check) pair is its own test, with an id such as ``mymodel-check_encode_shape``.
A failing check raises :class:`ConformanceError` whose message names the plugin, the check
and what was expected.

What is checked, by kind (each check's failure message says what was expected):

- every kind: a ``name`` and a one-line summary; keyword-only, annotated constructor
  parameters stored unchanged;
- models (fitted on a tiny dataset of blobs, ``[32, 1, 16, 16]`` by default): ``fit``
  returns ``self``; ``encode -> [N, D]``; ``decode`` and ``reconstruct`` shapes and range
  [0, 1]; batch consistency; inputs left unmodified; the same seed gives the same model
  whatever the global random state; ``weights`` and ``validation`` accepted;
  ``save -> load`` gives identical outputs; a clear error on a wrong input shape;
  ``training_summary`` is JSON;
- datasets: the latent space (factor names, bounds); ``image_shape``; ``load`` shapes,
  dtypes and determinism; and for renderable datasets ``render`` shape, dtype,
  determinism, any point of the space (corners, centre, random points), errors for points
  outside it; weightings positive and finite;
- metrics (on synthetic evaluation contexts, see :func:`make_eval_context`): named
  :class:`~zsbench.plugin.Score` values with a bool direction, finite where the hole
  exists, NaN (not an error) without one; deterministic; the context left unmodified;
  the oracle: a perfect reconstruction never scores worse than a degraded one;
- outputs: ``write`` returns the non-empty files it wrote inside the folder, with and
  without a hole.

Checks run on CPU in seconds; pass constructor parameters that keep training short (one
epoch) in the instances you hand to the kit.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import math
import random
import sys
import tempfile
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Union

import numpy as np

from zsbench.errors import ZsbenchError
from zsbench.plugin import (
    Configurable,
    Dataset,
    EvalContext,
    Metric,
    Model,
    Output,
    Recovery,
    Score,
    Split,
    TransectEval,
)
from zsbench.regions import Ball, Transect, rim_points
from zsbench.space import Factor, LatentSpace
from zsbench.splits import split_indices

__all__ = [
    "BlobsDataset",
    "Check",
    "ConformanceError",
    "check_dataset",
    "check_metric",
    "check_model",
    "check_output",
    "check_plugin",
    "make_blob_images",
    "make_eval_context",
    "parametrize_with_checks",
]

PluginLike = Union[Configurable, type[Configurable], Callable[[], Configurable]]
"""What the kit accepts: a configured instance (cloned for every check), a class
(instantiated with its defaults) or a zero-argument factory returning an instance."""

DEFAULT_IMAGE_SHAPE: tuple[int, int, int] = (1, 16, 16)
DEFAULT_N_IMAGES: int = 32


class ConformanceError(ZsbenchError, AssertionError):
    """A plugin broke a contract: names the plugin, the check and what was expected."""

    def __init__(self, plugin: str, check: str, problem: str) -> None:
        self.plugin = plugin
        self.check = check
        self.problem = problem
        super().__init__(f'plugin "{plugin}" failed {check}: {problem}')


class Check(NamedTuple):
    """One check of one plugin: ``name`` (e.g. ``"check_encode_shape"``) and ``run``, a
    callable taking no arguments that raises :class:`ConformanceError` on failure."""

    name: str
    run: Callable[[], None]

    def __call__(self) -> None:
        self.run()


class _Fail(Exception):
    """Raised inside a check body; turned into a ConformanceError naming plugin and check."""


def _wrap(label: str, name: str, body: Callable[[], None]) -> Check:
    def run() -> None:
        try:
            body()
        except ConformanceError:
            raise
        except (_Fail, AssertionError) as exc:
            raise ConformanceError(label, name, str(exc) or type(exc).__name__) from None
        except Exception as exc:  # the plugin itself raised: report where
            raise ConformanceError(label, name, f"raised {type(exc).__name__}: {exc}") from exc

    run.__name__ = run.__qualname__ = name
    return Check(name, run)


# ---------------------------------------------------------------------------------------
# tiny data


def _render_blobs(factors: np.ndarray, image_shape: tuple[int, int, int],
                  width: float) -> np.ndarray:
    """Gaussian blobs centred at ``factors [N, 2]`` (x, y in [0, 1]): uint8 ``[N, C, H, W]``;
    channel ``c`` is the blob scaled by ``1 / (1 + c)``."""
    c, h, w = image_shape
    f = np.asarray(factors, dtype=np.float64)
    ys = np.linspace(0.0, 1.0, h)[None, :, None]
    xs = np.linspace(0.0, 1.0, w)[None, None, :]
    d2 = (xs - f[:, 0, None, None]) ** 2 + (ys - f[:, 1, None, None]) ** 2
    blob = np.exp(-d2 / (2.0 * width ** 2))
    scale = 1.0 / (1.0 + np.arange(c, dtype=np.float64))
    img = blob[:, None] * scale[None, :, None, None]
    return np.round(255.0 * img).astype(np.uint8)


class BlobsDataset(Dataset):
    """Gaussian blobs at (x, y) on a small square canvas: the kit's tiny procedural data.

    Factors ``x`` and ``y`` in [0, 1] place the blob; images are ``uint8 [N, channels,
    size, size]``. Not registered as a plugin: the kit uses it to make training data and
    evaluation contexts, and its own tests run the dataset checks on it.
    """

    name = "blobs"

    def __init__(self, *, n_samples: int = 32, size: int = 16, channels: int = 1,
                 width: float = 0.12) -> None:
        self.n_samples = n_samples
        self.size = size
        self.channels = channels
        self.width = width

    @property
    def space(self) -> LatentSpace:
        return LatentSpace((Factor("x", 0.0, 1.0, description="blob centre, left to right"),
                            Factor("y", 0.0, 1.0, description="blob centre, top to bottom")))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def factors(self, *, seed: int) -> np.ndarray:
        return self.space.sample_uniform(self.n_samples, rng=np.random.default_rng(seed))

    def render(self, factors: np.ndarray) -> np.ndarray:
        f = self.space.check(factors)
        return _render_blobs(f, self.image_shape, self.width)

    def recover(self, images: np.ndarray) -> Recovery:
        """Blob centres of ``images [N, C, size, size]`` by inverse rendering (a 41 x 41
        grid of exact renders, refined)."""
        if getattr(self, "_grid_", None) is None:
            from zsbench.recovery import GridRecovery

            axes = [np.linspace(0.0, 1.0, 41)] * 2
            self._grid_ = GridRecovery(self.space, self.render, axes)
        return self._grid_.recover(images)


def make_blob_images(n: int = DEFAULT_N_IMAGES,
                     image_shape: tuple[int, int, int] = DEFAULT_IMAGE_SHAPE, *,
                     seed: int = 0) -> np.ndarray:
    """``n`` blob images as a model sees them: float32 ``[n, C, H, W]`` in [0, 1]."""
    rng = np.random.default_rng(seed)
    factors = rng.uniform(0.0, 1.0, size=(n, 2))
    return (_render_blobs(factors, tuple(image_shape), 0.12).astype(np.float32)
            / np.float32(255.0))


class _LinearMaps(Model):
    """Least-squares linear encoder and decoder: the stand-in model of synthetic contexts."""

    name = "kit_linear"

    def __init__(self) -> None:
        pass

    def fit_pairs(self, images: np.ndarray, latents: np.ndarray) -> _LinearMaps:
        x = images.reshape(len(images), -1).astype(np.float64)
        z = np.hstack([latents, np.ones((len(latents), 1))])
        xa = np.hstack([x, np.ones((len(x), 1))])
        self.enc_ = np.linalg.lstsq(xa, latents, rcond=None)[0]
        self.dec_ = np.linalg.lstsq(z, x, rcond=None)[0]
        self.shape_ = images.shape[1:]
        return self

    def encode(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        return np.hstack([x, np.ones((len(x), 1))]) @ self.enc_

    def decode(self, latents: np.ndarray) -> np.ndarray:
        z = np.hstack([np.asarray(latents, dtype=np.float64), np.ones((len(latents), 1))])
        out = np.clip(z @ self.dec_, 0.0, 1.0)
        return out.reshape((len(latents), *self.shape_)).astype(np.float32)


def _degrade(images: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Move each image ``[N, C, H, W]`` towards its negative by ``alpha [N]`` in [0, 1):
    every pixel's error grows with ``alpha`` (no pixel is 0.5 exactly in blob images)."""
    a = np.asarray(alpha, dtype=np.float32).reshape(-1, 1, 1, 1)
    return ((1.0 - a) * images + a * (1.0 - images)).astype(np.float32)


def make_eval_context(*, hole: bool = True, seed: int = 0, image_size: int = 16,
                      latent_dim: int = 3, n_samples: int = 240, degrade_hole: float = 0.0,
                      degrade_outside: float = 0.0) -> EvalContext:
    """A synthetic :class:`EvalContext` on blob images for testing metrics and outputs.

    ``n_samples`` points uniform over ``x, y`` in [0, 1]; with ``hole`` a disk of radius
    0.25 at (0.5, 0.5) is held out (the "hole" split, about 20 %), and of the rest a quarter
    is "test", the remainder "train". One transect "T1" crosses the space through the hole
    (11 points); with ``hole`` a "rim" split of as many fresh points just outside the hole
    (:func:`zsbench.regions.rim_points`), reconstructed like the outside. Latents
    ``[N, latent_dim]`` are the factors scaled to [-1, 1] plus small
    noise, then noise columns. Reconstructions are the images, degraded inside the hole by
    up to ``degrade_hole`` (growing with depth into the hole) and outside it by
    ``degrade_outside`` (0 = perfect, towards 1 = the negative image). Everything is
    drawn from ``seed``; latents do not depend on the degradation.
    """
    if not 0.0 <= degrade_hole < 1.0 or not 0.0 <= degrade_outside < 1.0:
        raise ValueError("degrade_hole and degrade_outside must lie in [0, 1).")
    dataset = BlobsDataset(n_samples=n_samples, size=image_size)
    space = dataset.space
    factors = dataset.factors(seed=seed)
    holdout = Ball(center={"x": 0.5, "y": 0.5}, radius=0.25) if hole else None
    cut = split_indices(factors, holdout, space, test_fraction=0.25, validation_fraction=0.0,
                        seed=seed)
    depth_all = cut.depth
    in_hole = (holdout.contains(factors, space) if holdout is not None
               else np.zeros(len(factors), dtype=bool))
    index = {name: idx for name, idx in cut.index.items() if name != "validation"}
    images = dataset.render(factors).astype(np.float32) / np.float32(255.0)
    max_depth = float(depth_all[in_hole].max()) if hole and in_hole.any() else 1.0

    def alpha(depth: np.ndarray | None, inside: np.ndarray) -> np.ndarray:
        out = np.full(len(inside), float(degrade_outside))
        if depth is not None and inside.any():
            rel = np.clip(depth[inside] / max(max_depth, 1e-12), 0.0, 1.0)
            out[inside] = degrade_hole * (0.25 + 0.75 * rel)
        return out

    noise = np.random.default_rng(seed + 1)
    latents_all = np.hstack([2.0 * factors - 1.0 + noise.normal(0, 0.02, factors.shape),
                             noise.normal(0, 0.1, (len(factors), max(latent_dim - 2, 0)))])
    latents_all = latents_all[:, :latent_dim]
    splits, latents, recons = {}, {}, {}
    for name, idx in index.items():
        d = None if depth_all is None else depth_all[idx]
        splits[name] = Split(factors=factors[idx], images=images[idx], depth=d)
        latents[name] = latents_all[idx]
        recons[name] = _degrade(images[idx], alpha(d, in_hole[idx]))
    model = _LinearMaps().fit_pairs(splits["train"].images, latents["train"])
    line = Transect.between("T1", np.array([0.0, 0.5]), np.array([1.0, 0.5]), 11)
    if hole and in_hole.any():
        rng = np.random.default_rng(seed)
        rng.permutation(int((~in_hole).sum()))  # the split's shuffle; the rim continues it
        rim = rim_points(holdout, space, depth_all[in_hole], rng=rng)
        rim_depth = holdout.depth(rim, space)
        rim_images = dataset.render(rim).astype(np.float32) / np.float32(255.0)
        splits["rim"] = Split(factors=rim, images=rim_images, depth=rim_depth)
        latents["rim"] = np.hstack([2.0 * rim - 1.0, noise.normal(
            0, 0.1, (len(rim), max(latent_dim - 2, 0)))])[:, :latent_dim]
        recons["rim"] = _degrade(rim_images, alpha(rim_depth, np.zeros(len(rim), bool)))
    t_images = dataset.render(line.points).astype(np.float32) / np.float32(255.0)
    t_depth = holdout.depth(line.points, space) if holdout is not None else None
    t_in = (holdout.contains(line.points, space) if holdout is not None
            else np.zeros(len(line.points), dtype=bool))
    t_latents = np.hstack([2.0 * line.points - 1.0,
                           np.zeros((len(line.points), max(latent_dim - 2, 0)))])[:, :latent_dim]
    transect = TransectEval(name="T1", t=line.t, factors=line.points, images=t_images,
                            reconstructions=_degrade(t_images, alpha(t_depth, t_in)),
                            latents=t_latents, in_hole=t_in)
    return EvalContext(dataset=dataset, space=space, model=model, label="kit", seed=seed,
                       splits=splits, latents=latents, reconstructions=recons,
                       transects=[transect], holdout=holdout)


# ---------------------------------------------------------------------------------------
# plumbing shared by all kinds


class _Subject:
    """A plugin under test: its label and a way to get a fresh, unfitted instance."""

    def __init__(self, plugin: PluginLike, base: type[Configurable], kind: str,
                 label: str | None) -> None:
        self.kind = kind
        if isinstance(plugin, type):
            if not issubclass(plugin, base):
                raise TypeError(f"{plugin!r} is not a subclass of zsbench.plugin."
                                f"{base.__name__}")
            cls: type[Configurable] = plugin
            self._make: Callable[[], Configurable] = plugin
        elif isinstance(plugin, Configurable):
            if not isinstance(plugin, base):
                raise TypeError(f"{plugin!r} is not a zsbench.plugin.{base.__name__}")
            pristine = copy.deepcopy(plugin)
            cls = type(plugin)
            self._make = lambda: copy.deepcopy(pristine)
        elif callable(plugin):
            first = plugin()
            if not isinstance(first, base):
                raise TypeError(f"the factory {plugin!r} returned {first!r}, not a "
                                f"zsbench.plugin.{base.__name__}")
            cls = type(first)
            self._make = plugin
        else:
            raise TypeError(f"expected a {base.__name__} instance, class or factory, got "
                            f"{plugin!r}")
        self.cls = cls
        self.label = label or getattr(cls, "name", "") or cls.__name__

    def fresh(self) -> Any:
        return self._make()


@contextlib.contextmanager
def _global_rng(seed: int) -> Iterator[None]:
    """Set python's, numpy's and (if loaded) torch's global random state to ``seed``, and
    restore them afterwards: a plugin must not depend on them."""
    py_state = random.getstate()
    np_state = np.random.get_state()
    torch = sys.modules.get("torch")
    torch_state = torch.random.get_rng_state() if torch is not None else None
    random.seed(seed)
    np.random.seed(seed)
    if torch is not None:
        torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        if torch is not None and torch_state is not None:
            torch.random.set_rng_state(torch_state)


@contextlib.contextmanager
def _deterministic_torch() -> Iterator[None]:
    """As the runner does: torch's deterministic algorithms on while training."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def _expect_clear_error(what: str, call: Callable[[], Any], advice: str | None,
                        expected: str) -> None:
    """Fail unless ``call()`` raises an exception with a non-empty message."""
    try:
        call()
    except Exception as exc:
        if not str(exc).strip():
            tail = f"; {advice}." if advice else "."
            raise _Fail(f"{what} raised {type(exc).__name__} with an empty message"
                        f"{tail}") from exc
        return
    raise _Fail(f"{what} returned instead of raising; expected a clear error {expected}.")


def _shape(a: Any) -> str:
    shape = getattr(a, "shape", None)
    return str(list(shape)) if shape is not None else f"a {type(a).__name__}"


def _as_array(value: Any, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise _Fail(f"{what} returned {type(value).__name__}; expected a numpy array.")
    return value


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) \
        if a.size else 0.0


def _common_checks(subject: _Subject) -> list[Check]:
    label, cls = subject.label, subject.cls

    def check_name_and_summary() -> None:
        name = getattr(cls, "name", "")
        if not isinstance(name, str) or not name.strip():
            raise _Fail(f"{cls.__qualname__} needs a class attribute `name` (the name suites "
                        "use), e.g. name = \"mymodel\".")
        if name != name.strip() or any(c.isspace() for c in name):
            raise _Fail(f"name {name!r} contains whitespace; use letters, digits, _ or -.")
        if not cls.summary():
            raise _Fail(f"{cls.__qualname__} needs a docstring: its first line is the summary "
                        "`zsbench plugins` prints.")

    def check_keyword_only_parameters() -> None:
        sig = inspect.signature(cls.__init__)
        try:
            hints = typing.get_type_hints(cls.__init__)
        except Exception as exc:
            raise _Fail(f"the constructor's type hints cannot be resolved ({exc}); suites "
                        "are type-checked against them.") from exc
        for i, (pname, p) in enumerate(sig.parameters.items()):
            if i == 0 and pname == "self":
                continue
            if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise _Fail(f"the constructor takes {'*' if p.kind is p.VAR_POSITIONAL else '**'}"
                            f"{pname}; expected only named keyword-only parameters (the keys "
                            "a suite may give).")
            if p.kind is not inspect.Parameter.KEYWORD_ONLY:
                raise _Fail(f"constructor parameter {pname!r} is positional; expected keyword-"
                            "only parameters: def __init__(self, *, ...).")
            if pname not in hints:
                raise _Fail(f"constructor parameter {pname!r} has no type annotation; suites "
                            "are type-checked against the annotations.")

    def check_params_stored() -> None:
        inst = subject.fresh()
        names = list(cls.parameters())
        missing = [n for n in names if not hasattr(inst, n)]
        if missing:
            raise _Fail(f"the constructor does not store parameter(s) {missing} under their "
                        "own names (self.NAME = NAME), so get_params() and the manifest "
                        "cannot report them.")
        params = inst.get_params()
        again = cls(**params).get_params()
        if not _equal_params(params, again):
            raise _Fail(f"cls(**get_params()) gives {again!r}, not {params!r}: store each "
                        "parameter unchanged; validate in the constructor but do not convert.")
        required = [n for n, p in cls.parameters().items() if p.default is p.empty]
        if not required:
            defaults = {n: p.default for n, p in cls.parameters().items()}
            got = cls().get_params()
            if not _equal_params(defaults, got):
                raise _Fail(f"constructed with its defaults, get_params() is {got!r}, not the "
                            f"defaults {defaults!r}: store each parameter unchanged.")

    return [_wrap(label, f.__name__, f) for f in
            (check_name_and_summary, check_keyword_only_parameters, check_params_stored)]


def _equal_params(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not np.array_equal(np.asarray(x), np.asarray(y)):
                return False
        elif x != y and not (isinstance(x, float) and isinstance(y, float)
                             and math.isnan(x) and math.isnan(y)):
            return False
    return True


# ---------------------------------------------------------------------------------------
# models


class _ModelHarness:
    def __init__(self, subject: _Subject, image_shape: tuple[int, int, int], n_images: int,
                 seed: int) -> None:
        self.subject = subject
        self.image_shape = tuple(int(s) for s in image_shape)
        self.seed = seed
        self.images = make_blob_images(n_images, self.image_shape, seed=seed)
        self.validation = make_blob_images(max(4, n_images // 4), self.image_shape,
                                           seed=seed + 1)
        self.probe = make_blob_images(8, self.image_shape, seed=seed + 2)
        self._fitted: tuple[Model, Any] | None = None

    def fit_fresh(self, *, global_seed: int = 12345, weights: np.ndarray | None = None,
                  validation: np.ndarray | None = None) -> tuple[Model, Any]:
        model = self.subject.fresh()
        with _global_rng(global_seed), _deterministic_torch():
            returned = model.fit(self.images.copy(), seed=self.seed, weights=weights,
                                 validation=validation)
        return model, returned

    def fitted(self) -> Model:
        if self._fitted is None:
            self._fitted = self.fit_fresh()
        return self._fitted[0]

    def fit_returned(self) -> Any:
        self.fitted()
        assert self._fitted is not None
        return self._fitted[1]


def _check_images_out(out: Any, what: str, n: int, image_shape: tuple[int, ...]) -> np.ndarray:
    arr = _as_array(out, what)
    expected = [n, *image_shape]
    if list(arr.shape) != expected:
        raise _Fail(f"{what} returned shape {list(arr.shape)}; expected [N, C, H, W] = "
                    f"{expected}.")
    if not np.issubdtype(arr.dtype, np.floating):
        raise _Fail(f"{what} returned dtype {arr.dtype}; expected float32 images in [0, 1].")
    if not np.isfinite(arr).all():
        raise _Fail(f"{what} returned NaN or infinite values.")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise _Fail(f"{what} returned values in [{lo:g}, {hi:g}]; expected [0, 1].")
    return arr


def _check_latents_out(out: Any, what: str, n: int) -> np.ndarray:
    arr = _as_array(out, what)
    if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 1:
        raise _Fail(f"{what} returned shape {list(arr.shape)} for {n} images; expected "
                    f"[N, D] = [{n}, D] with D >= 1.")
    if not np.issubdtype(arr.dtype, np.floating):
        raise _Fail(f"{what} returned dtype {arr.dtype}; expected floating latents.")
    if not np.isfinite(arr).all():
        raise _Fail(f"{what} returned NaN or infinite latents.")
    return arr


def check_model(model: PluginLike, *, image_shape: tuple[int, int, int] = DEFAULT_IMAGE_SHAPE,
                n_images: int = DEFAULT_N_IMAGES, seed: int = 0,
                label: str | None = None) -> Iterator[Check]:
    """Yield the checks of a model plugin as :class:`Check` ``(name, run)`` pairs.

    ``model``: an instance configured for a quick fit (e.g. ``MyModel(epochs=1)``; each check
    works on a deep copy), a class (default parameters) or a zero-argument factory. The
    model is fitted on ``n_images`` blob images of ``image_shape`` ``(C, H, W)`` with
    ``seed``; pass the shape your architecture needs. The fit is shared by the checks that
    only read it; determinism and the weights/validation check fit their own copies.
    """
    subject = _Subject(model, Model, "model", label)
    h = _ModelHarness(subject, image_shape, n_images, seed)
    label = subject.label
    n = len(h.images)

    def check_fit_returns_self() -> None:
        returned = h.fit_returned()
        if returned is not h.fitted():
            raise _Fail(f"fit returned {type(returned).__name__}; expected the model itself "
                        "(return self), so that model.fit(x, seed=0).encode(x) works.")

    def check_encode_shape() -> None:
        m = h.fitted()
        z = _check_latents_out(m.encode(h.images), "encode(images [N, C, H, W])", n)
        z1 = _check_latents_out(m.encode(h.images[:1]), "encode(one image [1, C, H, W])", 1)
        if z1.shape[1] != z.shape[1]:
            raise _Fail(f"encode gave D = {z.shape[1]} for {n} images but D = {z1.shape[1]} "
                        "for one image; D must not depend on the batch.")

    def check_decode_shape_and_range() -> None:
        m = h.fitted()
        z = _check_latents_out(m.encode(h.probe), "encode", len(h.probe))
        _check_images_out(m.decode(z), "decode(latents [N, D])", len(z), h.image_shape)
        rng = np.random.default_rng(seed)
        far = z.mean(0) + 3.0 * (z.std(0) + 1.0) * rng.standard_normal(z.shape)
        _check_images_out(m.decode(far), "decode(latents far from the training codes)",
                          len(far), h.image_shape)
        _check_images_out(m.decode(z[:1]), "decode(one latent [1, D])", 1, h.image_shape)

    def check_reconstruct_shape_and_range() -> None:
        m = h.fitted()
        r = _check_images_out(m.reconstruct(h.probe), "reconstruct(images)", len(h.probe),
                              h.image_shape)
        via = np.asarray(m.decode(m.encode(h.probe)))
        if via.shape == r.shape and not np.allclose(r, via, rtol=1e-4, atol=1e-5):
            raise _Fail("reconstruct(x) differs from decode(encode(x)) by up to "
                        f"{_max_diff(r, via):.3g}; the runner evaluates decode(encode(x)), "
                        "so both must agree.")

    def check_encode_batch_consistent() -> None:
        m = h.fitted()
        whole = _check_latents_out(m.encode(h.images), "encode", n)
        parts = np.concatenate([np.asarray(m.encode(h.images[i:i + 5]))
                                for i in range(0, n, 5)])
        single = np.asarray(m.encode(h.images[3:4]))
        if parts.shape != whole.shape:
            raise _Fail(f"encoding in batches of 5 gave shape {list(parts.shape)}, all at "
                        f"once {list(whole.shape)}.")
        if not np.allclose(parts, whole, rtol=1e-4, atol=1e-5):
            raise _Fail("encoding in batches of 5 differs from encoding all at once (max "
                        f"difference {_max_diff(parts, whole):.3g}); an image's latent must "
                        "not depend on its batch (eval mode, no batch statistics).")
        if not np.allclose(single, whole[3:4], rtol=1e-4, atol=1e-5):
            raise _Fail("encoding one image alone differs from encoding it in a batch.")
        zd = whole[:6]
        dec_whole = np.asarray(m.decode(zd))
        dec_one = np.asarray(m.decode(zd[2:3]))
        if not np.allclose(dec_one, dec_whole[2:3], rtol=1e-4, atol=1e-5):
            raise _Fail("decoding one latent alone differs from decoding it in a batch.")

    def check_inputs_not_modified() -> None:
        images = h.images.copy()
        model = subject.fresh()
        weights = np.linspace(0.5, 1.5, n)
        w_copy = weights.copy()
        with _global_rng(1), _deterministic_torch():
            model.fit(images, seed=seed, weights=weights)
        if not np.array_equal(images, h.images) or not np.array_equal(weights, w_copy):
            raise _Fail("fit modified the images or weights it was given; work on copies.")
        z = np.asarray(model.encode(images))
        if not np.array_equal(images, h.images):
            raise _Fail("encode modified the images it was given; work on copies.")
        z_copy = z.copy()
        model.decode(z)
        if not np.array_equal(z, z_copy):
            raise _Fail("decode modified the latents it was given; work on copies.")

    def check_deterministic_fit() -> None:
        a, _ = h.fit_fresh(global_seed=1)
        b, _ = h.fit_fresh(global_seed=2)
        za, zb = np.asarray(a.encode(h.probe)), np.asarray(b.encode(h.probe))
        if za.shape != zb.shape or not np.allclose(za, zb, rtol=1e-4, atol=1e-5):
            diff = _max_diff(za, zb) if za.shape == zb.shape else "shape"
            raise _Fail(f"two fits with seed={seed} gave different encodings (max difference "
                        f"{diff}) when the global random state differed; draw every random "
                        "number from the `seed` argument (np.random.default_rng(seed), "
                        "torch.Generator().manual_seed(seed)), never from global state.")
        ra, rb = np.asarray(a.decode(za)), np.asarray(b.decode(za))
        if not np.allclose(ra, rb, rtol=1e-4, atol=1e-5):
            raise _Fail(f"two fits with seed={seed} decode the same latents differently (max "
                        f"difference {_max_diff(ra, rb):.3g}).")

    def check_fit_accepts_weights_and_validation() -> None:
        weights = np.linspace(0.5, 1.5, n)
        weights /= weights.mean()
        m, _ = h.fit_fresh(weights=weights, validation=h.validation.copy())
        _check_latents_out(m.encode(h.probe), "encode after fit(weights=, validation=)",
                           len(h.probe))

    def check_save_load_round_trip() -> None:
        m = h.fitted()
        with tempfile.TemporaryDirectory(prefix="zsbench-kit-") as tmp:
            path = Path(tmp) / "model.ckpt"
            m.save(path)
            if not path.is_file():
                raise _Fail(f"save(path) did not write the file {path.name}; write exactly "
                            "to the path given (the runner names it).")
            loaded = type(m).load(path)
        if type(loaded) is not type(m):
            raise _Fail(f"load returned {type(loaded).__name__}; expected {type(m).__name__}.")
        if not _equal_params(loaded.get_params(), m.get_params()):
            raise _Fail(f"the loaded model has parameters {loaded.get_params()!r}; expected "
                        f"{m.get_params()!r}.")
        z, z2 = np.asarray(m.encode(h.probe)), np.asarray(loaded.encode(h.probe))
        if z.shape != z2.shape or not np.allclose(z, z2, rtol=0.0, atol=1e-6):
            diff = _max_diff(z, z2) if z.shape == z2.shape else f"shape {list(z2.shape)}"
            raise _Fail(f"after save -> load, encode differs from the saved model's (max "
                        f"difference {diff}); expected identical outputs: save every "
                        "parameter at full precision.")
        x, x2 = np.asarray(m.decode(z)), np.asarray(loaded.decode(z))
        if x.shape != x2.shape or not np.allclose(x, x2, rtol=0.0, atol=1e-6):
            diff = _max_diff(x, x2) if x.shape == x2.shape else f"shape {list(x2.shape)}"
            raise _Fail(f"after save -> load, decode differs from the saved model's (max "
                        f"difference {diff}); expected identical outputs.")

    def check_wrong_input_shape() -> None:
        m = h.fitted()
        c, hh, ww = h.image_shape
        z = np.asarray(m.encode(h.probe))
        bad_inputs: list[tuple[str, Callable[[], Any]]] = [
            (f"encode(images without the channel axis {_shape(h.probe[:, 0])})",
             lambda: m.encode(h.probe[:, 0])),
            (f"encode(images of another size [8, {c}, {hh + 4}, {ww + 4}])",
             lambda: m.encode(np.pad(h.probe, ((0, 0), (0, 0), (2, 2), (2, 2))))),
            (f"decode(latents of the wrong width [8, {z.shape[1] + 1}])",
             lambda: m.decode(np.hstack([z, z[:, :1]]))),
        ]
        for what, call in bad_inputs:
            _expect_clear_error(what, call,
                                "say which shape was expected and which was given",
                                "(e.g. zsbench.errors.DataError) naming the expected shape")

    def check_training_summary_json() -> None:
        summary = h.fitted().training_summary()
        if not isinstance(summary, dict) or not all(isinstance(k, str) for k in summary):
            raise _Fail(f"training_summary() returned {summary!r}; expected a dict with "
                        "string keys (it goes into the manifest).")
        try:
            json.dumps(summary, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise _Fail(f"training_summary() is not JSON-serialisable: {exc}; use plain "
                        "floats, ints, strings, lists and dicts.") from exc

    body = [check_fit_returns_self, check_encode_shape, check_decode_shape_and_range,
            check_reconstruct_shape_and_range, check_encode_batch_consistent,
            check_inputs_not_modified, check_deterministic_fit,
            check_fit_accepts_weights_and_validation, check_save_load_round_trip,
            check_wrong_input_shape, check_training_summary_json]
    yield from _common_checks(subject)
    for f in body:
        yield _wrap(label, f.__name__, f)


# ---------------------------------------------------------------------------------------
# datasets


def _space_points(space: LatentSpace, seed: int, n_random: int = 6) -> np.ndarray:
    """Corners (at most 64), the centre and random points of ``space``: ``[K, F]``."""
    lows = np.array([f.bounds[0] for f in space.factors])
    highs = np.array([f.bounds[1] for f in space.factors])
    rows = [space.point({})]
    f_dim = space.dim
    if f_dim <= 6:
        for mask in range(2 ** f_dim):
            rows.append(np.where([(mask >> i) & 1 for i in range(f_dim)], highs, lows))
    else:
        rows += [lows, highs]
    centre = space.point({})
    for i, f in enumerate(space.factors):  # discrete factors: the centre must be a value
        if f.values is not None:
            values = np.asarray(f.values, dtype=np.float64)
            centre[i] = values[np.argmin(np.abs(values - centre[i]))]
    rows[0] = centre
    pts = np.vstack(rows + [space.sample_uniform(n_random, rng=np.random.default_rng(seed))])
    return pts.astype(np.float64)


def check_dataset(dataset: PluginLike, *, seed: int = 0,
                  label: str | None = None) -> Iterator[Check]:
    """Yield the checks of a dataset plugin as :class:`Check` ``(name, run)`` pairs.

    ``dataset``: an instance configured small (e.g. ``MyData(n_samples=40)``: ``load`` runs
    a few times), a class (defaults) or a zero-argument factory. Renderable datasets also
    get the ``render`` checks; fixed ones (``renderable = False``) get the ``load`` checks.
    """
    subject = _Subject(dataset, Dataset, "dataset", label)
    label = subject.label
    cache: dict[str, Any] = {}

    def fresh() -> Dataset:
        return subject.fresh()

    def loaded() -> tuple[np.ndarray, np.ndarray]:
        if "load" not in cache:
            with _global_rng(7):
                cache["load"] = fresh().load(seed=seed)
        return cache["load"]

    def check_space() -> None:
        space = fresh().space
        if not isinstance(space, LatentSpace):
            raise _Fail(f"space is {type(space).__name__}; expected a zsbench.space."
                        "LatentSpace.")
        if space.dim < 1:
            raise _Fail("the space has no factors; expected at least one.")
        names = space.names
        if len(set(names)) != len(names):
            raise _Fail(f"factor names repeat: {names}.")
        for f in space.factors:
            if not isinstance(f.name, str) or not f.name.isidentifier():
                raise _Fail(f"factor name {f.name!r} is not an identifier; suites write "
                            "points as {{ name = value }}.")
            if f.values is not None:
                vals = np.asarray(f.values, dtype=np.float64)
                if vals.size == 0 or not np.isfinite(vals).all():
                    raise _Fail(f"discrete factor {f.name!r} needs finite values, got "
                                f"{f.values!r}.")
                if len(set(vals.tolist())) != vals.size:
                    raise _Fail(f"discrete factor {f.name!r} repeats values: {f.values!r}.")
            else:
                lo, hi = f.bounds
                if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                    raise _Fail(f"continuous factor {f.name!r} has bounds [{lo}, {hi}]; "
                                "expected finite low < high.")

    def check_image_shape() -> None:
        shape = fresh().image_shape
        if (not isinstance(shape, tuple) or len(shape) != 3
                or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape)):
            raise _Fail(f"image_shape is {shape!r}; expected a tuple (C, H, W) of three "
                        "positive ints.")

    def check_load_shapes_and_dtypes() -> None:
        ds = fresh()
        factors, images = loaded()
        factors = _as_array(factors, "load(seed=...)[0] (factors)")
        images = _as_array(images, "load(seed=...)[1] (images)")
        space, shape = ds.space, ds.image_shape
        if factors.ndim != 2 or factors.shape[1] != space.dim or len(factors) < 1:
            raise _Fail(f"load gave factors of shape {list(factors.shape)}; expected [N, F] "
                        f"with F = {space.dim} ({', '.join(space.names)}) and N >= 1.")
        if not np.issubdtype(factors.dtype, np.floating):
            raise _Fail(f"load gave factors of dtype {factors.dtype}; expected float64.")
        if not np.isfinite(factors).all():
            raise _Fail("load gave NaN or infinite factors.")
        outside = ~space.contains(factors)
        if outside.any():
            raise _Fail(f"{int(outside.sum())} loaded points lie outside the space "
                        f"({space.describe()}), e.g. {factors[np.argmax(outside)].tolist()}.")
        if images.dtype != np.uint8:
            raise _Fail(f"load gave images of dtype {images.dtype}; expected uint8.")
        if list(images.shape) != [len(factors), *shape]:
            raise _Fail(f"load gave images of shape {list(images.shape)}; expected "
                        f"[N, C, H, W] = {[len(factors), *shape]} (N from the factors, "
                        "C, H, W from image_shape).")

    def check_load_deterministic() -> None:
        f1, x1 = loaded()
        with _global_rng(8):
            f2, x2 = fresh().load(seed=seed)
        if not (np.array_equal(np.asarray(f1), np.asarray(f2))
                and np.array_equal(np.asarray(x1), np.asarray(x2))):
            raise _Fail(f"two loads with seed={seed} differ when the global random state "
                        "differs; draw points from np.random.default_rng(seed) only.")

    def check_render_shape_and_dtype() -> None:
        ds = fresh()
        pts = _space_points(ds.space, seed)[:5]
        out = _as_array(ds.render(pts), "render(factors [5, F])")
        if out.dtype != np.uint8:
            raise _Fail(f"render returned dtype {out.dtype}; expected uint8.")
        if list(out.shape) != [len(pts), *ds.image_shape]:
            raise _Fail(f"render returned shape {list(out.shape)}; expected [N, C, H, W] = "
                        f"{[len(pts), *ds.image_shape]}.")

    def check_render_deterministic() -> None:
        ds = fresh()
        pts = _space_points(ds.space, seed)
        with _global_rng(1):
            a = np.asarray(ds.render(pts))
        with _global_rng(2):
            b = np.asarray(fresh().render(pts))
        if not np.array_equal(a, b):
            raise _Fail("rendering the same points twice gave different images; render "
                        "must be a pure function of the factors.")
        one = np.asarray(ds.render(pts[2:3]))
        if not np.array_equal(one, a[2:3]):
            raise _Fail("rendering one point alone differs from rendering it in a batch.")

    def check_render_any_point() -> None:
        ds = fresh()
        space = ds.space
        pts = _space_points(space, seed + 1, n_random=16)
        for i in range(len(pts)):
            p = pts[i:i + 1]
            try:
                out = np.asarray(ds.render(p))
            except Exception as exc:
                described = ", ".join(f"{n}={v:g}" for n, v in zip(space.names, p[0]))
                raise _Fail(f"render failed at the point ({described}) of the space: "
                            f"{type(exc).__name__}: {exc}. Every point of the space "
                            "(corners included) must render.") from exc
            if out.shape != (1, *ds.image_shape) or out.dtype != np.uint8:
                raise _Fail(f"render of one point gave {out.dtype} {list(out.shape)}.")

    def check_render_rejects_bad_points() -> None:
        ds = fresh()
        space = ds.space
        centre = _space_points(space, seed)[:1]
        bad: list[tuple[str, np.ndarray]] = [
            (f"render(factors of shape [1, {space.dim + 1}])",
             np.hstack([centre, centre[:, :1]])),
        ]
        f0 = space.factors[0]
        out_pt = centre.copy()
        out_pt[0, 0] = f0.bounds[1] + max(f0.span, 1.0)
        bad.append((f"render(a point with {f0.name} = {out_pt[0, 0]:g} outside "
                    f"{space.describe()})", out_pt))
        for what, pts in bad:
            _expect_clear_error(what, lambda pts=pts: ds.render(pts), None,
                                "(space.check(factors) gives one)")

    def check_weightings() -> None:
        ds = fresh()
        weightings = ds.weightings()
        if not isinstance(weightings, dict):
            raise _Fail(f"weightings() returned {type(weightings).__name__}; expected a dict "
                        "of name -> function.")
        if not weightings:
            return
        factors = np.asarray(loaded()[0], dtype=np.float64)
        for wname, fn in weightings.items():
            w = _as_array(fn(factors), f"weighting {wname!r}")
            if w.shape != (len(factors),):
                raise _Fail(f"weighting {wname!r} returned shape {list(w.shape)}; expected "
                            f"[N] = [{len(factors)}].")
            if not np.isfinite(w).all() or (w <= 0).any():
                raise _Fail(f"weighting {wname!r} returned non-positive or non-finite "
                            "weights; expected positive finite weights.")

    body: list[Callable[[], None]] = [check_space, check_image_shape,
                                      check_load_shapes_and_dtypes, check_load_deterministic]
    if getattr(subject.cls, "renderable", True):
        body += [check_render_shape_and_dtype, check_render_deterministic,
                 check_render_any_point, check_render_rejects_bad_points]
    body.append(check_weightings)
    yield from _common_checks(subject)
    for f in body:
        yield _wrap(label, f.__name__, f)


# ---------------------------------------------------------------------------------------
# metrics

_REALISTIC = {"degrade_hole": 0.3, "degrade_outside": 0.1}


def _compute(metric: Metric, ctx: EvalContext) -> dict[str, Score]:
    out = metric.compute(ctx)
    if not isinstance(out, dict) or not out:
        raise _Fail(f"compute returned {out!r}; expected a non-empty dict "
                    "{name: Score(value, higher_is_better, headline)}.")
    for name, score in out.items():
        if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
            raise _Fail(f"score name {name!r} is not a non-empty string without spaces.")
        if not isinstance(score, Score):
            raise _Fail(f"score {name!r} is {type(score).__name__}; expected zsbench.Score.")
        if isinstance(score.value, bool) or not isinstance(score.value, (float, int,
                                                                         np.floating,
                                                                         np.integer)):
            raise _Fail(f"score {name!r} has value {score.value!r} "
                        f"({type(score.value).__name__}); expected a float.")
        if not isinstance(score.higher_is_better, (bool, np.bool_)):
            raise _Fail(f"score {name!r} has higher_is_better={score.higher_is_better!r}; "
                        "expected True or False.")
        if not isinstance(score.headline, (bool, np.bool_)):
            raise _Fail(f"score {name!r} has headline={score.headline!r}; expected a bool.")
    return out


def _snapshot(ctx: EvalContext) -> list[np.ndarray]:
    arrays: list[np.ndarray] = []
    for s in ctx.splits.values():
        arrays += [s.factors, s.images] + ([] if s.depth is None else [s.depth])
    arrays += list(ctx.latents.values()) + list(ctx.reconstructions.values())
    for t in ctx.transects:
        arrays += [t.t, t.factors, t.images, t.reconstructions, t.latents, t.in_hole]
    return [np.array(a, copy=True) for a in arrays]


def _same_value(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


_CONTEXTS: dict[tuple[int, tuple[tuple[str, Any], ...]], EvalContext] = {}


def _cached_context(seed: int, kw: tuple[tuple[str, Any], ...]) -> EvalContext:
    """A deep copy of a context built once per process (plugins under test cannot spoil
    the contexts of the next one)."""
    key = (seed, kw)
    if key not in _CONTEXTS:
        _CONTEXTS[key] = make_eval_context(seed=seed, **dict(kw))
    return copy.deepcopy(_CONTEXTS[key])


_SCENARIOS: dict[str, dict[str, Any]] = {
    "realistic": dict(_REALISTIC),
    "no_hole": {"hole": False, **_REALISTIC},
    "perfect": {},
    "hole_degraded": {"degrade_hole": 0.8},
    "outside_degraded": {"degrade_outside": 0.4},
}


class _Contexts:
    """The synthetic contexts metrics and outputs are checked on: a pristine copy for every
    call, so that a plugin that modifies one fails only the check that looks for it."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def get(self, which: str) -> EvalContext:
        return _cached_context(self.seed, tuple(sorted(_SCENARIOS[which].items())))


def check_metric(metric: PluginLike, *, seed: int = 0,
                 label: str | None = None) -> Iterator[Check]:
    """Yield the checks of a metric plugin as :class:`Check` ``(name, run)`` pairs.

    ``metric``: an instance (e.g. ``MyMetric(threshold=0.1)``), a class or a factory. The
    metric is computed on synthetic contexts from :func:`make_eval_context`.

    The oracle check compares a perfect reconstruction (P) with the same context degraded
    inside the hole only (H) and outside it only (O), latents unchanged: every score that
    changes from P to H must be better for P in its declared direction; every score that
    H leaves unchanged but O changes must be better for P. Scores that read only latents
    change in neither and are not judged.
    """
    subject = _Subject(metric, Metric, "metric", label)
    label = subject.label
    ctxs = _Contexts(seed)
    results: dict[str, dict[str, Score]] = {}

    def scores(which: str) -> dict[str, Score]:
        if which not in results:
            results[which] = _compute(subject.fresh(), ctxs.get(which))
        return results[which]

    def check_scores_named_floats() -> None:
        scores("realistic")

    def check_scores_finite_with_hole() -> None:
        bad = {n: float(s.value) for n, s in scores("realistic").items()
               if not math.isfinite(float(s.value))}
        if bad:
            raise _Fail(f"scores {bad} are not finite on a context with a hole, transects "
                        "and a reasonable reconstruction; NaN is for values that are "
                        "undefined (no hole), never an error signal: raise instead.")

    def check_no_hole() -> None:
        got = scores("no_hole")
        inf = {n: float(s.value) for n, s in got.items() if math.isinf(float(s.value))}
        if inf:
            raise _Fail(f"scores {inf} are infinite without a hole; expected finite values "
                        "or NaN where a value is undefined.")

    def check_direction_declared() -> None:
        directions: dict[str, bool] = {}
        for which in ("realistic", "no_hole", "perfect", "hole_degraded", "outside_degraded"):
            for name, s in scores(which).items():
                d = bool(s.higher_is_better)
                if directions.setdefault(name, d) != d:
                    raise _Fail(f"score {name!r} declares higher_is_better={d} on one context "
                                f"and {not d} on another; a score's direction is fixed.")

    def check_deterministic() -> None:
        a = scores("realistic")
        b = _compute(subject.fresh(), ctxs.get("realistic"))
        if a.keys() != b.keys():
            raise _Fail(f"two computations gave different score names: {sorted(a)} vs "
                        f"{sorted(b)}.")
        diff = {n: (float(a[n].value), float(b[n].value)) for n in a
                if not _same_value(float(a[n].value), float(b[n].value))}
        if diff:
            raise _Fail(f"two computations on the same context differ: {diff}; seed any "
                        "randomness from a parameter.")

    def check_context_unchanged() -> None:
        ctx = _cached_context(seed, tuple(sorted(_REALISTIC.items())))
        before = _snapshot(ctx)
        _compute(subject.fresh(), ctx)
        after = _snapshot(ctx)
        if len(before) != len(after) or any(
                a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
                for a, b in zip(before, after)):
            raise _Fail("compute modified the evaluation context; it is shared by every "
                        "metric and output, so work on copies.")

    def check_oracle_reconstruction() -> None:
        perfect = scores("perfect")
        hole = scores("hole_degraded")
        out = scores("outside_degraded")
        problems = []
        for name, s in perfect.items():
            p = float(s.value)
            hib = bool(s.higher_is_better)
            arrow = "higher" if hib else "lower"
            for other, kind in ((hole, "inside the hole"), (out, "outside the hole")):
                if name not in other:
                    continue
                o = float(other[name].value)
                if kind == "outside the hole" and name in hole and not _same_value(
                        p, float(hole[name].value)):
                    break  # judged on the hole comparison
                if math.isnan(p) or math.isnan(o) or _same_value(p, o):
                    continue
                if (p < o) if hib else (p > o):
                    problems.append(f"{name}: perfect reconstruction {p:.6g}, degraded "
                                    f"{kind} {o:.6g}, but the score declares {arrow} is "
                                    "better")
                break
        if problems:
            raise _Fail("a perfect reconstruction scored worse than a degraded one: "
                        + "; ".join(problems) + ". Check higher_is_better of these scores.")

    body = [check_scores_named_floats, check_scores_finite_with_hole, check_no_hole,
            check_direction_declared, check_deterministic, check_context_unchanged,
            check_oracle_reconstruction]
    yield from _common_checks(subject)
    for f in body:
        yield _wrap(label, f.__name__, f)


# ---------------------------------------------------------------------------------------
# outputs


def check_output(output: PluginLike, *, seed: int = 0,
                 label: str | None = None) -> Iterator[Check]:
    """Yield the checks of an output plugin as :class:`Check` ``(name, run)`` pairs: it
    writes non-empty files inside the folder it is given and returns their paths, on
    synthetic contexts with and without a hole."""
    subject = _Subject(output, Output, "output", label)
    label = subject.label
    ctxs = _Contexts(seed)

    def write(which: str) -> None:
        with tempfile.TemporaryDirectory(prefix="zsbench-kit-") as tmp:
            folder = Path(tmp) / "pictures"
            folder.mkdir()
            paths = subject.fresh().write(ctxs.get(which), folder)
            if not isinstance(paths, list):
                raise _Fail(f"write returned {type(paths).__name__}; expected a list of the "
                            "paths written.")
            for p in paths:
                p = Path(p)
                if not p.is_file() or p.stat().st_size == 0:
                    raise _Fail(f"write returned {p}, which is not a non-empty file.")
                try:
                    p.resolve().relative_to(folder.resolve())
                except ValueError:
                    raise _Fail(f"write returned {p}, outside the folder it was given "
                                f"({folder}).") from None

    def check_write_files() -> None:
        write("realistic")

    def check_write_without_hole() -> None:
        write("no_hole")

    yield from _common_checks(subject)
    for f in (check_write_files, check_write_without_hole):
        yield _wrap(label, f.__name__, f)


# ---------------------------------------------------------------------------------------
# dispatch and pytest


def _kind_of(plugin: PluginLike) -> tuple[str, PluginLike]:
    probe: Any = plugin
    if not isinstance(plugin, (type, Configurable)) and callable(plugin):
        probe = plugin()
    cls = probe if isinstance(probe, type) else type(probe)
    for kind, base in (("model", Model), ("dataset", Dataset), ("metric", Metric),
                       ("output", Output)):
        if isinstance(cls, type) and issubclass(cls, base):
            return kind, plugin
    raise TypeError(f"{plugin!r} is not a zsbench Dataset, Model, Metric or Output (an "
                    "instance, a class or a factory of one).")


def check_plugin(plugin: PluginLike, *, image_shape: tuple[int, int, int] = DEFAULT_IMAGE_SHAPE,
                 seed: int = 0, label: str | None = None) -> Iterator[Check]:
    """The checks of any plugin kind (``image_shape`` applies to models only)."""
    kind, plugin = _kind_of(plugin)
    if kind == "model":
        return check_model(plugin, image_shape=image_shape, seed=seed, label=label)
    if kind == "dataset":
        return check_dataset(plugin, seed=seed, label=label)
    if kind == "metric":
        return check_metric(plugin, seed=seed, label=label)
    return check_output(plugin, seed=seed, label=label)


def _labelled(plugins: Sequence[PluginLike]) -> list[tuple[PluginLike, str]]:
    out, seen = [], {}
    for p in plugins:
        cls = p if isinstance(p, type) else type(p) if isinstance(p, Configurable) else None
        base = getattr(cls, "name", "") or (cls.__name__ if cls is not None else "")
        if cls is None:
            probe = p()  # type: ignore[operator]
            base = getattr(probe, "name", "") or type(probe).__name__
        seen[base] = seen.get(base, 0) + 1
        out.append((p, base if seen[base] == 1 else f"{base}{seen[base]}"))
    return out


def parametrize_with_checks(plugins: Sequence[PluginLike], *,
                            image_shape: tuple[int, int, int] = DEFAULT_IMAGE_SHAPE,
                            seed: int = 0) -> Any:
    """A ``pytest.mark.parametrize`` decorator with one test per (plugin, check).

    The decorated test takes the arguments ``plugin`` (the object given) and ``check`` (a
    :class:`Check`; call it). Test ids are ``<plugin name>-<check name>``, e.g.
    ``ae-check_encode_shape``; a plugin given twice gets ``ae2-...``. ``image_shape``
    ``(C, H, W)`` is the size of the models' training images.
    """
    import pytest

    params = []
    for plugin, label in _labelled(plugins):
        for check in check_plugin(plugin, image_shape=image_shape, seed=seed, label=label):
            params.append(pytest.param(plugin, check, id=f"{label}-{check.name}"))
    return pytest.mark.parametrize(("plugin", "check"), params)
