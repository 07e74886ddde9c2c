"""The runner: dataset -> splits -> for each model x seed: train, evaluate, record.

The unit of work is a :class:`Job` (one model configuration and one seed); ``run_job`` turns
it into a :class:`JobResult` and never raises for a failing model: the failure is recorded
and the other jobs go on.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import zsbench
from zsbench.cache import Cache, code_hash, content_key
from zsbench.draws import check_outputs, check_seeding, generate_checked, judge_scores
from zsbench.emergence import EmergenceMonitor
from zsbench.errors import DataError, MissingCapability, SuiteError, ZsbenchError
from zsbench.jobs import Job, JobResult, failed_result
from zsbench.lazy import LazySplits, record_on_demand
from zsbench.names import instance_names
from zsbench.judging import Judging
from zsbench.plugin import (
    Dataset,
    EvalContext,
    Model,
    Split,
    TransectEval,
    capable,
    missing_capabilities,
    needs_factors,
    to_float,
)
from zsbench.regions import rim_points
from zsbench.registry import Registry
from zsbench.seeds import derive_seed
from zsbench.torch_env import deterministic_algorithms, torch_threads
from zsbench.splits import SPLIT_NAMES, split_indices
from zsbench.suite import Suite, describe_split_problem, file_safe

#: Seed stream of the rim split (drawn from ``[data_seed, RIM_STREAM]``, so adding the rim
#: leaves every other split as it was).
RIM_STREAM = 0x5249_4D
logger = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """The dataset cut into splits, with the transects rendered. Shared by every job."""

    dataset: Dataset
    splits: dict[str, Split]
    transects: list[TransectEval]
    counts: dict[str, int]
    judging: Judging = field(default_factory=Judging)  # the suite's one rule for draws
    #: over-prompted hole requests the emergence monitor asks beside the plain ones: the
    #: ``monitor_prompts()`` of the suite's metrics that offer it (``over_prompting``)
    prompts: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    @property
    def space(self) -> Any:
        return self.dataset.space


def dataset_key(suite: Suite, registry: Registry) -> str:
    """Content key of the suite's dataset: plugin, its version and code, parameters, seed."""
    info = registry.get("dataset", suite.dataset.plugin)
    return content_key({"plugin": info.name, "code": code_hash(info.cls),
                        "distribution": info.distribution,
                        "version": info.version, "params": suite.dataset.params,
                        "seed": suite.data_seed, **_dependencies(info.cls)})


def model_key(suite: Suite, registry: Registry, job: Job) -> str:
    """Content key of a trained model: everything that decides its weights."""
    import torch

    info = registry.get("model", job.plugin)
    return content_key({"dataset": dataset_key(suite, registry), "code": code_hash(info.cls),
                        "splits": suite.config.get("splits", {}),
                        "holdout": suite.config.get("holdout", []),
                        "model": job.plugin, "distribution": info.distribution,
                        "version": info.version, "params": job.params,
                        "weighting": job.weighting, "seed": job.seed,
                        "torch": torch.__version__, "zsbench": zsbench.__version__,
                        **_dependencies(info.cls)})


def _dependencies(cls: type) -> dict[str, Any]:
    """The declared dependencies' versions for a cache key (nothing when none are declared,
    so that the keys of other plugins stay as they were)."""
    deps = cls.dependencies() if hasattr(cls, "dependencies") else {}
    return {"dependencies": deps} if deps else {}


@contextlib.contextmanager
def _naming_the_suite(suite: Suite) -> Iterator[None]:
    """A :class:`DataError` of the dataset while loading (a missing file, a wrong path) as a
    :class:`SuiteError` that names the suite file and its ``[dataset]`` table."""
    try:
        yield
    except DataError as exc:
        problem, _, fix = str(exc).partition(" Fix: ")
        raise SuiteError(suite.path, "dataset", problem,
                         fix or "correct the [dataset] table (e.g. its path), or provide the "
                         "file it names.") from exc


