"""The contracts every plugin kind fulfils: Dataset, Model, Metric and Output.

Plugins are classes. Their constructor takes keyword-only parameters (the suite's keys)
and stores each under its own name unchanged, as scikit-learn estimators do; state learned
by ``fit`` ends in ``_``. The class attribute ``name`` is the name suites use, and the first
line of the class docstring is the summary ``zsbench plugins`` prints.

Keyword-only parameters are inherited: a subclass whose ``__init__`` declares only its new
parameters accepts its base's too (see :class:`Configurable`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from zsbench.configurable import Configurable
from zsbench.jobs import Job, JobResult, Layout, plan_layout
from zsbench.judging import Judging
from zsbench.space import LatentSpace

if TYPE_CHECKING:
    from zsbench.regions import Region


Weighting = Callable[[np.ndarray], np.ndarray]
RELATIVE_RESIDUAL_MAX: float = 0.5
"""The largest recovery residual, relative to the RMS intensity of the recovered render,
that :meth:`Dataset.valid` accepts by default: the part of the render's energy left
unexplained, ``(residual / RMS)^2``, is at most a quarter. Measured on 64-pixel polar curves
(``tests/test_intervals.py``): a blank frame scores 1, two curves of comparable ink
superposed 0.9 to 1, a Gaussian blur of 1.5 pixels about 0.7, of 1 pixel about 0.6, of 0.5
pixel (as sharp as a good model's reconstruction) about 0.25, exact images 0.03. The limit
of any residual rule: a small circle drawn inside a large starfish scores about 0.3 and
passes."""


class Monitor(Protocol):
    """Handed to a conditional generator's ``fit(..., monitor=...)`` (when ``fit`` names it):
    the model calls ``monitor(step, self)`` every ``eval_every`` optimiser steps (0: never),
    which asks ``self.generate`` for fixed hole and rim requests (draws checked as in a run,
    :mod:`zsbench.draws`). The shared loop (``monitor_hook``) calls it after an optimiser
    step, under ``torch.no_grad()``, with the network **in training mode**: ``generate``
    puts it in ``eval()`` (the loop restores ``train()``)."""

    def __call__(self, step: int, model: Model) -> None:
        """Record ``model``'s draws at optimiser step ``step``."""


def needs_factors(model: object) -> bool:
    """Whether ``model`` is fitted with the true factors of its training images: it declares
    ``needs_factors = True``, or its ``fit`` takes a ``factors`` keyword (see :class:`Model`)."""
    if getattr(model, "needs_factors", False):
        return True
    fit = getattr(model, "fit", None)
    try:
        return callable(fit) and "factors" in inspect.signature(fit).parameters
    except (TypeError, ValueError):
        return False


def capable(obj: object, method: str) -> bool:
    """Whether ``obj`` offers the optional capability ``method`` ("recover" of a dataset;
    "encode", "sample", "generate", "invert" or "posterior" of a model): True when its class
    overrides the contract's default, which raises :class:`NotImplementedError`. Metrics
    and outputs name what they need in ``requires``; the runner skips them ("n/a", with the
    reason) for a model or dataset that lacks it."""
    for base in (Dataset, Model):
        if isinstance(obj, base):
            return getattr(type(obj), method, None) is not getattr(base, method, None)
    return callable(getattr(obj, method, None))


def missing_capabilities(requires: Sequence[str], model: object, dataset: object) -> list[str]:
    """The entries of ``requires`` (``"model.METHOD"`` or ``"dataset.METHOD"``) that
    ``model`` or ``dataset`` does not offer (see :func:`capable`)."""
    owners = {"model": model, "dataset": dataset}
    return [r for r in requires
            if not capable(owners[r.partition(".")[0]], r.partition(".")[2])]


def row_noise(seed: int, n: int, shape: Sequence[int], *, stream: int = 0) -> np.ndarray:
    """Standard normal noise ``float32 [n, *shape]`` for the ``n`` rows of a
    :meth:`Model.generate` request: row ``i`` is drawn from ``(seed, stream, i)`` alone, so
    every row gets fresh noise, the same seed gives the same noise, and a row's noise does
    not depend on the other rows of the request (``generate(f[:k], seed=s)`` is the first
    ``k`` rows of ``generate(f, seed=s)``). ``stream`` separates several draws of one
    request (e.g. a sampler's per-step noise)."""
    out = np.empty((int(n), *(int(d) for d in shape)), dtype=np.float32)
    for i in range(int(n)):
        out[i] = np.random.default_rng([int(seed), int(stream), i]).standard_normal(
            out.shape[1:], dtype=np.float32)
    return out


@dataclass
class Recovery:
    """Factors recovered from images by inverse rendering.

    ``factors [N, F]`` (columns follow ``space.names``) are the point of the space whose
    exact render best matches each image; ``residual [N]`` is the root-mean-square pixel
    difference (intensities in [0, 1]) between each image and that render: near 0 for an
    exact render, large for an image that is no member of the family."""

    factors: np.ndarray
    residual: np.ndarray


class Dataset(Configurable):
    """A ground-truth dataset: a latent space, its points, and (usually) a renderer.

    Subclasses set ``name``, take keyword-only parameters, and implement ``space``,
    ``image_shape``, ``factors`` and ``render``. A fixed dataset (no renderer) sets
    ``renderable = False`` and overrides ``load`` instead of ``factors``/``render``.
    """

    renderable: ClassVar[bool] = True
    #: The plain background intensity (every channel) of a dataset whose objects are drawn
    #: on one, else None. Stating it lets judging check that a draw has the object's full
    #: contrast and nothing else drawn (:mod:`zsbench.judging`).
    background: float | None = None

    @property
    def space(self) -> LatentSpace:
        """The named factors with their bounds or values."""
        raise NotImplementedError

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every image."""
        raise NotImplementedError

    def factors(self, *, seed: int) -> np.ndarray:
        """The dataset's points ``[N, F]`` (columns follow ``space.names``), drawn from
        ``seed`` alone."""
        raise NotImplementedError

    def render(self, factors: np.ndarray) -> np.ndarray:
        """Exact images ``[N, C, H, W]`` for any points ``[N, F]`` of the space: uint8, or
        float32 in [0, 1] for a dataset whose pixels are exact floats."""
        raise NotImplementedError(f'dataset "{self.name}" cannot render arbitrary points')

    def recover(self, images: np.ndarray) -> Recovery:
        """Optional capability: inverse rendering. ``images [N, C, H, W]`` float in [0, 1]
        (e.g. a model's reconstructions) -> the :class:`Recovery` of their factors. Offered
        by datasets that can render any point; see :func:`capable`."""
        raise NotImplementedError(f'dataset "{self.name}" cannot recover factors from images')

    def validity_threshold(self, train_images: np.ndarray) -> float:
        """The recovery residual below which an image counts as an image of the family
        (a model's reconstruction or draw; used by ``prior_coverage``,
        ``conditional_generation`` and ``factor_recovery``). The default: the residual of
        the training images' ``[N, C, H, W]`` mean image. That mean is the blur that
        averages the whole family, so an image no closer to some exact render than that
        blur (a blurred generic blob, two shapes superposed) is no valid image of the
        family; the bar depends on the data alone, never on the model. A dataset whose
        objects are small on a plain background (where a blank frame sits closer to the
        faintest render than the mean image does) overrides it, e.g. with half the
        contrast of the faintest object it can draw (``bumps``, ``circles``). Infinite
        without training images."""
        x = np.asarray(train_images)
        if len(x) == 0:
            return float("inf")
        mean = to_float(x).astype(np.float64).mean(axis=0, keepdims=True).astype(np.float32)
        return float(np.asarray(self.recover(mean).residual, dtype=np.float64).reshape(-1)[0])

    def valid(self, recovery: Recovery, threshold: float) -> np.ndarray:
        """``bool [N]``: which images, read back as ``recovery``, are images of the family
        (every validity rule goes through it: factor recovery, prior coverage, conditional
        generation, the emergence curve). The default: a recovery residual below
        ``threshold`` (:meth:`validity_threshold`) and, for a dataset that renders, at most
        :data:`RELATIVE_RESIDUAL_MAX` times the RMS intensity of the render of the recovered
        factors (the bar alone lets thin-line images through: on 64-px polar curves a blank
        frame, residual 0.06, and heavy blur sit below the mean image's 0.11, since a thin
        line holds little ink). A dataset whose objects vary a lot in size overrides it to
        judge each image against the object its recovery found (``circles``)."""
        residual = np.asarray(recovery.residual, dtype=np.float64).reshape(-1)
        ok = residual < threshold
        if not (self.renderable and ok.any()):
            return ok
        factors = np.asarray(recovery.factors, dtype=np.float64)[ok]
        rms = np.empty(len(factors))
        for start in range(0, len(factors), 512):
            x = to_float(self.render(factors[start:start + 512])).astype(np.float64)
            rms[start:start + 512] = np.sqrt((x.reshape(len(x), -1) ** 2).mean(axis=1))
        ok[ok] = residual[ok] <= RELATIVE_RESIDUAL_MAX * rms
        return ok

    @property
    def resolution(self) -> np.ndarray:
        """The smallest change of each factor the data resolves, in factor units,
        ``float64 [F]``: a tolerance ``{ resolution = ... }`` is in these units (one pixel
        for a bump centre, the grid step of gridded data). The default: a discrete factor's
        smallest step between values; NaN (not stated) for a continuous one."""
        return np.array([float(np.min(np.diff(np.sort(f.values)))) if f.values is not None
                         and len(f.values) > 1 else np.nan for f in self.space.factors])

    @property
    def lattice(self) -> np.ndarray:
        """``float64 [F]``: the step of the grid ``low + k * step`` on which the dataset's
        points of a continuous factor lie (1 for integer bump centres), NaN for points drawn
        anywhere in the bounds (the default). Fresh requests (the rim) are drawn on it."""
        return np.full(self.space.dim, np.nan)

    def factor_distance(self, truth: np.ndarray, found: np.ndarray) -> np.ndarray:
        """How far ``found [N, F]`` lies from ``truth [N, F]``, per factor, in factor units:
        ``float64 [N, F]``, 0 where the images cannot tell the two apart. The factor scores
        (``factor_recovery``, ``reachability``) measure recovered factors with it. The
        default is ``|found - truth|``; a dataset whose images show a factor only up to a
        symmetry overrides it (``sprites``: a square's orientation modulo pi/2)."""
        return np.abs(np.asarray(found, dtype=np.float64) - np.asarray(truth, dtype=np.float64))

    def fixed_test(self, n: int) -> np.ndarray | None:
        """Optional: ``bool [n]``, the test rows of the dataset's own ``n`` points when the
        dataset prescribes its split (an experiment's fixed split); the suite's
        ``test_fraction`` is then unused. None (the default): the suite draws the split."""
        return None

    def load(self, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``(factors [N, F] float64, images [N, C, H, W] uint8 or float32 in [0, 1])``."""
        f = self.factors(seed=seed)
        return f, self.render(f)

    def weightings(self) -> dict[str, Weighting]:
        """Named per-sample training weightings: each maps factors ``[N, F]`` to positive
        weights ``[N]``. Models choose one by name with ``weighting = "NAME"``."""
        return {}


class Model(Configurable):
    """A generative model with an encoder and a decoder.

    Images are float32 ``[N, C, H, W]`` in [0, 1]; latents are ``[N, D]``. ``uses_seed``
    is False for a model whose fit is deterministic by design (an exact PCA): the same
    data give the same model whatever the seed (the conformance kit then does not ask two
    seeds for two models). ``stochastic`` is False for a conditional generator whose
    ``generate`` draws no noise.

    A model that learns from the true factors (a conditional generator: a conditional
    decoder, a conditional variational autoencoder, a diffusion model) takes ``factors``
    in ``fit`` (or sets the class attribute ``needs_factors = True``): the runner then
    calls ``fit(images, ..., factors=[N, F])`` with the training images' factors. A model that offers ``generate``
    but no ``encode`` is evaluated through ``generate(factors, seed=...)``: its
    reconstruction of an image is a draw for the image's true factors, and the metrics and
    outputs that need latents (``encode``), a prior (``sample``) or a latent search
    (``invert``) are skipped for it as "n/a".
    """

    uses_seed: ClassVar[bool] = True
    needs_factors: ClassVar[bool] = False
    stochastic: ClassVar[bool] = True
    """For a conditional generator: whether ``generate`` draws noise (two seeds, or a request
    repeated in two rows, give two draws). A deterministic one (a conditional decoder) sets
    False."""
    follows_request: ClassVar[bool] = True
    """For a conditional generator: whether ``generate`` draws what each request asks for.
    A baseline that ignores its request by design (``blank``, the empty frame) sets False;
    the conformance kit then checks that every request gets the same image."""

    def fit(self, images: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            validation: np.ndarray | None = None) -> Model:
        """Train on ``images [N, C, H, W]``, seeded by ``seed`` alone; ``weights [N]``
        scale each sample's loss; ``validation [M, C, H, W]`` may drive early stopping.
        A model with ``needs_factors = True`` also takes ``factors [N, F]``, the true
        factors of ``images``. Returns ``self``."""
        raise NotImplementedError

    def encode(self, images: np.ndarray) -> np.ndarray:
        """Latent means ``[N, D]`` of ``images [N, C, H, W]``."""
        raise NotImplementedError

    def decode(self, latents: np.ndarray) -> np.ndarray:
        """Images ``[N, C, H, W]`` in [0, 1] from ``latents [N, D]``."""
        raise NotImplementedError

    def reconstruct(self, images: np.ndarray) -> np.ndarray:
        """``decode(encode(images))``: ``[N, C, H, W]`` in [0, 1]."""
        return self.decode(self.encode(images))

    def sample(self, n: int, *, seed: int) -> np.ndarray:
        """Optional capability: ``n`` images ``[n, C, H, W]`` in [0, 1] decoded from draws of
        the model's prior, seeded by ``seed`` alone; see :func:`capable`."""
        raise NotImplementedError(f'model "{self.name}" has no prior to sample from')

    def generate(self, factors: np.ndarray, *, seed: int) -> np.ndarray:
        """Optional capability of a conditional generator: images float32 ``[N, C, H, W]``
        in [0, 1] drawn for the requested factors ``[N, F]`` (columns follow the dataset's
        ``space.names``; any point of the space, including the hole), seeded by ``seed``
        alone: the same call gives the same images; every row gets fresh noise (a request
        repeated in several rows gives several draws of a stochastic model, identical rows
        of a deterministic one); a row does not depend on the other rows of the request
        (use :func:`row_noise`). A model that only generates (no ``encode``) is evaluated
        through it: its "reconstruction" of an image is a draw for the image's true
        factors. See :func:`capable`."""
        raise NotImplementedError(f'model "{self.name}" cannot generate from factors')

    def posterior(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Optional capability: the encoder's Gaussian posterior of ``images [N, C, H, W]``
        as ``(mean [N, D], log_variance [N, D])``; ``mean`` equals ``encode(images)``. Used
        for the KL per latent dimension. See :func:`capable`."""
        raise NotImplementedError(f'model "{self.name}" has no Gaussian posterior')

    def invert(self, images: np.ndarray, *, seed: int) -> np.ndarray:
        """Optional capability: for each image ``[N, C, H, W]``, the latent ``[N, D]`` whose
        decoding best reproduces it (e.g. gradient descent from the encoder's mean with a
        fixed budget), seeded by ``seed`` alone; see :func:`capable`."""
        raise NotImplementedError(f'model "{self.name}" cannot search its latent space')

    def check_image_shape(self, image_shape: tuple[int, int, int]) -> None:
        """Optional: raise a :class:`~zsbench.errors.ZsbenchError` (e.g.
        ``PluginParameterError``) when this model, as configured, cannot train on images of
        ``image_shape (C, H, W)``. ``zsbench validate`` calls it before any training; the
        default accepts every shape."""

    def save(self, path: Path) -> None:
        """Write everything ``load`` needs to ``path`` (a file)."""
        raise NotImplementedError

    @classmethod
    def load(cls, path: Path) -> Model:
        """Read a model that ``save`` wrote (safe loading only: no arbitrary pickles)."""
        raise NotImplementedError

    def training_summary(self) -> dict[str, Any]:
        """Facts about the last ``fit`` for the manifest (epochs run, device, final loss)."""
        return {}


@dataclass(frozen=True)
class Score:
    """One named metric value and the direction in which it improves.

    ``headline`` scores are the leaderboard's default columns.

    **Uncertainty.** A score that is a mean over items (images, prior draws, transect
    points) hands the runner its per-item values, and the runner computes a 95 % bootstrap
    interval over them (:mod:`zsbench.intervals`), stores the interval in ``metrics.json``
    and the values in the run folder (``items/LABEL-seedN.npz``), so that the leaderboard
    can combine seeds (a stratified bootstrap) and ``zsbench compare``/``check`` can pair
    two runs image by image. Declare at most one of:

    - ``items``: float ``[N]``, one value per item, whose mean is ``value``. NaN marks an
      item that does not count (e.g. the factor error of an image that is no image of the
      family): ``value`` is then the mean of the finite items. Keep the items in the
      split's own order, one per image (NaN, not dropped), so two runs line up.
    - ``ratio_of``: ``(numerator_items, denominator_items)``, two groups of different items
      (e.g. hole and rim images), ``value = nanmean(num) / nanmean(den)``; each group is
      resampled on its own.
    - ``difference_of``: ``(a_items, b_items)``, likewise, ``value = nanmean(a) -
      nanmean(b)``.

    A score with none of them (a percentile, a correlation, a count of units) gets an
    interval over seeds only (a t interval, with two seeds or more) or none; the
    leaderboard and ``metrics.json`` say which (``interval``: ``bootstrap``,
    ``seeds`` or ``none``). A conditional-generation score that averages several draws per
    request gives one item per draw (``samples`` consecutive draws per request, NaN for an
    invalid draw where the score covers valid draws only) and its request in ``clusters``
    (int ``[N]``, one id per item; a pair of them for ``ratio_of``/``difference_of``): the
    intervals then resample whole requests, since draws of one request are not independent.

    **Ranking.** ``target``: the value that is best (e.g. 1.0 for a hole/rim ratio: "as good
    in the hole as next to it"); the leaderboard then ranks by the distance to it, and
    ``compare`` calls a change worse when it moves away from it. ``control``: ``(score
    name, limit)``, a score of the same job that must be at least as good as ``limit`` (in
    its own direction) for this one to mean anything, e.g. ``("rim_fail_rate", 0.5)``
    for a hole/rim ratio: a model whose control fails is shown "control failed" in that
    column and is never marked best; a model without the control score is ranked as
    usual."""

    value: float
    higher_is_better: bool
    headline: bool = False
    items: np.ndarray | None = field(default=None, compare=False, repr=False)
    ratio_of: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False,
                                                           repr=False)
    difference_of: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False,
                                                                repr=False)
    target: float | None = None
    control: tuple[str, float] | None = None
    clusters: np.ndarray | tuple[np.ndarray | None, np.ndarray | None] | None = field(
        default=None, compare=False, repr=False)


def to_float(images: np.ndarray) -> np.ndarray:
    """Images ``[N, C, H, W]`` as models see them: uint8 -> float32 in [0, 1] (divided by
    255); float input is passed through as float32."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    return x.astype(np.float32, copy=False)


@dataclass
class Split:
    """Points of one split: ``factors [N, F]``, ``images [N, C, H, W]`` float32 in [0, 1],
    ``depth [N]`` signed depth into the holdout (positive inside; None without a holdout)."""

    factors: np.ndarray
    images: np.ndarray
    depth: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.factors)


@dataclass
class TransectEval:
    """A transect rendered and run through the model: ``t [P]``, ``factors [P, F]``,
    ``images``/``reconstructions [P, C, H, W]``, ``latents [P, D]``, ``in_hole [P]``."""

    name: str
    t: np.ndarray
    factors: np.ndarray
    images: np.ndarray
    reconstructions: np.ndarray
    latents: np.ndarray
    in_hole: np.ndarray


class SharedValues(Mapping[str, Any]):
    """Costly values derived from an :class:`EvalContext`'s inputs (recovered factors,
    reachable latents, prior samples, bootstrap resampling counts), computed once and
    shared by every metric and output of a job. It grows only through :meth:`value`; read
    it like a mapping (``key in ctx.memo``)."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = dict(values or {})

    def value(self, key: str, compute: Callable[[], Any]) -> Any:
        """The value under ``key``, from ``compute()`` the first time it is asked for."""
        if key not in self._values:
            self._values[key] = compute()
        return self._values[key]

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


@dataclass
class EvalContext:
    """Everything metrics and outputs read, computed once per trained model: the inputs
    of their pure ``compute``/``write``, and ``memo``, the values derived from them that
    the job's metrics and outputs share (see :meth:`cached`).

    ``splits`` has "train", "test" (held out, outside the hole), "hole" (inside; absent
    without a holdout) and "rim" (fresh points just outside the hole at the hole's depths
    mirrored outward: the hole's control; only with a holdout and a renderer);
    ``latents[s]`` is ``[N, D]`` (absent for a model without ``encode``) and
    ``reconstructions[s]`` is ``[N, C, H, W]`` for each split ``s``, computed when first
    read (the runner's mappings are :class:`~zsbench.lazy.LazySplits`: ``s in ctx.latents``
    costs nothing, so read a split only when its values are used). ``training`` holds the
    facts of the model's training (the manifest's; a conditional generator's
    ``"emergence"`` curve among them). The runner hands the latents and reconstructions
    over read-only: a metric that wrote into them would change what the next one reads;
    what metrics derive and share goes through :meth:`cached` into ``memo``. ``judging``:
    the suite's one rule for judging draws (:class:`zsbench.judging.Judging`)."""

    dataset: Dataset
    space: LatentSpace
    model: Model
    label: str
    seed: int
    splits: dict[str, Split]
    latents: Mapping[str, np.ndarray]
    reconstructions: Mapping[str, np.ndarray]
    transects: list[TransectEval] = field(default_factory=list)
    holdout: Region | None = None
    training: dict[str, Any] = field(default_factory=dict)
    judging: Judging = field(default_factory=Judging)
    memo: SharedValues = field(default_factory=SharedValues, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.memo, SharedValues):  # a plain mapping given (e.g. {})
            self.memo = SharedValues(self.memo)

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per context under ``key``: costly derived values (recovered
        factors, reachable latents, prior samples) are shared by every metric and output."""
        return self.memo.value(key, compute)


@dataclass(frozen=True)
class SuitePlan:
    """What a suite will hand its metrics and outputs, known before any training: the
    dataset's ``space``, the names of the ``splits`` a run will have and of its
    ``transects``."""

    space: LatentSpace
    splits: tuple[str, ...]
    transects: tuple[str, ...] = ()


class Metric(Configurable):
    """A pure function of an :class:`EvalContext` returning named :class:`Score` values.

    ``factor_parameters`` and ``split_parameters`` list the constructor parameters whose
    values name factors of the dataset (a name, a list of names, or a table keyed by names)
    or splits ("train", "test", "hole", ...): the suite checks them before any training.

    ``requires`` names the optional capabilities ``compute`` needs, as ``"model.METHOD"``
    or ``"dataset.METHOD"`` (e.g. ``("model.encode",)`` for a score of the latents,
    ``("model.generate", "dataset.recover")`` for a conditional score; see
    :func:`capable`): for a model or dataset that lacks one, the runner does not call
    ``compute`` and records the metric as skipped ("n/a") with the reason, which is no
    failure. A :class:`~zsbench.errors.MissingCapability` raised by ``compute`` is
    recorded the same way."""

    factor_parameters: ClassVar[tuple[str, ...]] = ()
    split_parameters: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()

    def score_names(self, plan: SuitePlan) -> Sequence[str] | None:
        """Optional: the names of every score ``compute`` may return for a suite described by
        ``plan`` (shell patterns such as ``"pca_var_*"`` allowed), so that leaderboard
        columns, sort keys and tolerances naming a score are checked before training. The
        default, None, means "not declared": names are then not checked against this
        metric."""
        return None

    def compute(self, ctx: EvalContext) -> dict[str, Score]:
        raise NotImplementedError


class Output(Configurable):
    """Writes files (pictures, tables) about one trained model into a folder.

    ``factor_parameters``, ``split_parameters`` and ``requires``: as for :class:`Metric`."""

    factor_parameters: ClassVar[tuple[str, ...]] = ()
    split_parameters: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()

    def write(self, ctx: EvalContext, directory: Path) -> list[Path]:
        """Write into ``directory`` (it exists) and return the paths written."""
        raise NotImplementedError


@dataclass(frozen=True)
class ExecutorOption:
    """One ``zsbench run`` option of an executor, declared in its ``cli_options``:
    ``FLAG VALUE`` sets the constructor parameter ``parameter`` to ``type(VALUE)``, as
    ``parameter = VALUE`` in the suite's ``[executor]`` table would (the flag wins).

    ``flag`` starts with ``--`` (e.g. ``"--num-gpus"``); ``type`` converts the text
    (``str``, ``int``, ``float``); ``help`` is the line ``zsbench run --help`` shows. Several
    executors may declare one flag when they mean the same by it (same ``parameter`` and
    ``type``, as ``--workers`` of pool and process); the same flag with another parameter or
    type is an error naming both plugins, and so is a flag of ``zsbench run`` itself. The
    flag given with an executor that does not declare it is refused."""

    flag: str
    parameter: str
    type: Callable[[str], Any] = str
    help: str = ""


class Executor(Configurable):
    """Runs model x seed jobs, in this process or elsewhere, and hands back each result.

    ``task(job) -> JobResult`` is picklable and never raises for a failing model; an
    executor must also turn a job whose worker died into a failed ``JobResult`` (see
    :func:`zsbench.jobs.failed_result`). Results may arrive in any order."""

    cli_options: ClassVar[tuple[ExecutorOption, ...]] = ()
    """The ``zsbench run`` options that set this executor's parameters (see
    :class:`ExecutorOption`); ``zsbench run --help`` lists them under "NAME executor
    options". Default: none (the suite's ``[executor]`` table still sets every parameter)."""

    def layout(self, n_jobs: int, threads: int | None, *, portable: bool = True) -> Layout:
        """How this executor lays ``n_jobs`` jobs on the machine: jobs side by side and
        torch threads per job (``threads``, or None to choose). ``portable`` is False when
        the plugins were registered in code and cannot be imported by another process. The
        runner records the layout and runs every job with its ``threads``. Default: one
        job at a time, ``threads`` or 1."""
        return Layout(workers=1, threads=threads or 1, cores=plan_layout(1).cores)

    def map(self, jobs: Sequence[Job], task: Callable[[Job], JobResult],
            on_result: Callable[[Job, JobResult], None]) -> None:
        raise NotImplementedError


PLUGIN_KINDS: Mapping[str, type[Configurable]] = {
    "dataset": Dataset,
    "model": Model,
    "metric": Metric,
    "output": Output,
    "executor": Executor,
}
