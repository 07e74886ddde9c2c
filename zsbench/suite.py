"""Suites: TOML files that say which dataset, holdouts, transects, models, metrics and
outputs a run uses. ``load_suite`` reads, applies a profile and validates everything it can
before any training starts; every problem is a :class:`SuiteError` naming the file, the key
and what was expected.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import itertools
import json
import math
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


from zsbench.errors import DataError, PluginParameterError, SuiteError, ZsbenchError, did_you_mean
from zsbench.plugin import Dataset, Metric, SuitePlan
from zsbench.regions import REGION_SHAPES, Region, Transect, region_from_config, union_of
from zsbench.registry import Registry, check_params, value_fits
from zsbench.space import LatentSpace
from zsbench.splits import SPLIT_NAMES

SECTIONS: dict[str, str] = {
    "suite": "table",
    "dataset": "table",
    "splits": "table",
    "holdout": "array of tables",
    "transect": "array of tables",
    "model": "array of tables",
    "metric": "array of tables",
    "output": "array of tables",
    "leaderboard": "table",
    "tolerances": "table",
    "executor": "table",
    "profiles": "table",
}
SUITE_KEYS = {"name": str, "description": str, "seeds": list, "data_seed": int}
SPLIT_KEYS = {"test_fraction": float, "validation_fraction": float, "rim_points": int}
LEADERBOARD_KEYS = {"columns": list, "sort": str}
TRANSECT_KEYS = {"name", "start", "end", "through", "direction", "points", "fixed"}
MODEL_RESERVED = {"plugin", "label", "weighting"}
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+-]{0,99}")
"""A suite or profile name: letters, digits and ``._=+-``, no path separators, not ``..``."""
BYTES_PER_PIXEL = 5  # uint8 images plus their float32 copies in the splits


def plain_name(name: str) -> bool:
    """Whether ``name`` can be a file name as is (no ``/``, ``\\``, ``..`` or leading dot)."""
    return bool(PLAIN_NAME.fullmatch(name)) and ".." not in name


def file_safe(label: str) -> str:
    """A model label as a file name: characters other than letters, digits and ``-_.=``
    become ``_``."""
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in label)


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
    """A validated suite, with the profile applied."""

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
    executor: dict[str, Any] = field(default_factory=dict)

    @property
    def config_hash(self) -> str:
        """sha256 of the resolved configuration (profile applied), canonical JSON."""
        blob = json.dumps(self.config, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# ---------------------------------------------------------------------------------------
def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


class _Checker:
    """Validation helpers that know the file being read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str, fix: str | None = None) -> SuiteError:
        return SuiteError(str(self.path), key, problem, fix)

    def keys(self, table: Mapping[str, Any], allowed: typing.Iterable[str], key: str) -> None:
        allowed = list(allowed)
        for k in table:
            if k not in allowed:
                guess = did_you_mean(k, allowed)
                hint = f'did you mean "{guess}"? ' if guess else ""
                raise self.fail(f"{key}.{k}" if key else k, "unknown key.",
                                f"{hint}allowed keys here: {', '.join(allowed)}.")

    def typed(self, table: Mapping[str, Any], key: str, name: str, kind: type,
              required: bool = False) -> Any:
        if name not in table:
            if required:
                raise self.fail(f"{key}.{name}", "is missing.",
                                f"add {name} = ... ({_type_name(kind())}).")
            return None
        value = table[name]
        ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise self.fail(f"{key}.{name}", f"expected {_type_name(kind())}, got "
                            f"{_type_name(value)} ({value!r}).")
        return value

    def point(self, value: Any, key: str, space: LatentSpace, *, partial: bool = True,
              inside: bool = True) -> dict[str, float]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table of factor values like "
                            f"{{ {space.names[0]} = ... }}, got {_type_name(value)}.")
        for name, v in value.items():
            if name not in space.names:
                guess = did_you_mean(name, space.names)
                hint = f'did you mean "{guess}"? ' if guess else ""
                raise self.fail(f"{key}.{name}", f'"{name}" is not a factor of this dataset.',
                                f"{hint}factors: {', '.join(space.names)}.")
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise self.fail(f"{key}.{name}", f"expected a number, got {_type_name(v)}.")
            if not math.isfinite(v):
                raise self.fail(f"{key}.{name}", f"expected a finite number, got {v!r}.")
            if inside:
                lo, hi = space[name].bounds
                if not lo - 1e-9 <= v <= hi + 1e-9:
                    raise self.fail(f"{key}.{name}",
                                    f"{v:g} lies outside the latent space ({name} in "
                                    f"[{lo:g}, {hi:g}]).", "choose a value inside the bounds.")
        if not partial:
            missing = [n for n in space.names if n not in value]
            if missing:
                raise self.fail(key, f"misses factor(s) {', '.join(missing)}.",
                                "name every factor, or give the rest in `fixed = {...}`.")
        return {k: float(v) for k, v in value.items()}


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