def prepare_data(suite: Suite, registry: Registry, *, render: bool = True,
                 cache: Cache | None = None) -> PreparedData:
    """Load the dataset and split it: the hole is every point inside the holdout; of the
    rest, ``test_fraction`` is held out as "test", ``validation_fraction`` as "validation",
    and the remainder trains. A renderable dataset with a hole also gets a "rim" split of
    fresh points just outside the hole (see :func:`rim_factors`), rendered exactly and never
    trained on. Deterministic from ``suite.data_seed``. With ``render=False``
    only factors are computed (for validation) where the dataset allows it."""
    dataset: Dataset = registry.create("dataset", suite.dataset.plugin, suite.dataset.params)
    space = dataset.space
    with _naming_the_suite(suite):
        if render or not dataset.renderable:
            key = dataset_key(suite, registry) if cache is not None else ""
            found = cache.load_dataset(key) if cache is not None else None
            if found is not None:
                factors, images = found
            else:
                factors, images = dataset.load(seed=suite.data_seed)
                if cache is not None:
                    cache.save_dataset(key, np.asarray(factors), np.asarray(images),
                                       f"dataset {suite.dataset.plugin} "
                                       f"{suite.dataset.params} seed {suite.data_seed}")
        else:
            factors, images = dataset.factors(seed=suite.data_seed), None
    factors = np.asarray(factors, dtype=np.float64)
    n = len(factors)
    cut = split_indices(factors, suite.holdout, space,
                        test_fraction=suite.splits.test_fraction,
                        validation_fraction=suite.splits.validation_fraction,
                        seed=suite.data_seed, fixed_test=dataset.fixed_test(n))
    index, depth = cut.index, cut.depth
    index.setdefault("hole", np.zeros(0, dtype=np.int64))
    describe_split_problem(suite, n, len(index["hole"]), len(index["train"]))
    splits: dict[str, Split] = {}
    for name in SPLIT_NAMES:
        if name == "rim":
            continue
        idx = index[name]
        if name == "hole" and suite.holdout is None:
            continue
        if name == "validation" and len(idx) == 0:
            continue
        imgs = to_float(images[idx]) if images is not None else np.empty((len(idx), 0, 0, 0),
                                                                        np.float32)
        splits[name] = Split(factors=factors[idx], images=imgs,
                             depth=None if depth is None else depth[idx])
    rim = (rim_factors(suite, space, depth[index["hole"]], lattice=dataset.lattice)
           if dataset.renderable and depth is not None else None)
    if rim is not None and len(rim):
        rim_depth = suite.holdout.depth(rim, space)
        rim_images = (to_float(dataset.render(rim)) if render
                      else np.empty((len(rim), 0, 0, 0), np.float32))
        splits["rim"] = Split(factors=rim, images=rim_images, depth=rim_depth)
    transects = []
    if render:
        for t in suite.transects:
            in_t = (suite.holdout.contains(t.points, space) if suite.holdout is not None
                    else np.zeros(len(t.points), dtype=bool))
            transects.append(TransectEval(name=t.name, t=t.t, factors=t.points,
                                          images=to_float(dataset.render(t.points)),
                                          reconstructions=np.empty(0), latents=np.empty(0),
                                          in_hole=in_t))
    counts = {name: len(s) for name, s in splits.items()}
    counts["total"] = n
    prompts = {k: v for m in suite.metrics for k, v in getattr(
        registry.create("metric", m.plugin, m.params), "monitor_prompts", dict)().items()}
    return PreparedData(dataset=dataset, splits=splits, transects=transects, counts=counts,
                        judging=suite.judging, prompts=prompts)


def rim_factors(suite: Suite, space: Any, hole_depth: np.ndarray | None, *,
                lattice: np.ndarray | None = None) -> np.ndarray | None:
    """The suite's "rim" control split ``[M, F]`` (see :func:`zsbench.regions.rim_points`),
    drawn from the seed stream ``[data_seed, RIM_STREAM]`` (on the dataset's ``lattice``)
    and capped by ``splits.rim_points``. None without a holdout, a hole or with
    ``rim_points = 0``."""
    if suite.holdout is None or hole_depth is None or len(hole_depth) == 0:
        return None
    if suite.splits.rim_points == 0:
        return None
    rng = np.random.default_rng([int(suite.data_seed), RIM_STREAM])
    return rim_points(suite.holdout, space, hole_depth, rng=rng, cap=suite.splits.rim_points,
                      lattice=lattice)


def jobs_of(suite: Suite, seeds: list[int] | None = None) -> list[Job]:
    """Every model x seed of the suite, models outermost."""
    return [Job(label=m.label, plugin=m.plugin, params=dict(m.params), weighting=m.weighting,
                seed=s) for m in suite.models for s in (seeds or suite.seeds)]


