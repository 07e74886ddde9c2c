"""Suites: TOML files that say which dataset, holdouts, transects, models, metrics and
outputs a run uses. ``load_suite`` reads, applies a profile and validates everything it can
before any training starts; every problem is a :class:`SuiteError` naming the file, the key
and what was expected.

The schema constants and name helpers live in :mod:`zsbench.names`, holdout regions and
transects in :mod:`zsbench.suite_regions`, profiles and sweeps in :mod:`zsbench.profiles`;
this module re-exports their public names.
"""
from __future__ import annotations

import copy
import fnmatch
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from zsbench.cache import content_key
from zsbench.errors import (
    PluginParameterError,
    SuiteError,
    ZsbenchError,
    did_you_mean_hint,
)
from zsbench.names import (
    BYTES_PER_PIXEL,
    LEADERBOARD_KEYS,
    MODEL_RESERVED,
    PLAIN_NAME,
    SECTIONS,
    SPLIT_KEYS,
    SUITE_KEYS,
    TRANSECT_KEYS,
    file_safe,
    plain_name,
)
from zsbench.plugin import Dataset, Metric, SuitePlan
from zsbench.profiles import _apply_profile, _sweep
from zsbench.regions import Region, Transect, union_of
from zsbench.registry import Registry, check_params
from zsbench.space import LatentSpace
from zsbench.splits import SPLIT_NAMES
from zsbench.judging import Judging
from zsbench.suite_checker import (
    _check_judging,
    _check_memory,
    _Checker,
    _type_name,
    physical_memory,
)
from zsbench.suite_regions import _region, _transect
from zsbench.tolerances import parse_tolerances

__all__ = [
    "BYTES_PER_PIXEL",
    "LEADERBOARD_KEYS",
    "MODEL_RESERVED",
    "PLAIN_NAME",
    "SECTIONS",
    "SPLIT_KEYS",
    "SUITE_KEYS",
    "TRANSECT_KEYS",
    "ModelSpec",
    "PluginSpec",
    "SplitSpec",
    "Suite",
    "check_seeds",
    "describe_split_problem",
    "file_safe",
    "load_suite",
    "physical_memory",
    "plain_name",
    "split_plan",
    "tomllib",
]


@dataclass
class PluginSpec:
    """A plugin chosen by a suite: its ``plugin`` name, ``params`` and where it was given."""

    plugin: str
    params: dict[str, Any]
    key: str


@dataclass
class ModelSpec(PluginSpec):
    """A model entry: ``label`` names its leaderboard row; ``weighting`` names one of the
    dataset's per-sample weightings."""

    label: str = ""
    weighting: str | None = None


@dataclass
class SplitSpec:
    """``[splits]``: held-out fractions, and the most points of the rim control split
    (None: as many as the hole; 0: no rim)."""

    test_fraction: float = 0.1
    validation_fraction: float = 0.0
    rim_points: int | None = None