def _apply_profile(check: _Checker, config: dict[str, Any], profile: str,
                   registry: Registry) -> dict[str, Any]:
    """Overlay ``[profiles.NAME]`` on the config. In an array section (``model``,
    ``metric``, ...) ``section.LABEL.KEY`` targets one entry (by label, name or plugin) and
    ``section.KEY`` sets KEY on every entry whose plugin accepts it."""
    profiles = config.get("profiles", {})
    if profile not in profiles:
        listed = ", ".join(sorted(profiles)) or "none"
        guess = did_you_mean(profile, profiles)
        hint = f'did you mean "{guess}"? ' if guess else ""
        raise check.fail(f"profiles.{profile}", f'no profile "{profile}" in this suite.',
                         f"{hint}profiles defined: {listed}.")
    if not isinstance(profiles[profile], dict):
        raise check.fail(f"profiles.{profile}", f"expected a table of overrides, got "
                         f"{_type_name(profiles[profile])}.",
                         f"write [profiles.{profile}] with lines like model.epochs = 2.")
    config = copy.deepcopy(config)
    for section, values in profiles[profile].items():
        key = f"profiles.{profile}.{section}"
        check.keys({section: 0}, [s for s in SECTIONS if s != "profiles"], f"profiles.{profile}")
        if not isinstance(values, dict):
            raise check.fail(key, f"expected overrides like {section}.KEY = VALUE.")
        if SECTIONS[section] == "table":
            config.setdefault(section, {}).update(values)
            continue
        entries = config.get(section, [])
        by_label = {str(e.get("label", e.get("name", e.get("plugin")))): e for e in entries}
        for k, v in values.items():
            if k in by_label and isinstance(v, dict):
                by_label[k].update(v)
                continue
            takers = [e for e in entries if _accepts_key(registry, section, e, k)]
            if not takers:
                raise check.fail(f"{key}.{k}", f'no [[{section}]] entry is labelled "{k}" or '
                                 f'accepts the key "{k}".',
                                 f"labels: {', '.join(by_label) or 'none'}.")
            for e in takers:
                e[k] = copy.deepcopy(v)
    return config


def _accepts_key(registry: Registry, section: str, entry: dict[str, Any], key: str) -> bool:
    if section == "transect":
        return key in TRANSECT_KEYS
    if section == "holdout":
        return key in REGION_SHAPES.get(entry.get("shape", ""), (None, {}))[1]
    if key in MODEL_RESERVED - {"plugin"}:
        return True
    try:
        return key in registry.get(section, str(entry.get("plugin"))).cls.parameters()
    except ZsbenchError:
        return False