def evaluate(model: Model, data: PreparedData, *, label: str, seed: int,
             holdout: Any, training: dict[str, Any] | None = None) -> EvalContext:
    """The evaluation context of a trained model: each split's latents and reconstructions
    computed when a metric or output first reads them (``ctx.latents[split]``), once, and
    shared by every later reader (:class:`~zsbench.lazy.LazySplits`; a split nobody reads
    costs nothing); the transects (a few points each) at once. A conditional generator
    without an encoder is evaluated from the true factors instead: its reconstruction of an
    image is ``generate`` of the image's factors (seeded per split from the job's seed) and
    it has no latents (``ctx.latents`` is empty; transects get ``[P, 0]``), so the metrics
    that read latents do not apply to it; a metric that scores a subset of a split's rows
    (``ctx.reconstructions.rows``) has only those drawn, with the split's seed. ``training``:
    the facts of the model's training. Latents and reconstructions are handed over
    read-only, each checked (one finite row per input) when computed."""
    from_factors = not capable(model, "encode")
    if from_factors and not capable(model, "generate"):
        raise ZsbenchError(f'model "{label}" offers neither `encode` (an autoencoder) nor '
                           "`generate` (a conditional generator), so it cannot be evaluated. "
                           "Fix: implement one of them (see docs/plugins.md).")

    if from_factors:  # at once, before any metric asks: draws of the right kind, seeded
        check_seeding(model, data.splits, label=label, seed=derive_seed(seed, "seed-check"))

    def draws(images: np.ndarray, factors: np.ndarray, part: str) -> np.ndarray:
        draw_seed, shape = derive_seed(seed, f"reconstruct:{part}"), images.shape[1:]
        return generate_checked(model, factors, seed=draw_seed, label=label,
                                image_shape=shape, what=f"generate on {part}")

    def latents_of(name: str) -> np.ndarray:
        z = np.asarray(model.encode(data.splits[name].images))
        check_outputs(label, f"encode on {name}", z, len(data.splits[name]))
        return z

    def reconstruction_of(name: str) -> np.ndarray:
        split = data.splits[name]
        if from_factors:
            r = draws(split.images, split.factors, name)
        else:
            r = np.asarray(model.decode(latents[name]), dtype=np.float32)
        check_outputs(label, f"generate on {name}" if from_factors else f"decode on {name}",
                      r, len(split))
        return r

    def draws_of_rows(name: str, rows: np.ndarray) -> np.ndarray:
        split = data.splits[name]
        return draws(split.images[rows], split.factors[rows], name)  # checked by draws

    full = [name for name, split in data.splits.items() if len(split)]
    empty = [name for name, split in data.splits.items() if not len(split)]
    sizes = {name: len(split) for name, split in data.splits.items()}
    latents = LazySplits(full, latents_of, ready={n: np.zeros((0, 0)) for n in empty})
    recons = LazySplits(full, reconstruction_of,
                        ready={n: data.splits[n].images.copy() for n in empty},
                        compute_rows=draws_of_rows if from_factors else None, sizes=sizes)
    transects = []
    for t in data.transects:
        if from_factors:
            z, r = np.zeros((len(t.factors), 0)), draws(t.images, t.factors,
                                                        f"transect:{t.name}")
        else:
            z = np.asarray(model.encode(t.images))
            r = np.asarray(model.decode(z), dtype=np.float32)
        transects.append(TransectEval(name=t.name, t=t.t, factors=t.factors, images=t.images,
                                      reconstructions=r, latents=z, in_hole=t.in_hole))
    return EvalContext(dataset=data.dataset, space=data.dataset.space, model=model,
                       label=label, seed=seed, splits=data.splits,
                       latents={} if from_factors else latents,
                       reconstructions=recons, transects=transects, holdout=holdout,
                       training=dict(training or {}), judging=data.judging)


def _fit_extras(model: Model, data: PreparedData,
                seed: int) -> tuple[dict[str, Any], EmergenceMonitor | None]:
    """The keywords beyond the images that ``model.fit`` takes: ``factors`` (the training
    images' true factors) for a model that :func:`needs_factors`, ``space`` (the dataset's
    latent space) and ``monitor`` (an :class:`EmergenceMonitor` of the hole and rim, when
    the run has both and the dataset can recover) when its ``fit`` names them."""
    accepted = inspect.signature(model.fit).parameters
    extra: dict[str, Any] = {}
    if needs_factors(model):
        extra["factors"] = data.splits["train"].factors
    if "space" in accepted:
        extra["space"] = data.dataset.space
    monitor = None
    if "monitor" in accepted:
        monitor = EmergenceMonitor.for_splits(data.dataset, data.splits, seed=seed,
                                              judging=data.judging)
        if monitor is not None:
            monitor.prompts = dict(data.prompts)
        extra["monitor"] = monitor
    return extra, monitor