@dataclass
class Suite:
    """A validated suite, with the profile applied. ``variants`` holds the suite's
    ``[variants.NAME]`` tables as written (see :mod:`zsbench.variants`): a suite with
    variants runs once per variant, each a suite of its own."""

    path: Path
    text: str
    profile: str | None
    config: dict[str, Any]
    name: str
    description: str
    seeds: list[int]
    data_seed: int
    dataset: PluginSpec
    splits: SplitSpec
    holdout: Region | None
    transects: list[Transect]
    models: list[ModelSpec]
    metrics: list[PluginSpec]
    outputs: list[PluginSpec]
    leaderboard: dict[str, Any] = field(default_factory=dict)
    tolerances: dict[str, Any] = field(default_factory=dict)
    judging: Judging = field(default_factory=Judging)  # [judging]: how every draw is judged
    executor: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    variants_side_by_side: int = 1  # [suite]: variants run at once (zsbench.variants)

    @property
    def config_hash(self) -> str:
        """sha256 of the resolved configuration (profile applied), canonical JSON."""
        return content_key(self.config, length=16, spaced=True)


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    if path.is_dir():
        raise SuiteError(str(path), "", "is a folder, not a suite file.",
                         "give the path of a .toml suite file, e.g. suites/polar_hole.toml.")
    if path.exists() and not path.is_file():
        raise SuiteError(str(path), "", "is not a regular file (a device, pipe or socket).",
                         "give the path of a .toml suite file.")
    if not path.is_file():
        raise SuiteError(str(path), "", "no such suite file.",
                         "check the path; the standard suites are in suites/.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SuiteError(str(path), "", f"cannot be read ({exc.strerror or exc}).",
                         "check the file's permissions.") from None
    if b"\0" in raw:
        raise SuiteError(str(path), "", "is a binary file, not a TOML suite.",
                         "give a text .toml suite file.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SuiteError(str(path), "", f"is not UTF-8 text (byte {exc.start}: "
                         f"{exc.reason}).", "save the suite as UTF-8.") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(str(path), "", f"is not valid TOML: {exc}.",
                         "fix the syntax at the line and column given.") from exc


def load_suite(path: str | Path, *, profile: str | None = None,
               registry: Registry | None = None) -> Suite:
    """Read, resolve and validate a suite file.

    This is the one validation stage: every plugin the suite names (dataset, each model
    variant after profiles and sweeps, metrics, outputs, executor) is built here exactly
    once, so their constructors' range checks run before any training, and everything that
    refers to another part of the suite (factors, splits, score names, labels) is checked
    against it. Every problem is a :class:`SuiteError` naming the file, the key and a fix."""
    path = Path(path)
    registry = registry or Registry()
    check = _Checker(path)
    text, config = _read(path)
    _check_sections(check, config)
    if profile is not None:
        config = _apply_profile(check, config, profile, registry)
    resolved = {k: v for k, v in config.items() if k not in ("profiles", "variants")}
    name, description, seeds, data_seed = _suite_table(check, config, path)
    dataset_spec, dataset, space, image_shape = _dataset(check, registry, config, data_seed)
    splits = _splits(check, config)
    holdout = union_of([_region(check, r, f"holdout[{i}]", space)
                        for i, r in enumerate(config.get("holdout", []))])
    transects = _transects(check, config, dataset, dataset_spec, space, holdout)
    models = _models(check, registry, config, dataset, dataset_spec, image_shape)
    plan = SuitePlan(space=space, splits=split_plan(splits, holdout, dataset.renderable),
                     transects=tuple(t.name for t in transects))
    metrics, outputs, declared, undeclared = _metrics_and_outputs(check, registry, config, plan)
    board = _leaderboard(check, config, declared, undeclared)
    tolerances = config.get("tolerances", {})
    _check_tolerances(check, tolerances, declared, undeclared, [m.plugin for m in metrics])
    return Suite(path=path, text=text, profile=profile, config=resolved, name=name,
                 description=description, seeds=list(seeds), data_seed=data_seed,
                 dataset=dataset_spec, splits=splits, holdout=holdout, transects=transects,
                 models=models, metrics=metrics, outputs=outputs, leaderboard=dict(board),
                 tolerances=dict(tolerances),
                 judging=_check_judging(check, config.get("judging", {}), dataset),
                 executor=_executor_table(check, registry, config.get("executor", {})),
                 variants=copy.deepcopy(config.get("variants", {})),
                 variants_side_by_side=_side_by_side(check, config))


def _check_sections(check: _Checker, config: dict[str, Any]) -> None:
    """Every section is known and of its kind; profile names are plain names."""
    for section, value in config.items():
        if section not in SECTIONS:
            check.keys({section: value}, SECTIONS, "")
        expected = SECTIONS[section]
        if expected == "table" and not isinstance(value, dict):
            raise check.fail(section, f"expected a table [{section}], got {_type_name(value)}.")
        if expected == "array of tables" and not (
                isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            raise check.fail(section, f"expected an array of tables [[{section}]].")
    for section in ("profiles", "variants"):
        for name, table in config.get(section, {}).items():
            if not plain_name(str(name)):
                raise check.fail(f"{section}.{name}", "is not a plain name (it becomes part "
                                 "of the run folder's name).",
                                 "use letters, digits and ._-= only.")
            if not isinstance(table, dict):
                raise check.fail(f"{section}.{name}", f"expected a table of overrides, got "
                                 f"{_type_name(table)}.",
                                 f"write [{section}.{name}] with lines like "
                                 "dataset.image_size = 32.")


def _suite_table(check: _Checker, config: dict[str, Any], path: Path
                 ) -> tuple[str, str, list[Any], int]:
    """``[suite]``: name, description, seeds and data seed."""
    meta = config.get("suite", {})
    check.keys(meta, SUITE_KEYS, "suite")
    name = check.typed(meta, "suite", "name", str)
    if name is None:
        name = file_safe(path.stem) or "suite"
    if not plain_name(name):
        raise check.fail("suite.name", f"{name!r} is not a plain name (it names the run "
                         "folder, so it may not hold /, \\, .. or start with a dot).",
                         "use letters, digits and ._-= only, e.g. name = \"polar_hole\".")
    description = check.typed(meta, "suite", "description", str) or ""
    seeds = check.typed(meta, "suite", "seeds", list)
    seeds = [0] if seeds is None else seeds
    check_seeds(seeds, lambda problem, fix: check.fail("suite.seeds", problem, fix))
    data_seed = check.typed(meta, "suite", "data_seed", int)
    data_seed = 0 if data_seed is None else data_seed
    if not 0 <= data_seed < 2 ** 32:
        raise check.fail("suite.data_seed", f"must be an integer in [0, 2^32), got "
                         f"{data_seed}.", "e.g. data_seed = 0.")
    return name, description, seeds, data_seed


def _side_by_side(check: _Checker, config: dict[str, Any]) -> int:
    """``[suite] variants_side_by_side``: a positive number of variants run at once."""
    side = check.typed(config.get("suite", {}), "suite", "variants_side_by_side", int)
    if side is not None and side < 1:
        raise check.fail("suite.variants_side_by_side", f"must be 1 or more, got {side}.",
                         "e.g. variants_side_by_side = 2 runs two variants at once (1: one "
                         "after another).")
    return side or 1


def _dataset(check: _Checker, registry: Registry, config: dict[str, Any], data_seed: int
             ) -> tuple[PluginSpec, Dataset, LatentSpace, tuple[int, int, int] | None]:
    """``[dataset]``: built once; its latent space, image shape and memory need."""
    if "dataset" not in config:
        raise check.fail("dataset", "is missing.",
                         f'add [dataset] with plugin = "..." (one of: '
                         f'{", ".join(registry.names("dataset"))}).')
    dataset_spec = _plugin_spec(check, registry, "dataset", config["dataset"], "dataset")
    dataset: Dataset = _build(check, registry, "dataset", dataset_spec)
    try:
        space = dataset.space
    except Exception as exc:
        raise _plugin_failure(check, "dataset", "dataset", dataset_spec.plugin, exc) from None
    image_shape = _image_shape(dataset)
    _check_memory(check, dataset, image_shape, data_seed)
    return dataset_spec, dataset, space, image_shape


def _splits(check: _Checker, config: dict[str, Any]) -> SplitSpec:
    """``[splits]``: held-out fractions and the rim cap."""
    splits_cfg = config.get("splits", {})
    check.keys(splits_cfg, SPLIT_KEYS, "splits")
    splits = SplitSpec()
    rim = check.typed(splits_cfg, "splits", "rim_points", int)
    if rim is not None:
        if rim < 0:
            raise check.fail("splits.rim_points", f"{rim!r} is negative.",
                             "give 0 (no rim split) or a positive cap.")
        splits.rim_points = int(rim)
    for k in ("test_fraction", "validation_fraction"):
        v = check.typed(splits_cfg, "splits", k, float)
        if v is not None:
            if not 0 <= v < 1:
                raise check.fail(f"splits.{k}", f"{v!r} is not a fraction in [0, 1).")
            setattr(splits, k, float(v))
    if splits.test_fraction + splits.validation_fraction >= 0.9:
        raise check.fail("splits", "test_fraction + validation_fraction leave under 10 % of "
                         "the data for training.", "lower them.")
    return splits


def _transects(check: _Checker, config: dict[str, Any], dataset: Dataset,
               dataset_spec: PluginSpec, space: LatentSpace, holdout: Region | None
               ) -> list[Transect]:
    """``[[transect]]``: each parsed; only for a renderable dataset; unique names."""
    transects = []
    for i, t in enumerate(config.get("transect", [])):
        transects.append(_transect(check, t, f"transect[{i}]", space, holdout))
    if transects and not dataset.renderable:
        raise check.fail("transect", f'dataset "{dataset_spec.plugin}" cannot render arbitrary '
                         "points, so it has no transects.", "remove the [[transect]] tables.")
    names = [t.name for t in transects]
    if len(set(names)) != len(names):
        raise check.fail("transect", f"two transects share a name: {names}.",
                         "give each a unique name.")
    return transects


def _models(check: _Checker, registry: Registry, config: dict[str, Any], dataset: Dataset,
            dataset_spec: PluginSpec, image_shape: tuple[int, int, int] | None
            ) -> list[ModelSpec]:
    """``[[model]]``: every variant of every entry (after sweeps) built once."""
    if not config.get("model"):
        raise check.fail("model", "no model given.", 'add [[model]] with plugin = "...".')
    models: list[ModelSpec] = []
    weightings = dataset.weightings()
    for i, entry in enumerate(config["model"]):
        key = f"model[{i}]"
        plugin = check.typed(entry, key, "plugin", str, required=True)
        cls = _lookup(check, registry, "model", plugin, f"{key}.plugin")
        label = check.typed(entry, key, "label", str)
        label = plugin if label is None else label
        if not label.strip():
            raise check.fail(f"{key}.label", "is empty.", 'give a label such as "mymodel-small".')
        weighting = check.typed(entry, key, "weighting", str)
        if weighting is not None and weighting not in weightings:
            hint = did_you_mean_hint(weighting, weightings)
            raise check.fail(f"{key}.weighting",
                             f'dataset "{dataset_spec.plugin}" has no weighting "{weighting}".',
                             f"{hint}available: {', '.join(sorted(weightings)) or 'none'}.")
        params = {k: v for k, v in entry.items() if k not in MODEL_RESERVED}
        variants = _sweep(check, key, cls, params)
        for p in variants:
            _check_params(check, "model", plugin, cls, p, key)
            suffix = ""
            if len(variants) > 1:
                suffix = "[" + ",".join(f"{k}={p[k]}" for k in p if p[k] != params[k] or
                                        isinstance(params[k], list)) + "]"
            spec = ModelSpec(plugin=plugin, params=p, key=key, label=label + suffix,
                             weighting=weighting)
            model = _build(check, registry, "model", spec, label=spec.label)
            if image_shape is not None:
                try:
                    model.check_image_shape(image_shape)
                except Exception as exc:
                    raise _plugin_failure(check, key, "model", plugin, exc,
                                          label=spec.label) from None
            models.append(spec)
    _check_labels(check, [m.label for m in models])
    return models


def _metrics_and_outputs(check: _Checker, registry: Registry, config: dict[str, Any],
                         plan: SuitePlan
                         ) -> tuple[list[PluginSpec], list[PluginSpec], list[str], list[str]]:
    """``[[metric]]`` and ``[[output]]``: each built once; the score names (patterns) the
    metrics declare, and the metric plugins that declare none."""
    metrics = [_plugin_spec(check, registry, "metric", m, f"metric[{i}]")
               for i, m in enumerate(config.get("metric", []))]
    if not metrics:
        raise check.fail("metric", "no metric given.",
                         f'add [[metric]] with plugin = "..." (one of: '
                         f'{", ".join(registry.names("metric"))}).')
    outputs = [_plugin_spec(check, registry, "output", m, f"output[{i}]")
               for i, m in enumerate(config.get("output", []))]
    declared: list[str] = []  # score names (patterns) the metrics declare
    undeclared: list[str] = []  # metric plugins that do not declare theirs
    for spec in [*metrics, *outputs]:
        kind = "metric" if spec in metrics else "output"
        obj = _build(check, registry, kind, spec)
        _check_names(check, spec, obj, plan)
        if isinstance(obj, Metric):
            try:
                names = obj.score_names(plan)
            except Exception as exc:
                raise _plugin_failure(check, spec.key, kind, spec.plugin, exc) from None
            if names is None:
                undeclared.append(spec.plugin)
            else:
                declared += [str(n) for n in names]
    return metrics, outputs, declared, undeclared


def _leaderboard(check: _Checker, config: dict[str, Any], declared: list[str],
                 undeclared: list[str]) -> dict[str, Any]:
    """``[leaderboard]``: columns and sort name scores the metrics produce."""
    board = config.get("leaderboard", {})
    check.keys(board, LEADERBOARD_KEYS, "leaderboard")
    columns = check.typed(board, "leaderboard", "columns", list)
    if columns is not None:
        if not columns or not all(isinstance(c, str) and c for c in columns):
            raise check.fail("leaderboard.columns", "expected a non-empty array of score names.",
                             'e.g. columns = ["hole_bce", "test_bce"].')
        for j, c in enumerate(columns):
            _check_score(check, f"leaderboard.columns[{j}]", c, declared, undeclared)
        if len(set(columns)) != len(columns):
            raise check.fail("leaderboard.columns", "names a score twice.", "list each once.")
    sort = check.typed(board, "leaderboard", "sort", str)
    if sort is not None:
        if columns is not None and sort not in columns:
            raise check.fail("leaderboard.sort", f'"{sort}" is not one of the columns.',
                             f"sort by one of: {', '.join(columns)}.")
        _check_score(check, "leaderboard.sort", sort, declared, undeclared)
    return board


def check_seeds(seeds: Any, fail: typing.Callable[[str, str], Exception]) -> None:
    """Seeds must be distinct integers in [0, 2^32); ``fail(problem, fix)`` builds the
    error to raise."""
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise fail(f"expected a non-empty array of integers, got {seeds!r}.",
                   "e.g. seeds = [0, 1, 2].")
    bad = [s for s in seeds if not 0 <= s < 2 ** 32]
    if bad:
        raise fail(f"seed {bad[0]} is out of range.", "use integers in [0, 2^32).")
    if len(set(seeds)) != len(seeds):
        raise fail(f"repeats a seed: {seeds}.", "list each seed once.")


def split_plan(splits: SplitSpec, holdout: Region | None, renderable: bool = True
               ) -> tuple[str, ...]:
    """The names of the splits a run of a suite has (see :mod:`zsbench.splits`)."""
    names = ["train", "test"]
    if splits.validation_fraction > 0:
        names.insert(1, "validation")
    if holdout is not None:
        names.append("hole")
        if renderable and splits.rim_points != 0:
            names.append("rim")
    return tuple(n for n in SPLIT_NAMES if n in names)


def _image_shape(dataset: Dataset) -> tuple[int, int, int] | None:
    try:
        shape = tuple(int(v) for v in dataset.image_shape)
    except Exception:  # a dataset that cannot say before loading
        return None
    return shape if len(shape) == 3 else None  # type: ignore[return-value]


def _plugin_failure(check: _Checker, key: str, kind: str, plugin: str, exc: Exception,
                    label: str | None = None) -> SuiteError:
    """The error to raise when a plugin's constructor (or a check of it) fails."""
    who = f'{kind} plugin "{plugin}"' + (f' (label "{label}")' if label else "")
    if isinstance(exc, PluginParameterError):
        return check.fail(f"{key}.{exc.key}", f"{who}: {exc.problem}", exc.fix)
    if isinstance(exc, ZsbenchError):
        return check.fail(key, f"{who}: {exc}")
    return check.fail(key, f"{who} rejects its parameters: {type(exc).__name__}: {exc}.",
                      "change the parameter values this message names.")


def _build(check: _Checker, registry: Registry, kind: str, spec: PluginSpec,
           label: str | None = None) -> Any:
    """Instantiate a plugin once, turning its constructor's complaints into a SuiteError."""
    try:
        return registry.get(kind, spec.plugin).cls(**spec.params)
    except Exception as exc:
        raise _plugin_failure(check, spec.key, kind, spec.plugin, exc, label) from None


def _check_labels(check: _Checker, labels: list[str]) -> None:
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise check.fail("model", f"two models share the label {dupes[0]!r}.",
                         'give each [[model]] a unique label = "...".')
    seen: dict[str, str] = {}
    for label in labels:
        if any(ord(c) < 32 or ord(c) == 127 for c in label):
            raise check.fail("model", f"the label {label!r} holds a control character (a "
                             "line break, a tab), which breaks the leaderboard's rows.",
                             "write the label on one line, without tabs.")
        safe = file_safe(label).lower()
        if safe in seen:
            raise check.fail("model", f"the labels {seen[safe]!r} and {label!r} map to the same "
                             f"file name ({file_safe(label)!r}), so their checkpoints and "
                             "pictures would overwrite each other.",
                             "make the labels differ in letters or digits.")
        seen[safe] = label


def _check_names(check: _Checker, spec: PluginSpec, obj: Any, plan: SuitePlan) -> None:
    """Parameters that a metric or output declares as naming factors or splits."""
    kind = "metric" if spec.key.startswith("metric") else "output"
    for param, known, what in (
            (getattr(obj, "factor_parameters", ()), plan.space.names, "factor"),
            (getattr(obj, "split_parameters", ()), tuple(dict.fromkeys(
                [*plan.splits, *SPLIT_NAMES])), "split")):
        for p in param:
            value = spec.params.get(p)
            if value is None:
                continue
            given = list(value) if isinstance(value, (list, tuple, dict)) else [value]
            for v in given:
                if str(v) not in known:
                    hint = did_you_mean_hint(str(v), known)
                    raise check.fail(f"{spec.key}.{p}", f'{kind} plugin "{spec.plugin}": '
                                     f'"{v}" is not a {what} of this suite.',
                                     f"{hint}{what}s: {', '.join(known)}.")


def _check_score(check: _Checker, key: str, name: str, declared: list[str],
                 undeclared: list[str]) -> None:
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in declared):
        return
    if undeclared:  # a metric that does not list its scores might produce it
        return
    plain = [d for d in declared if not any(c in d for c in "*?[")]
    hint = did_you_mean_hint(name, plain)
    raise check.fail(key, f'no metric of this suite produces a score "{name}".',
                     f"{hint}scores: {', '.join(declared) or 'none'}.")


def _check_tolerances(check: _Checker, table: Any, declared: list[str], undeclared: list[str],
                      metric_names: list[str]) -> None:
    if not isinstance(table, dict):
        raise check.fail("tolerances", f"expected a table, got {_type_name(table)}.")
    try:
        parse_tolerances(table)
    except ZsbenchError as exc:
        raise check.fail("tolerances", str(exc).replace("[tolerances]: ", "").replace(
            "[tolerances].", "tolerances."),
            "write entries like default = { relative = 0.1, absolute = 1e-3 }.") from None
    for key in table:
        if key == "default" or key in metric_names:
            continue
        _check_score(check, f"tolerances.{key}", key, declared, undeclared)


def _executor_table(check: _Checker, registry: Registry, table: dict[str, Any]
                    ) -> dict[str, Any]:
    """``[executor]``: plugin (default "pool") and its parameters, validated."""
    if not table:
        return {}
    spec = _plugin_spec(check, registry, "executor", {"plugin": "pool", **table}, "executor")
    return {"plugin": spec.plugin, **spec.params}


def _lookup(check: _Checker, registry: Registry, kind: str, plugin: str, key: str) -> type:
    try:
        return registry.get(kind, plugin).cls
    except ZsbenchError as exc:
        raise check.fail(key, str(exc)) from exc


def _check_params(check: _Checker, kind: str, plugin: str, cls: type, params: dict[str, Any],
                  key: str) -> None:
    try:
        check_params(kind, plugin, cls, params)
    except PluginParameterError as exc:
        raise check.fail(f"{key}.{exc.key}", f'{kind} plugin "{plugin}": {exc.problem}',
                         exc.fix) from exc


def _plugin_spec(check: _Checker, registry: Registry, kind: str, entry: dict[str, Any],
                 key: str) -> PluginSpec:
    plugin = check.typed(entry, key, "plugin", str, required=True)
    cls = _lookup(check, registry, kind, plugin, f"{key}.plugin")
    params = {k: v for k, v in entry.items() if k != "plugin"}
    _check_params(check, kind, plugin, cls, params, key)
    return PluginSpec(plugin=plugin, params=params, key=key)


def describe_split_problem(suite: Suite, n_total: int, n_hole: int, n_train: int) -> None:
    """Raise a SuiteError when the holdout empties the hole or leaves no training data."""
    check = _Checker(suite.path)
    if suite.holdout is not None and n_hole == 0:
        raise check.fail("holdout", f"the holdout contains none of the {n_total} data points, "
                         "so there is nothing to test inside the hole.",
                         "enlarge the region, move it inside the data, or add samples.")
    if n_train < 2:
        raise check.fail("holdout", f"the holdout and the test split leave {n_train} of "
                         f"{n_total} points for training.",
                         "shrink the region or lower splits.test_fraction.")