def _sweep(check: _Checker, spec_key: str, cls: type, params: dict[str, Any]
           ) -> list[dict[str, Any]]:
    """Expand list values of parameters that do not take lists into a grid of variants."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:
        hints = {}
    swept = {}
    for k, v in params.items():
        if isinstance(v, list) and k in hints:
            if not value_fits(v, hints[k]):
                if not v:
                    raise check.fail(f"{spec_key}.{k}", "an empty sweep list.",
                                     "give at least one value.")
                swept[k] = v
    if not swept:
        return [params]
    variants = []
    for combo in itertools.product(*swept.values()):
        p = dict(params)
        p.update(dict(zip(swept, combo)))
        variants.append(p)
    return variants


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
    for section, value in config.items():
        if section not in SECTIONS:
            check.keys({section: value}, SECTIONS, "")
        expected = SECTIONS[section]
        if expected == "table" and not isinstance(value, dict):
            raise check.fail(section, f"expected a table [{section}], got {_type_name(value)}.")
        if expected == "array of tables" and not (
                isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            raise check.fail(section, f"expected an array of tables [[{section}]].")
    for name in config.get("profiles", {}):
        if not plain_name(str(name)):
            raise check.fail(f"profiles.{name}", "is not a plain name (it becomes part of the "
                             "run folder's name).", "use letters, digits and ._-= only.")
    if profile is not None:
        config = _apply_profile(check, config, profile, registry)
    resolved = {k: v for k, v in config.items() if k != "profiles"}

    # [suite]
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

    # [dataset]
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

    # [splits]
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

    # [[holdout]]
    regions = [_region(check, r, f"holdout[{i}]", space)
               for i, r in enumerate(config.get("holdout", []))]
    holdout = union_of(regions)

    # [[transect]]
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

    # [[model]]
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
            guess = did_you_mean(weighting, weightings)
            hint = f'did you mean "{guess}"? ' if guess else ""
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

    plan = SuitePlan(space=space, splits=split_plan(splits, holdout, dataset.renderable),
                     transects=tuple(t.name for t in transects))
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
    metric_names = [m.plugin for m in metrics]

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

    tolerances = config.get("tolerances", {})
    _check_tolerances(check, tolerances, declared, undeclared, metric_names)

    suite = Suite(path=path, text=text, profile=profile, config=resolved, name=name,
                  description=description, seeds=list(seeds), data_seed=data_seed,
                  dataset=dataset_spec, splits=splits, holdout=holdout, transects=transects,
                  models=models, metrics=metrics, outputs=outputs, leaderboard=dict(board),
                  tolerances=dict(tolerances),
                  executor=_executor_table(check, registry, config.get("executor", {})))
    return suite


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
                    guess = did_you_mean(str(v), known)
                    hint = f'did you mean "{guess}"? ' if guess else ""
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
    guess = did_you_mean(name, plain)
    hint = f'did you mean "{guess}"? ' if guess else ""
    raise check.fail(key, f'no metric of this suite produces a score "{name}".',
                     f"{hint}scores: {', '.join(declared) or 'none'}.")


def _check_tolerances(check: _Checker, table: Any, declared: list[str], undeclared: list[str],
                      metric_names: list[str]) -> None:
    from zsbench.compare import parse_tolerances

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


def _check_memory(check: _Checker, dataset: Dataset, image_shape: tuple[int, int, int] | None,
                  data_seed: int) -> None:
    """Refuse a dataset whose images would not fit in this machine's memory."""
    if image_shape is None:
        return
    n = getattr(dataset, "n_samples", None)
    if not isinstance(n, int) or isinstance(n, bool):
        if not dataset.renderable:
            return
        try:
            n = len(dataset.factors(seed=data_seed))
        except Exception:
            return
    need = n * math.prod(image_shape) * BYTES_PER_PIXEL
    have = physical_memory()
    if have and need > have:
        raise check.fail("dataset", f"{n} images of {'x'.join(map(str, image_shape))} pixels "
                         f"need about {need / 2**30:,.1f} GiB, more than this machine's "
                         f"{have / 2**30:,.1f} GiB of memory.",
                         "lower n_samples or image_size.")