def run_job(job: Job, data: PreparedData, suite: Suite, registry: Registry,
            run_dir: Path | None, *, cache: Cache | None = None) -> JobResult:
    """Train (or take from the cache), checkpoint, evaluate and score one job. Never
    raises for a failing model; its problems are logged as warnings."""
    result = JobResult(label=job.label, plugin=job.plugin, seed=job.seed, status="ok")
    t0 = time.perf_counter()
    stage = "creating"  # what the job was doing, for the error of a failed one
    try:
        model: Model = registry.create("model", job.plugin, job.params)
        savable = capable(model, "save")
        key = model_key(suite, registry, job) if cache is not None and savable else ""
        model, from_cache = _load_cached(model, key, cache, job, result)
        if not from_cache:
            weights, validation = _training_inputs(job, data)
            stage = "training"
            _fit(model, job, data, weights, validation, result)
            if cache is not None and savable:
                stage = "caching"
                cache.save_model(key, model.save, f"model {job.key} ({job.plugin})",
                                 result.training)
        result.timings["train_s"] = time.perf_counter() - t0
        if not savable:
            result.skipped["checkpoint"] = (f'model "{job.plugin}" offers no `save`: no '
                                            "checkpoint, and it is not cached")
        elif run_dir is not None:
            stage = "saving"
            _save_checkpoint(model, job, run_dir, result)
        stage = "evaluating"
        ctx = _evaluate_job(model, job, data, suite, result)
    except Exception as exc:  # a failing model must not take the others down
        result.status = "failed"
        result.error = f"{stage}: {type(exc).__name__}: {exc}" if not isinstance(
            exc, ZsbenchError) else f"{stage}: {exc}"
        result.detail = traceback.format_exc()
        result.timings["total_s"] = time.perf_counter() - t0
        return result
    _compute_metrics(ctx, suite, registry, run_dir, result)
    if run_dir is not None and suite.outputs:
        _write_outputs(ctx, job, suite, registry, run_dir, result)
    result.timings["total_s"] = time.perf_counter() - t0
    judge_scores(result, len(suite.metrics))
    record_on_demand((ctx.latents, ctx.reconstructions), result)
    return result  # its warnings are logged where the result arrives (run.on_result)


def _load_cached(model: Model, key: str, cache: Cache | None, job: Job,
                 result: JobResult) -> tuple[Model, bool]:
    """The model the cache holds under ``key`` (its training facts in ``result.training``)
    and True; else ``model`` and False (no key, no entry, or a corrupt entry: removed,
    with a warning)."""
    if not key or cache is None:
        return model, False
    warn, cache.warn = cache.warn, result.warnings.append  # told where the result arrives
    try:
        cached = cache.model_file(key)
    finally:
        cache.warn = warn
    if cached is None:
        return model, False
    try:
        model = type(model).load(cached[0])
        result.training = {**cached[1], "from_cache": True}
    except Exception as exc:
        result.warnings.append(f"cache entry models/{key[:12]} ({job.key}) is corrupt: it "
                               f"could not be loaded ({type(exc).__name__}: {exc}); removed, "
                               "and the model is trained again")
        cache.discard_model(key)
        return model, False
    return model, True


def _training_inputs(job: Job, data: PreparedData) -> tuple[np.ndarray | None, Split | None]:
    """The job's per-sample weights of the training images ``[N]`` (None without a
    weighting) and the validation split (None without one)."""
    weights = None
    if job.weighting is not None:
        weights = data.dataset.weightings()[job.weighting](data.splits["train"].factors)
    return weights, data.splits.get("validation")


def _fit(model: Model, job: Job, data: PreparedData, weights: np.ndarray | None,
         validation: Split | None, result: JobResult) -> None:
    """Train ``model`` on the training split (and ``validation``'s images); its training
    facts, and its emergence curve when it was monitored, go to ``result.training``."""
    extra, monitor = _fit_extras(model, data, job.seed)
    if monitor is not None:
        monitor.label = job.label
    model.fit(data.splits["train"].images, seed=job.seed, weights=weights,
              validation=None if validation is None else validation.images, **extra)
    result.training = {**model.training_summary(), "from_cache": False}
    if monitor is not None and monitor.curve:
        result.training["emergence"] = monitor.record()


def _save_checkpoint(model: Model, job: Job, run_dir: Path, result: JobResult) -> None:
    """Save the model to ``RUN_DIR/checkpoints/LABEL-seedN.pt`` and list the file."""
    ckpt = run_dir / "checkpoints" / f"{_safe(job.label)}-seed{job.seed}.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    model.save(ckpt)
    result.files.append(str(ckpt.relative_to(run_dir)))


def _evaluate_job(model: Model, job: Job, data: PreparedData, suite: Suite,
                  result: JobResult) -> EvalContext:
    """:func:`evaluate` the model (each split's latents and reconstructions are computed,
    and checked, when first read)."""
    t1 = time.perf_counter()
    ctx = evaluate(model, data, label=job.label, seed=job.seed, holdout=suite.holdout,
                   training=result.training)
    result.timings["evaluate_s"] = time.perf_counter() - t1
    return ctx


def _compute_metrics(ctx: EvalContext, suite: Suite, registry: Registry,
                     run_dir: Path | None, result: JobResult) -> None:
    """Every metric that applies: its scores recorded (under its instance name), or why not."""
    t2 = time.perf_counter()
    names = instance_names([spec.plugin for spec in suite.metrics])
    for spec, name in zip(suite.metrics, names):
        metric = _applicable(registry, "metric", spec, ctx, result, name)
        if metric is None:
            continue
        try:
            _record_scores(result, ctx, name, metric.compute(ctx), run_dir)
        except MissingCapability as exc:
            result.skipped[f"metric {name}"] = exc.message
        except Exception as exc:
            _failed(result, "metric", name, exc)
    result.timings["metrics_s"] = time.perf_counter() - t2


def _write_outputs(ctx: EvalContext, job: Job, suite: Suite, registry: Registry,
                   run_dir: Path, result: JobResult) -> None:
    """Every output of the suite that applies, into ``RUN_DIR/pictures/LABEL/seedN``: its
    files listed, or why it was skipped or failed."""
    t3 = time.perf_counter()
    folder = run_dir / "pictures" / _safe(job.label) / f"seed{job.seed}"
    folder.mkdir(parents=True, exist_ok=True)
    for spec in suite.outputs:
        out = _applicable(registry, "output", spec, ctx, result, spec.plugin)
        if out is None:
            continue
        try:
            for p in out.write(ctx, folder):
                result.files.append(str(Path(p).relative_to(run_dir)))
        except MissingCapability as exc:
            result.skipped[f"output {spec.plugin}"] = exc.message
        except Exception as exc:
            _failed(result, "output", spec.plugin, exc)
    result.timings["outputs_s"] = time.perf_counter() - t3


def _record_scores(result: JobResult, ctx: EvalContext, metric: str,
                   scores: dict[str, Any], run_dir: Path | None) -> None:
    """Record a metric's scores in ``result.scores``, each with its 95 % bootstrap interval
    over items (``lo``, ``hi``; ``interval`` "bootstrap") when it declares per-item values
    (:class:`~zsbench.plugin.Score`), else ``interval`` "none" (the leaderboard may add one
    over seeds). Resamples are seeded from the job's seed (:func:`zsbench.intervals.group_seed`)
    and shared by the metrics of the job through ``ctx.memo``. The per-item values go to
    ``RUN_DIR/items/LABEL-seedN/METRIC.npz`` for the leaderboard and ``compare``."""
    from zsbench import intervals
    from zsbench.results import write_items

    named: dict[str, intervals.Items] = {}
    records: dict[str, dict[str, Any]] = {}
    for name, score in scores.items():
        value = float(score.value)
        rec: dict[str, Any] = {"value": value,
                               "higher_is_better": bool(score.higher_is_better),
                               "headline": bool(score.headline), "metric": metric,
                               "lo": None, "hi": None, "interval": "none", "n": None}
        if getattr(score, "target", None) is not None:
            rec["target"] = float(score.target)
        if getattr(score, "control", None) is not None:
            rec["control"] = [str(score.control[0]), float(score.control[1])]
        try:
            items = intervals.items_of(score)
        except ValueError as exc:
            result.warnings.append(f'metric "{metric}": score "{name}": {exc}; no interval')
            items = None
        if items is not None and np.isfinite(value):
            stat = items.statistic()
            if not (np.isfinite(stat) and abs(stat - value) <= 1e-9 * max(1.0, abs(value))):
                result.warnings.append(
                    f'metric "{metric}": score "{name}": its per-item values give {stat!r}, '
                    f"not its value {value!r}; no interval")
            else:
                named[name] = items
                rec["n"] = items.n
        records[name] = rec
    if named:
        cache = ctx.memo.value("bootstrap:counts", dict)
        for name, (lo, hi) in intervals.job_intervals(named, ctx.seed,
                                                      counts_cache=cache).items():
            if np.isfinite(lo) and np.isfinite(hi):
                records[name].update(lo=lo, hi=hi, interval="bootstrap")
        if run_dir is not None:
            arrays: dict[str, np.ndarray] = {}
            for name, it in named.items():
                arrays.update(it.arrays(name))
            path = write_items(run_dir, result.label, result.seed, metric, arrays)
            result.files.append(str(path.relative_to(run_dir)))
    result.scores.update(records)