def physical_memory() -> int | None:
    """Bytes of physical memory, or None when the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


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


def _region(check: _Checker, cfg: Any, key: str, space: LatentSpace) -> Region:
    if not isinstance(cfg, dict):
        raise check.fail(key, f"expected a table with shape = ..., got {_type_name(cfg)}.")
    shape = check.typed(cfg, key, "shape", str, required=True)
    if shape not in REGION_SHAPES:
        guess = did_you_mean(shape, REGION_SHAPES)
        hint = f'did you mean "{guess}"? ' if guess else ""
        raise check.fail(f"{key}.shape", f'unknown shape "{shape}".',
                         f"{hint}shapes: {', '.join(REGION_SHAPES)}.")
    _, fields = REGION_SHAPES[shape]
    check.keys(cfg, ["shape", *fields], key)
    for fname, ftype in fields.items():
        optional = ftype.endswith("?")
        ftype = ftype.rstrip("?")
        fkey = f"{key}.{fname}"
        if fname not in cfg:
            if optional:
                continue
            raise check.fail(fkey, "is missing.", f"a {shape} needs: "
                             f"{', '.join(f for f, t in fields.items() if not t.endswith('?'))}.")
        value = cfg[fname]
        if ftype == "number":
            v = check.typed(cfg, key, fname, float)
            if not math.isfinite(v):
                raise check.fail(fkey, f"expected a finite number, got {v!r}.")
            if fname in ("radius", "outer") and v <= 0:
                raise check.fail(fkey, f"must be positive, got {v!r}.")
            if fname == "inner" and v < 0:
                raise check.fail(fkey, f"must be 0 or more (a distance from the centre), got "
                                 f"{v!r}.", "use inner = 0 for a full disk, or a ball.")
        elif ftype == "table":
            inside = fname in ("center", "low", "high")
            check.point(value, fkey, space, inside=inside)
            if not value:
                raise check.fail(fkey, "is empty.", f"name at least one factor: "
                                 f"{', '.join(space.names)}.")
            if fname == "scale" and any(v <= 0 for v in value.values()):
                raise check.fail(fkey, "scales must be positive.")
            if fname == "normal" and not any(v != 0 for v in value.values()):
                raise check.fail(fkey, "is the zero vector, so it defines no half-space.",
                                 "give at least one non-zero component.")
        elif ftype == "regions":
            if not isinstance(value, list) or not value:
                raise check.fail(fkey, "expected a non-empty array of region tables.")
        elif ftype == "region":
            if not isinstance(value, dict):
                raise check.fail(fkey, "expected a region table.")
    if shape == "annulus" and cfg["inner"] >= cfg["outer"]:
        raise check.fail(f"{key}.inner", "inner must be smaller than outer.")
    if shape == "box":
        if set(cfg["low"]) != set(cfg["high"]):
            raise check.fail(key, "low and high must name the same factors.")
        for k in cfg["low"]:
            lo, hi = cfg["low"][k], cfg["high"][k]
            values = space[k].values
            if lo == hi and values is not None and float(lo) in values:
                continue  # one value of a discrete factor
            if lo >= hi:
                raise check.fail(f"{key}.low.{k}", "low must be below high.",
                                 "low = high is allowed for a discrete factor only, to select "
                                 "one of its values." if lo == hi else None)

    def build(sub: Any, index: int | None) -> Region:
        return _region(check, sub, f"{key}.regions[{index}]" if index is not None
                       else f"{key}.region", space)

    return region_from_config(cfg, build)


def _transect(check: _Checker, cfg: dict[str, Any], key: str, space: LatentSpace,
              holdout: Region | None) -> Transect:
    check.keys(cfg, TRANSECT_KEYS, key)
    name = check.typed(cfg, key, "name", str, required=True)
    points = check.typed(cfg, key, "points", int)
    points = 15 if points is None else points
    if points < 2:
        raise check.fail(f"{key}.points", f"needs at least 2 points, got {points}.")
    fixed = check.point(cfg.get("fixed", {}), f"{key}.fixed", space)
    if "through" in cfg or "direction" in cfg:
        through = cfg.get("through")
        direction = cfg.get("direction")
        if direction is None:
            raise check.fail(f"{key}.direction", "is missing.",
                             "with `through`, give direction = { factor = ... }.")
        d = check.point(direction, f"{key}.direction", space, inside=False)
        if through == "hole" or through is None:
            anchor = holdout.anchor() if holdout is not None else None
            if anchor is None:
                raise check.fail(f"{key}.through", "there is no holdout centre to pass through.",
                                 "give through = { factor = ... } explicitly.")
            centre = anchor
        else:
            centre = check.point(through, f"{key}.through", space)
        c = space.point(centre, fill=fixed)
        try:
            return Transect.through(name, space, c, space.point(d, fill={n: 0.0 for n in space.names}),
                                    points)
        except DataError as exc:
            raise check.fail(key, str(exc)) from exc
    for end in ("start", "end"):
        if end not in cfg:
            raise check.fail(f"{key}.{end}", "is missing.",
                             "give start and end points, or through + direction.")
    start = check.point({**fixed, **cfg["start"]}, f"{key}.start", space, partial=False)
    end_ = check.point({**fixed, **cfg["end"]}, f"{key}.end", space, partial=False)
    t = Transect.between(name, space.point(start), space.point(end_), points)
    inside = space.contains(t.points)
    if not inside.all():
        raise check.fail(key, "the transect leaves the latent space.",
                         f"keep it within {space.describe()}.")
    return t


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