def _applicable(registry: Registry, kind: str, spec: Any, ctx: EvalContext,
                result: JobResult, name: str) -> Any:
    """The metric or output of ``spec``, or None when it does not apply (a capability it
    ``requires`` is missing) or cannot be built; either recorded under ``name`` (a
    metric's instance name, an output's plugin) in ``result.skipped`` or as a failure."""
    try:
        plugin = registry.create(kind, spec.plugin, spec.params)
    except Exception as exc:
        _failed(result, kind, name, exc)
        return None
    missing = missing_capabilities(getattr(plugin, "requires", ()), ctx.model, ctx.dataset)
    if missing:
        what = ", ".join(f"`{m.partition('.')[2]}`" for m in missing)
        owner = missing[0].partition(".")[0]
        whose = ctx.model.name if owner == "model" else ctx.dataset.name
        result.skipped[f"{kind} {name}"] = (
            f'needs {owner} "{whose}" to offer {what}' if len({m.partition(".")[0] for m in missing}) == 1
            else f"needs {', '.join(missing)}")
        return None
    return plugin


def _failed(result: JobResult, kind: str, name: str, exc: BaseException) -> None:
    """Record that metric or output ``name`` failed: ``result.failures`` (structured) and a
    warning line."""
    message = f"{type(exc).__name__}: {exc}"
    result.failures[f"{kind} {name}"] = message
    result.warnings.append(f'{kind} "{name}" failed: {message}')


@dataclass
class JobTask:
    """The picklable work an executor hands to its workers: ``task(job) -> JobResult``.

    It carries the validated ``suite`` itself (pickled with the task, about 10 kB): a
    worker process neither reads the suite file again nor validates it again (which builds
    every plugin). It rebuilds the registry (plus ``plugin_modules``, modules registered
    in code) and the prepared data once, from the dataset cache when there is one; in the
    driver's own process ``attach`` hands them over directly. Every job runs with
    ``threads`` torch threads and deterministic algorithms, whatever the executor;
    ``workers`` is how many jobs the run's layout puts side by side."""

    suite: Suite
    run_dir: str | None
    cache_root: str | None
    plugin_modules: list[str] = field(default_factory=list)
    threads: int = 1
    workers: int = 1

    def __post_init__(self) -> None:
        self._state: tuple[Suite, Registry, PreparedData, Cache | None] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_state"] = None
        return state

    def attach(self, suite: Suite, registry: Registry, data: PreparedData,
               cache: Cache | None) -> JobTask:
        self._state = (suite, registry, data, cache)
        return self

    def state(self) -> tuple[Suite, Registry, PreparedData, Cache | None]:
        if self._state is None:
            import importlib

            registry = Registry(extra=[importlib.import_module(m) for m in self.plugin_modules])
            suite = self.suite
            cache = Cache(Path(self.cache_root), warn=logger.warning) if self.cache_root else None
            data = prepare_data(suite, registry, cache=cache)
            self._state = (suite, registry, data, cache)
        return self._state

    def __call__(self, job: Job) -> JobResult:
        try:
            suite, registry, data, cache = self.state()
        except Exception as exc:
            return failed_result(job, f"preparing the worker: {type(exc).__name__}: {exc}",
                                 traceback.format_exc())
        with torch_threads(max(1, int(self.threads))), deterministic_algorithms():
            return run_job(job, data, suite, registry,
                           Path(self.run_dir) if self.run_dir else None, cache=cache)


_safe = file_safe


@dataclass
class RunInfo:
    """What observer hooks see of a run."""

    suite: Suite
    run_dir: Path | None
    jobs: list[Job]
    started: float = field(default_factory=time.time)

